"""Objects in the viewer: find instances of a class, measure them, classify them by clicks.

UI-free, like :class:`AnnotationView`: the widget's "Objects" panel calls these
methods and draws :meth:`ObjectsView.rgba`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from brushlab.errors import ClassifierError, LabelError
from brushlab.io import spacing_of

if TYPE_CHECKING:
    from brushlab.view._annotation_view import AnnotationView

__all__ = ["ObjectsView"]


class ObjectsView:
    """Objects of the plane shown: instance labels, measurements and object classes.

    Parameters
    ----------
    view : AnnotationView
        The viewer whose image, plane and classifier it works on.
    """

    def __init__(self, view: AnnotationView) -> None:
        self.view = view
        self.labels: np.ndarray | None = None
        self.table: pd.DataFrame | None = None
        self.result: xr.Dataset | None = None
        self.key: tuple[int, tuple[int, ...]] | None = None
        self.object_classes: list[str] = ["class A", "class B"]
        self.annotations: dict[int, str] = {}
        self.classifier: Any = None
        self.predictions: pd.DataFrame | None = None
        self._rgba: dict[str, np.ndarray] = {}

    @property
    def current(self) -> bool:
        """Whether the objects belong to the image and plane shown."""
        v = self.view
        return self.labels is not None and self.key == (v.image, v.plane_key)

    def find(self, class_id: int, *, method: str = "components", separate: bool = True,
             min_size: float = 0.0) -> int:
        """Turn class ``class_id`` of the current segmentation of the plane into objects.

        Predicts the whole plane with the last classifier, then
        :func:`brushlab.instances` (``method="watershed"`` treats the class as a
        boundary, e.g. membranes, and returns the regions between) and
        :func:`brushlab.measure`.

        Returns
        -------
        int
            Number of objects.
        """
        from brushlab.objects import instances, measure

        v = self.view
        clf = v.classifier
        if clf is None:
            raise ClassifierError("train a classifier first (Live or Train), then find objects")
        result = v.session.predict_region(v.image, None, plane=v.plane_key or None,
                                          classifier=clf)
        names = list(result.probabilities["class"].values)
        if not 1 <= class_id <= len(names):
            raise LabelError(f"class id must be 1..{len(names)}, got {class_id}")
        spacing = _plane_spacing(v)
        if method == "watershed":
            labels = instances(result.probabilities.values[class_id - 1], method="watershed",
                               min_size=min_size, spacing=spacing)
        else:
            labels = instances(result.segmentation.values == class_id, separate=separate,
                               min_size=min_size, spacing=spacing)
        self.labels = np.asarray(labels)
        self.result = result
        self.key = (v.image, v.plane_key)
        self.table = measure(self.labels, v.plane_pixels(), result=result, spacing=spacing)
        self.annotations = {}
        self.classifier = None
        self.predictions = None
        self._rgba.clear()
        return int(self.labels.max())

    def click(self, x: float, y: float, object_class: str) -> int | None:
        """Label the object under canvas point ``(x, y)`` as ``object_class`` (None: background).

        Returns
        -------
        int or None
            The object's id, or None where there is no object.
        """
        from brushlab.objects import object_at

        if not self.current or self.labels is None:
            raise LabelError("find objects on this plane first")
        iy, ix = self.view.viewport.canvas_to_image(y, x)
        h, w = self.labels.shape
        if not (0 <= iy < h and 0 <= ix < w):
            return None
        oid = object_at(self.labels, (int(iy), int(ix)))
        if not oid:
            return None
        if object_class not in self.object_classes:
            raise LabelError(f"unknown object class {object_class!r}; "
                             f"choose from {self.object_classes}")
        self.annotations[int(oid)] = object_class
        return int(oid)

    def classify(self, *, n_trees: int = 100) -> pd.DataFrame:
        """Train an object classifier on the clicked objects and classify all objects."""
        from brushlab.objects import ObjectClassifier

        if not self.current or self.labels is None:
            raise LabelError("find objects on this plane first")
        used = set(self.annotations.values())
        if len(used) < 2:
            raise LabelError("label objects of at least two object classes (click them with "
                             "the Objects tool) before classifying")
        clf = ObjectClassifier(self.object_classes, n_trees=n_trees, random_state=0)
        clf.fit(self.labels, self.view.plane_pixels(), self.annotations, result=self.result,
                spacing=_plane_spacing(self.view))
        self.classifier = clf
        self.predictions = clf.predict(self.labels, self.view.plane_pixels(),
                                       result=self.result, table=self.table)
        self._rgba.pop("object classes", None)
        return self.predictions

    def rgba(self, kind: str, opacity: float) -> np.ndarray | None:
        """Whole-plane RGBA of ``"objects"`` (random colours) or ``"object classes"``."""
        from brushlab.objects import ObjectClassifier, class_overlay, label_overlay

        if not self.current or self.labels is None:
            return None
        key = f"{kind}@{opacity:.3f}"
        if key not in self._rgba:
            if kind == "objects":
                self._rgba[key] = label_overlay(self.labels, alpha=opacity)
            elif kind == "object classes" and self.predictions is not None:
                classes = ObjectClassifier.class_image(self.labels, self.predictions)
                self._rgba[key] = class_overlay(np.asarray(classes), alpha=opacity)
            elif kind == "object classes":
                ids = {oid: self.object_classes.index(c) + 1
                       for oid, c in self.annotations.items()}
                classes = ObjectClassifier.class_image(self.labels, ids)
                self._rgba[key] = class_overlay(np.asarray(classes), alpha=opacity)
            else:
                return None
        return self._rgba[key]

    def invalidate(self) -> None:
        """Drop cached overlays (annotations changed)."""
        self._rgba.clear()

    def table_html(self, max_rows: int = 200) -> str:
        """Render the measurement table (with predicted classes) as HTML."""
        if self.table is None:
            return "<i>no objects yet: train, then Find objects</i>"
        table = self.table
        if self.predictions is not None:
            predicted = self.predictions[["class", "probability"]]
            table = table.join(predicted.rename(columns=lambda c: f"object {c}"))
        cols = [c for c in table.columns if not c.startswith(("bbox", "centroid"))][:12]
        shown = table[cols].head(max_rows)
        note = "" if len(table) <= max_rows else f"<p>first {max_rows} of {len(table)}</p>"
        html = shown.to_html(float_format=lambda v: f"{v:.3g}")
        return f"<p>{len(table)} objects</p>{html}{note}"


def _plane_spacing(view: AnnotationView) -> tuple[float, float]:
    spacing = spacing_of(view.session.images[view.image])
    return spacing.get("y", 1.0), spacing.get("x", 1.0)
