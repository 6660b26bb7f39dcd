"""The annotator's classes and labels in and out: add, rename, recolour, delete; import, export."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from brushlab.errors import BrushlabError

__all__ = ["LabelActions"]


class LabelActions:
    """Methods of :class:`Annotator` (a mixin: the state lives there)."""

    if TYPE_CHECKING:  # the state and helpers Annotator provides

        def __getattr__(self, name: str) -> Any: ...

    def add_class(self, name: str | None = None, colour: Any = None) -> int | None:
        """Add a class (a free name and colour by default); it becomes the brush class."""
        try:
            cid = self.session.add_class(name, colour)
        except BrushlabError as exc:
            self._error(str(exc))
            return None
        self.view.class_id = cid
        self._classes_changed()
        return cid

    def rename_class(self, name: str) -> None:
        """Rename the selected class."""
        try:
            self.session.rename_class(self.view.class_id, name)
        except BrushlabError as exc:
            self._error(str(exc))
            return
        self._classes_changed()

    def recolour_class(self, colour: Any) -> None:
        """Give the selected class another colour."""
        self._recolour(colour)

    def delete_class(self) -> None:
        """Delete the selected class and its labels (not while it is the last one)."""
        try:
            self.session.remove_class(self.view.class_id)
        except BrushlabError as exc:
            self._error(str(exc))
            return
        self.view.class_id = 1
        self.view.overlay_class = 1
        self._classes_changed()
        self._draw(self.view.labels_changed())

    def import_labels(self, labels: Any, class_id: Any = None, *, overwrite: bool = True) -> None:
        """Import a mask as the selected (or given) class, or a label image when ``class_id=0``.

        Parameters
        ----------
        labels : array-like or path
            Shaped like the image shown (or its plane for 3D/time images).
        class_id : int or str, optional
            Class of the mask's nonzero pixels; default the brush class; 0 means
            the values are class ids.
        overwrite : bool, default True
            Replace existing labels too.
        """
        cid = self.view.class_id if class_id is None else class_id
        if not isinstance(labels, (str, os.PathLike)):
            labels = np.asarray(labels)
        # A 2D array on a 3D or time-lapse image goes into the plane shown.
        plane = self.view.plane_key if getattr(labels, "ndim", 0) == 2 else ()
        try:
            self.session.import_labels(self.view.image, labels, None if cid == 0 else cid,
                                       plane=plane or None, overwrite=overwrite)
        except BrushlabError as exc:
            self._error(str(exc))
            return
        self._draw(self.view.labels_changed())
        self._update_counts()

    def segmentation_to_labels(self) -> None:
        """Fill unlabelled pixels of the view with the current segmentation (one undo step)."""
        try:
            self.session.segmentation_to_labels(
                self.view.image, self.view.viewport.visible_region(),
                plane=self.view.plane_key or None, classifier=self.classifier)
        except BrushlabError as exc:
            self._error(str(exc))
            return
        self._draw(self.view.labels_changed())
        self._update_counts()

    def export_labels(self, path: str | os.PathLike[str]) -> None:
        """Write the labels of the image shown (TIFF, PNG, NPY, HDF5 or Zarr by extension)."""
        try:
            written = self.session.export_labels(self.view.image, path)
        except (BrushlabError, OSError) as exc:
            self._error(str(exc))
            return
        self._info(f"labels written to {written}")

    def _recolour(self, colour: Any) -> None:
        try:
            self.session.recolour_class(self.view.class_id, colour)
        except BrushlabError as exc:
            self._error(str(exc))
            return
        self._classes_changed()

    def _import_upload(self, files: Any) -> None:
        if not files:
            return
        import io

        from brushlab.io import imread

        item = files[0]
        name = str(item["name"])
        data = bytes(item["content"])
        suffix = os.path.splitext(name)[1].lower()
        try:
            if suffix == ".npy":
                arr = np.load(io.BytesIO(data), allow_pickle=False)
            else:
                import tempfile

                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, os.path.basename(name))
                    with open(path, "wb") as fh:
                        fh.write(data)
                    arr = np.asarray(imread(path).values)
        except (BrushlabError, OSError, ValueError) as exc:
            self._error(f"cannot read {name}: {exc}")
            return
        if arr.ndim == 3 and arr.shape[-1] in (3, 4):
            arr = arr[..., 0]
        self.import_labels(arr, 0 if self.upload_as_ids.value else None)
        self._info(f"imported {name}")
