"""The one home of the label verbs: labels and masks in and out, segmentations into labels.

:class:`LabelVerbs` gives :class:`~brushlab.session.Session` its ``import_labels``,
``import_masks``, ``export_labels``, ``export_masks`` and ``segmentation_to_labels``;
:mod:`brushlab.project`'s functions of the same names and the widget's buttons call them.
Files whose dims only the image knows (a 4D ``.npy``), RGB(A) masks, one mask per class
in one call, a volume into one time point, one plane to PNG and the segmentation of every
plane of a 3D or time-lapse image are handled here.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from brushlab.errors import BrushlabError, LabelError
from brushlab.session._classes import MAX_CLASSES
from brushlab.session._labels_io import as_label_array, labels_edit, write_labels

if TYPE_CHECKING:
    from brushlab.session._history import Edit
    from brushlab.session._labelling import LabelEditor

    _Base = LabelEditor
else:
    _Base = object

__all__ = ["LabelVerbs"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class LabelVerbs(_Base):
    """Label import and export methods of a :class:`~brushlab.session.Session`."""

    def read_labels(
        self,
        image: int | str,
        source: Any,
        *,
        mask: bool = False,
        plane: Any = None,
        time: int | None = None,
    ) -> np.ndarray:
        """Read labels or a mask from a file or array, shaped for ``image`` (or a part of it).

        Parameters
        ----------
        image : int or str
            The image the labels belong to.
        source : path, array-like or DataArray
            A file ``brushlab.imread`` reads, or an array. A file whose dims cannot be
            inferred is read with the dims of the image's labels.
        mask : bool, default False
            A binary mask: an RGB(A) image counts a pixel whose colour is not black.
            Otherwise colour images are accepted only when their channels are equal.
        plane : optional
            The labels fill one plane (z and/or t) of ``image``.
        time : int, optional
            The labels fill one time point (a whole volume) of a time-lapse image.

        Returns
        -------
        numpy.ndarray
            Integer or boolean array shaped like the target.

        Raises
        ------
        LabelError
            If the source cannot be read or does not fit.
        """
        index = self.image_index(image)
        target = self.labels(index)
        dims = tuple(str(d) for d in self.images[index].dims if d != "c")
        if time is not None:
            target, dims = target[0], dims[1:]
        elif plane is not None:
            target, dims = target[(0,) * (target.ndim - 2)], dims[-2:]
        arr = _read(source, dims)
        if arr.ndim == target.ndim + 1 and arr.shape[:-1] == target.shape and arr.shape[-1] in (
            3,
            4,
        ):
            colour = arr[..., :3]
            if mask:
                arr = np.asarray(colour.any(axis=-1))
            elif (colour == colour[..., :1]).all():
                arr = colour[..., 0]
            else:
                raise LabelError(
                    "the label image is in colour (RGB) with different channels: class ids "
                    "must be one grey value per pixel; pass a class for a binary mask"
                )
        if arr.shape != target.shape:
            part = "time point" if time is not None else "plane" if plane is not None else "labels"
            raise LabelError(
                f"labels of shape {arr.shape} do not fit image {self.image_names[index]!r}, "
                f"whose {part} are {target.shape} (dims {dims})"
            )
        return arr != 0 if mask else arr

    def import_labels(
        self,
        image: int | str,
        labels: Any,
        class_id: int | str | None = None,
        *,
        plane: Any = None,
        time: int | None = None,
        overwrite: bool = True,
    ) -> Edit | None:
        """Import a binary mask as one class, or a label image as its class ids (one undo step).

        Parameters
        ----------
        image : int or str
            Target image.
        labels : array-like, DataArray or path
            Shaped like the image's labels, or like one plane (``plane=``) or one time
            point's volume (``time=``); a file may lack dims the image knows; an RGB(A)
            image is a mask (non-black pixels) when ``class_id`` is given.
        class_id : int or str, optional
            Nonzero pixels become this class (a mask). When None the values are class
            ids 1..K (0 leaves a pixel as it is).
        plane : optional
            Import into one plane of a 3D or time-lapse image.
        time : int, optional
            Import a whole volume into one time point.
        overwrite : bool, default True
            Whether imported pixels replace existing labels (else only unlabelled
            pixels are filled).

        Returns
        -------
        Edit or None
            The recorded step, or None if nothing changed.

        Examples
        --------
        >>> import numpy as np, brushlab
        >>> movie = brushlab.as_image(np.zeros((2, 3, 8, 8)), dims="tzyx")
        >>> s = brushlab.Session(movie, precompute=False)
        >>> volume = np.zeros((3, 8, 8), np.uint8); volume[1, 2:4, 2:4] = 2
        >>> s.import_labels(0, volume, time=1).n_pixels
        4
        """
        index = self.image_index(image)
        arr = self.read_labels(index, labels, mask=class_id is not None, plane=plane, time=time)
        full, p = self._whole_image(index, arr, plane, time)
        entry = self._entry(index)
        cid = None if class_id is None else self.class_id(class_id)
        with self._lock:
            self._no_stroke("import labels")
            edit = labels_edit(
                entry,
                index,
                full,
                cid,
                plane=entry.plane(p) if p is not None else None,
                n_classes=len(self._classes),
                overwrite=overwrite,
            )
            return self._apply(edit)

    def import_masks(
        self,
        image: int | str,
        masks: Mapping[int | str, Any],
        *,
        plane: Any = None,
        time: int | None = None,
        overwrite: bool = True,
        add_classes: bool = False,
    ) -> list[Edit]:
        """Import one binary mask per class (arrays or files), one undo step per mask.

        Every mask is read and checked before any is imported, so a bad one changes
        nothing.

        Parameters
        ----------
        image : int or str
            The image.
        masks : mapping
            ``{class name or id: mask}``; a mask is a boolean/0-1/0-255 array, an RGB(A)
            image (non-black = in the mask) or a file of one. Later masks win where they
            overlap (with ``overwrite=True``).
        plane, time : optional
            Masks of one plane, or a whole volume of one time point.
        overwrite : bool, default True
            Replace existing labels (else only fill unlabelled pixels).
        add_classes : bool, default False
            Create classes named in ``masks`` that the session lacks.

        Returns
        -------
        list of Edit
            The recorded steps (masks that changed nothing record none).

        Examples
        --------
        >>> import numpy as np, brushlab
        >>> s = brushlab.Session(np.zeros((8, 8), np.float32), classes=["bg"], precompute=False)
        >>> cell = np.zeros((8, 8), bool); cell[2:4, 2:4] = True
        >>> _ = s.import_masks(0, {"bg": ~cell, "cell": cell}, add_classes=True)
        >>> s.label_counts()
        {'bg': 60, 'cell': 4}
        """
        index = self.image_index(image)
        read = {
            cls: self.read_labels(index, m, mask=True, plane=plane, time=time)
            for cls, m in masks.items()
        }
        missing = [c for c in read if isinstance(c, str) and c not in self.class_names]
        if missing and not add_classes:
            raise LabelError(
                f"no classes named {missing}; classes are {self.class_names}: pass "
                "add_classes=True to create them"
            )
        for cls in read:
            if not isinstance(cls, str):
                self.class_id(cls)
        if len(self.class_names) + len(missing) > MAX_CLASSES:
            raise LabelError(f"at most {MAX_CLASSES} classes fit in uint16 labels")
        for name in missing:
            self.add_class(name)
        edits = []
        for cls, arr in read.items():
            edit = self.import_labels(index, arr, cls, plane=plane, time=time,
                                      overwrite=overwrite)
            if edit is not None:
                edits.append(edit)
        return edits

    def export_labels(
        self,
        image: int | str,
        path: str | os.PathLike[str],
        *,
        plane: Any = None,
        time: int | None = None,
        format: str | None = None,
    ) -> Path:
        """Write an image's labels (or one plane / time point) to TIFF, PNG, NPY, HDF5 or Zarr.

        Parameters
        ----------
        image : int or str
            The image.
        path : str or path-like
            Target; the format follows the suffix (``.tif``, ``.png``, ``.npy``, ``.h5``,
            ``.zarr``) unless ``format`` is given. PNG holds one plane: pass ``plane=`` for
            3D or time-lapse images. Dims and spacing are kept.
        plane, time : optional
            Export one plane, or the volume of one time point.
        format : str, optional
            ``"tiff"``, ``"png"``, ``"npy"``, ``"h5"`` or ``"zarr"``.

        Returns
        -------
        pathlib.Path
            The written file (atomically replaced).

        Examples
        --------
        >>> import tempfile, numpy as np, brushlab
        >>> s = brushlab.Session(np.zeros((8, 8), np.float32), precompute=False)
        >>> path = s.export_labels(0, Path(tempfile.mkdtemp()) / "labels.tif")
        >>> brushlab.imread(path).shape
        (8, 8)
        """
        from brushlab.io import write_image

        index = self.image_index(image)
        entry = self._entry(index)
        with self._lock:
            snapshot = entry.labels.copy()
        if plane is None and time is None:
            return write_labels(entry, snapshot, path, format=format)
        img = self.images[index]
        labels = xr.DataArray(snapshot, dims=[str(d) for d in img.dims if d != "c"])
        if time is not None:
            labels = labels.isel(t=int(time))
        else:
            labels = labels.isel(_plane_dict(plane, list(self.plane_sizes(index))))
        spacing = {d: s for d, s in img.attrs.get("spacing", {}).items() if d in labels.dims}
        return write_image(path, labels, format=format, spacing=spacing,
                           unit=img.attrs.get("unit"))

    def export_masks(
        self,
        image: int | str,
        folder: str | os.PathLike[str],
        *,
        format: str | None = None,
        classes: Iterable[int | str] | None = None,
    ) -> dict[str, Path]:
        """Write one binary mask (0/255 uint8) per class: ``<image>_<class>.<ext>``.

        Parameters
        ----------
        image : int or str
            The image.
        folder : str or path-like
            Existing folder for the files.
        format : str, optional
            Default ``"png"`` for 2D images, ``"tiff"`` otherwise.
        classes : iterable, optional
            Class names or ids (default all).

        Returns
        -------
        dict of str to Path
            Class name to file written.

        Examples
        --------
        >>> import tempfile, numpy as np, brushlab
        >>> s = brushlab.Session(np.zeros((8, 8), np.float32), precompute=False)
        >>> sorted(s.export_masks(0, tempfile.mkdtemp()))
        ['class 1', 'class 2']
        """
        from brushlab.io import write_image

        index = self.image_index(image)
        folder = Path(folder)
        if not folder.is_dir():
            raise LabelError(f"cannot write masks into {folder}: not an existing folder")
        labels = np.array(self.labels(index))
        fmt = format or ("png" if labels.ndim == 2 else "tiff")
        ext = {"tiff": "tif", "tif": "tif"}.get(fmt, fmt)
        img = self.images[index]
        dims = [str(d) for d in img.dims if d != "c"]
        stem = _UNSAFE.sub("_", self.image_names[index])
        out = {}
        for cls in classes if classes is not None else self.class_names:
            cid = self.class_id(cls)
            name = self.class_names[cid - 1]
            target = folder / f"{stem}_{_UNSAFE.sub('_', name)}.{ext}"
            mask = np.where(labels == cid, np.uint8(255), np.uint8(0))
            out[name] = write_image(target, mask, format=fmt, dims=dims,
                                    spacing=img.attrs.get("spacing", {}),
                                    unit=img.attrs.get("unit"))
        return out

    def segmentation_to_labels(
        self,
        image: int | str,
        region: Any = None,
        *,
        plane: Any = None,
        overwrite: bool = False,
        classifier: Any = None,
    ) -> Edit | None:
        """Turn the current segmentation of a region into labels (one undo step).

        Parameters
        ----------
        image, region, plane
            As :meth:`predict_region` (the whole plane when ``region`` is None).
        overwrite : bool, default False
            Replace existing labels too; by default only unlabelled pixels are filled,
            so corrections a user painted stay.
        classifier : PixelClassifier, optional
            Default: the last one :meth:`train` returned.

        Returns
        -------
        Edit or None
            The recorded step, or None if nothing changed.
        """
        index = self.image_index(image)
        return self._segmentation_edit(index, region, plane, overwrite, classifier)

    def segmentation_to_labels_per_plane(
        self,
        image: int | str,
        *,
        planes: Iterable[Any] | None = None,
        overwrite: bool = False,
        classifier: Any = None,
    ) -> list[Edit]:
        """Turn the segmentation of every z/t plane (or the listed ones) into labels.

        One undo step per plane; user labels stay unless ``overwrite=True``.

        Returns
        -------
        list of Edit
            One step per plane that changed.
        """
        index = self.image_index(image)
        if planes is None:
            sizes = self.plane_sizes(index)
            planes = itertools.product(*(range(n) for n in sizes.values())) if sizes else [None]
        edits = []
        for p in planes:
            edit = self._segmentation_edit(index, None, p, overwrite, classifier)
            if edit is not None:
                edits.append(edit)
        return edits

    def _segmentation_edit(
        self, index: int, region: Any, plane: Any, overwrite: bool, classifier: Any
    ) -> Edit | None:
        from brushlab.session._labels_io import segmentation_values

        entry = self._entry(index)
        result = self.predict_region(index, region, plane=plane,  # type: ignore[attr-defined]
                                     classifier=classifier)
        values = segmentation_values(result, self.class_names)
        p = entry.plane(plane)
        ys, xs = entry.region(region)
        with self._lock:
            self._no_stroke("convert the segmentation")
            target = np.zeros(entry.plane_shape, dtype=values.dtype)
            target[ys, xs] = values
            edit = labels_edit(entry, index, target, None, plane=p,
                               n_classes=len(self._classes), overwrite=overwrite)
            edit.kind = "segmentation"
            return self._apply(edit)

    def _whole_image(
        self, index: int, part: np.ndarray, plane: Any, time: int | None
    ) -> tuple[np.ndarray, Any]:
        """Place one time point's labels in an array of the whole image (zeros elsewhere)."""
        if time is None:
            return part, plane
        if "t" not in self.images[index].dims:
            raise LabelError(f"image {self.image_names[index]!r} has no time axis: drop time=")
        n = self.labels(index).shape[0]
        if not isinstance(time, (int, np.integer)) or not 0 <= int(time) < n:
            raise LabelError(f"time={time!r} is outside 0..{n - 1}")
        full = np.zeros(self.labels(index).shape, dtype=part.dtype)
        full[int(time)] = part
        return full, None


def _read(source: Any, dims: tuple[str, ...]) -> np.ndarray:
    if isinstance(source, (str, os.PathLike)):
        from brushlab.io import imread

        try:
            data: Any = imread(source)
        except BrushlabError as first:
            try:
                data = imread(source, dims="".join(dims))
            except BrushlabError:
                raise LabelError(f"cannot read labels from {source}: {first}") from first
        return as_label_array(data)
    return as_label_array(source)


def _plane_dict(plane: Any, dims: list[str]) -> dict[str, int]:
    if isinstance(plane, Mapping):
        return {str(k): int(v) for k, v in plane.items()}
    values = [plane] if isinstance(plane, (int, np.integer)) else list(plane)
    if len(values) != len(dims):
        raise LabelError(f"plane={plane!r} must give the indices of {dims}")
    return dict(zip(dims, (int(v) for v in values)))
