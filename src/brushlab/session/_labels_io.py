"""Labels in and out: masks and label images as edits, segmentations as labels, files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from brushlab._core.backend import to_numpy
from brushlab.errors import LabelError
from brushlab.session._history import Edit

if TYPE_CHECKING:
    from brushlab.session._images import ImageEntry

__all__ = ["as_label_array", "labels_edit", "segmentation_values", "write_labels"]


def as_label_array(labels: Any) -> np.ndarray:
    """Labels from a path, DataArray or array-like as a numpy array (LabelError if not)."""
    if isinstance(labels, (str, os.PathLike)):
        from brushlab.io import imread

        labels = imread(labels).data
    if isinstance(labels, xr.DataArray):
        labels = labels.data
    try:
        return to_numpy(labels) if hasattr(labels, "shape") else np.asarray(labels)
    except (TypeError, ValueError) as exc:
        raise LabelError(f"cannot read labels from {type(labels).__name__}: {exc}") from exc


def labels_edit(
    entry: ImageEntry,
    image: int,
    labels: Any,
    class_id: int | None,
    *,
    plane: tuple[int, ...] | None,
    n_classes: int,
    overwrite: bool,
) -> Edit:
    """Build the edit that writes ``labels`` (a mask of ``class_id``, or class ids) into ``entry``.

    Raises
    ------
    LabelError
        On a shape mismatch, non-integer or negative values, ids beyond the
        session's classes, or a boolean mask without ``class_id``.
    """
    arr = as_label_array(labels)
    target = entry.labels[plane] if plane else entry.labels
    offset = entry.plane_offset(plane) if plane else 0
    if arr.shape != target.shape:
        where = f"plane {plane} of {entry.name!r}" if plane else f"image {entry.name!r}"
        raise LabelError(
            f"labels of shape {arr.shape} do not fit {where}, whose labels are {target.shape} "
            f"(dims {entry.label_dims[-target.ndim:]})"
        )
    if arr.dtype.kind not in "biuf":
        raise LabelError(f"labels must be numbers or booleans, not {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or not np.array_equal(arr, np.round(arr)):
            raise LabelError("labels hold NaN or fractional values: use integers (0 = unlabelled)")
    if arr.size and arr.min() < 0:
        raise LabelError("labels hold negative values: use 0 for unlabelled and 1..K for classes")
    mask = arr != 0
    if class_id is not None:
        new = np.full(int(mask.sum()), class_id, dtype=target.dtype)
    elif arr.dtype.kind == "b":
        raise LabelError("a boolean mask belongs to one class: pass class_id=")
    else:
        top = int(arr.max()) if arr.size else 0
        if top > n_classes:
            raise LabelError(
                f"the label image holds ids up to {top} but the session has {n_classes} classes: "
                "add classes first, or pass class_id= to import it as a mask of one class"
            )
        new = arr[mask].astype(target.dtype)
    flat = np.flatnonzero(mask)
    old = target.reshape(-1)[flat]
    keep = old != new
    if not overwrite:
        keep &= old == 0
    return Edit(
        image=image,
        kind="import",
        index=flat[keep].astype(np.intp) + offset,
        old=old[keep],
        new=new[keep],
        plane=plane or (),
    )


def segmentation_values(result: xr.Dataset, class_names: Sequence[str]) -> np.ndarray:
    """Map a result's segmentation to the session's class ids (matched by class name)."""
    names = [str(n) for n in result["class"].values]
    missing = [n for n in names if n not in class_names]
    if missing:
        raise LabelError(
            f"the classifier predicts classes {missing} the session does not have: add them first"
        )
    lut = np.array([0, *(list(class_names).index(n) + 1 for n in names)], dtype=np.uint16)
    return lut[result["segmentation"].values]


def write_labels(
    entry: ImageEntry, labels: np.ndarray, path: str | os.PathLike[str], *, format: str | None
) -> Path:
    """Write ``labels`` with the image's dims and spacing via :func:`brushlab.write_image`."""
    from brushlab.io import write_image

    spacing = {d: s for d, s in entry.image.attrs.get("spacing", {}).items()}
    return write_image(
        path,
        labels,
        format=format,
        dims=entry.label_dims,
        spacing=spacing,
        unit=entry.image.attrs.get("unit"),
    )
