"""Labels in and out without the widget: files, per-class masks, whole volumes, segmentations.

:meth:`Session.import_labels` and :meth:`Session.export_labels` take arrays and plain
files; these functions add what scripts need on top: files whose dims only the image
knows (a 4D ``.npy``), RGB(A) mask images, one mask per class in one call, a volume
into one time point, one plane to PNG, per-class mask files, and the segmentation of
every plane of a 3D or time-lapse image turned into labels.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from brushlab.errors import BrushlabError, LabelError
from brushlab.session._classes import MAX_CLASSES
from brushlab.session._labels_io import as_label_array

if TYPE_CHECKING:
    from brushlab.session import Edit, Session

__all__ = [
    "read_labels",
    "import_labels",
    "import_masks",
    "export_labels",
    "export_masks",
    "segmentation_to_labels",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def read_labels(
    session: Session,
    image: int | str,
    source: Any,
    *,
    mask: bool = False,
    plane: Any = None,
    time: int | None = None,
) -> np.ndarray:
    """Read labels or a mask from a file or array, shaped for ``image`` (or one plane/time point).

    Parameters
    ----------
    session : Session
        The session.
    image : int or str
        The image the labels belong to.
    source : path, array-like or DataArray
        A file ``brushlab.imread`` reads, or an array. A file whose dims
        cannot be inferred is read with the dims of the image's labels.
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
    index = session.image_index(image)
    target = session.labels(index)
    dims = tuple(str(d) for d in session.images[index].dims if d != "c")
    if time is not None:
        target, dims = target[0], dims[1:]
    elif plane is not None:
        target, dims = target[(0,) * (target.ndim - 2)], dims[-2:]
    arr = _read(source, dims, target.shape)
    if arr.ndim == target.ndim + 1 and arr.shape[:-1] == target.shape and arr.shape[-1] in (3, 4):
        colour = arr[..., :3]
        if mask:
            arr = np.asarray(colour.any(axis=-1))
        elif (colour == colour[..., :1]).all():
            arr = colour[..., 0]
        else:
            raise LabelError(
                "the label image is in colour (RGB) with different channels: class ids must "
                "be one grey value per pixel; pass mask=True (with a class) for a binary mask"
            )
    if arr.shape != target.shape:
        raise LabelError(
            f"labels of shape {arr.shape} do not fit image {session.image_names[index]!r}, "
            f"whose {_part(plane, time)} are {target.shape} (dims {dims})"
        )
    return arr != 0 if mask else arr


def _part(plane: Any, time: int | None) -> str:
    return "time point" if time is not None else "plane" if plane is not None else "labels"


def _read(source: Any, dims: tuple[str, ...], shape: tuple[int, ...]) -> np.ndarray:
    if isinstance(source, (str, os.PathLike)):
        from brushlab.io._image import imread

        try:
            data: Any = imread(source)
        except BrushlabError as first:
            try:
                data = imread(source, dims="".join(dims))
            except BrushlabError:
                raise LabelError(f"cannot read labels from {source}: {first}") from first
        return as_label_array(data)
    return as_label_array(source)


def _full(
    session: Session, index: int, part: np.ndarray, plane: Any, time: int | None
) -> tuple[np.ndarray, Any]:
    """Place one time point's labels in an array of the whole image (zeros elsewhere)."""
    if time is None:
        return part, plane
    if "t" not in session.images[index].dims:
        raise LabelError(f"image {session.image_names[index]!r} has no time axis: drop time=")
    n = session.labels(index).shape[0]
    if not isinstance(time, (int, np.integer)) or not 0 <= int(time) < n:
        raise LabelError(f"time={time!r} is outside 0..{n - 1}")
    full = np.zeros(session.labels(index).shape, dtype=part.dtype)
    full[int(time)] = part
    return full, None


def import_labels(
    session: Session,
    image: int | str,
    source: Any,
    class_id: int | str | None = None,
    *,
    plane: Any = None,
    time: int | None = None,
    overwrite: bool = True,
) -> Edit | None:
    """Import a label image (class ids) or, with ``class_id``, a mask: from a file or array.

    Like :meth:`Session.import_labels`, plus files whose dims only the image
    knows, RGB(A) masks, and ``time=`` for the volume of one time point.

    Returns
    -------
    Edit or None
        The recorded undo step, or None if nothing changed.

    Examples
    --------
    >>> import numpy as np, brushlab
    >>> from brushlab.project import import_labels
    >>> movie = brushlab.as_image(np.zeros((2, 3, 8, 8)), dims="tzyx")
    >>> s = brushlab.Session(movie, precompute=False)
    >>> volume = np.zeros((3, 8, 8), np.uint8); volume[1, 2:4, 2:4] = 2
    >>> s.images[0].dims, import_labels(s, 0, volume, time=1).n_pixels
    (('t', 'z', 'y', 'x'), 4)
    """
    index = session.image_index(image)
    arr = read_labels(session, index, source, mask=class_id is not None, plane=plane, time=time)
    full, p = _full(session, index, arr, plane, time)
    return session.import_labels(index, full, class_id, plane=p, overwrite=overwrite)


def import_masks(
    session: Session,
    image: int | str,
    masks: Mapping[int | str, Any],
    *,
    plane: Any = None,
    time: int | None = None,
    overwrite: bool = True,
    add_classes: bool = False,
) -> list[Edit]:
    """Import one binary mask per class (arrays or files), one undo step per mask.

    Every mask is read and checked before any is imported, so a bad one
    changes nothing.

    Parameters
    ----------
    session : Session
        The session.
    image : int or str
        The image.
    masks : mapping
        ``{class name or id: mask}``; a mask is a boolean/0-1/0-255 array, an
        RGB(A) image (non-black = in the mask) or a file of one. Later masks
        win where they overlap (with ``overwrite=True``).
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
    >>> from brushlab.project import import_masks
    >>> s = brushlab.Session(np.zeros((8, 8), np.float32), classes=["bg"], precompute=False)
    >>> cell = np.zeros((8, 8), bool); cell[2:4, 2:4] = True
    >>> _ = import_masks(s, 0, {"bg": ~cell, "cell": cell}, add_classes=True)
    >>> s.label_counts()
    {'bg': 60, 'cell': 4}
    """
    index = session.image_index(image)
    read = {
        cls: read_labels(session, index, m, mask=True, plane=plane, time=time)
        for cls, m in masks.items()
    }
    missing = [c for c in read if isinstance(c, str) and c not in session.class_names]
    if missing and not add_classes:
        raise LabelError(
            f"no classes named {missing}; classes are {session.class_names}: pass "
            "add_classes=True to create them"
        )
    for cls in read:
        if not isinstance(cls, str):
            session.class_id(cls)
    if len(session.class_names) + len(missing) > MAX_CLASSES:
        raise LabelError(f"at most {MAX_CLASSES} classes fit in uint16 labels")
    for name in missing:
        session.add_class(name)
    edits = []
    for cls, arr in read.items():
        full, p = _full(session, index, arr, plane, time)
        edit = session.import_labels(index, full, cls, plane=p, overwrite=overwrite)
        if edit is not None:
            edits.append(edit)
    return edits


def export_labels(
    session: Session,
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
    session, image
        The session and image.
    path : str or path-like
        Target; the format follows the suffix (``.tif``, ``.png``, ``.npy``,
        ``.h5``, ``.zarr``) unless ``format`` is given. PNG holds one plane:
        pass ``plane=`` for 3D or time-lapse images.
    plane, time : optional
        Export one plane, or the volume of one time point.
    format : str, optional
        ``"tiff"``, ``"png"``, ``"npy"``, ``"h5"`` or ``"zarr"``.

    Returns
    -------
    pathlib.Path
        The written file (atomically replaced).
    """
    from brushlab.io._writers import write_image

    index = session.image_index(image)
    if plane is None and time is None:
        return session.export_labels(index, path, format=format)
    img = session.images[index]
    dims = [str(d) for d in img.dims if d != "c"]
    labels = xr.DataArray(np.array(session.labels(index)), dims=dims)
    if time is not None:
        labels = labels.isel(t=int(time))
    else:
        sizes = session.plane_sizes(index)
        p = _plane_dict(plane, list(sizes))
        labels = labels.isel(p)
    spacing = {d: s for d, s in img.attrs.get("spacing", {}).items() if d in labels.dims}
    return write_image(path, labels, format=format, spacing=spacing, unit=img.attrs.get("unit"))


def _plane_dict(plane: Any, dims: list[str]) -> dict[str, int]:
    if isinstance(plane, Mapping):
        return {str(k): int(v) for k, v in plane.items()}
    values = [plane] if isinstance(plane, (int, np.integer)) else list(plane)
    if len(values) != len(dims):
        raise LabelError(f"plane={plane!r} must give the indices of {dims}")
    return dict(zip(dims, (int(v) for v in values)))


def export_masks(
    session: Session,
    image: int | str,
    folder: str | os.PathLike[str],
    *,
    format: str | None = None,
    classes: Iterable[int | str] | None = None,
) -> dict[str, Path]:
    """Write one binary mask (0/255 uint8) per class: ``<image>_<class>.<ext>``.

    Parameters
    ----------
    session, image
        The session and image.
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
    """
    from brushlab.io._writers import write_image

    index = session.image_index(image)
    folder = Path(folder)
    if not folder.is_dir():
        raise LabelError(f"cannot write masks into {folder}: not an existing folder")
    labels = np.array(session.labels(index))
    fmt = format or ("png" if labels.ndim == 2 else "tiff")
    ext = {"tiff": "tif", "tif": "tif"}.get(fmt, fmt)
    img = session.images[index]
    dims = [str(d) for d in img.dims if d != "c"]
    stem = _UNSAFE.sub("_", session.image_names[index])
    out = {}
    for cls in classes if classes is not None else session.class_names:
        cid = session.class_id(cls)
        name = session.class_names[cid - 1]
        target = folder / f"{stem}_{_UNSAFE.sub('_', name)}.{ext}"
        mask = np.where(labels == cid, np.uint8(255), np.uint8(0))
        out[name] = write_image(
            target,
            mask,
            format=fmt,
            dims=dims,
            spacing=img.attrs.get("spacing", {}),
            unit=img.attrs.get("unit"),
        )
    return out


def segmentation_to_labels(
    session: Session,
    image: int | str,
    *,
    planes: Iterable[Any] | None = None,
    overwrite: bool = False,
) -> list[Edit]:
    """Turn the current segmentation of every plane (or the listed ones) into labels.

    :meth:`Session.segmentation_to_labels` converts one plane (or region); this
    runs it over each z/t plane of a 3D or time-lapse image, one undo step per
    plane. User labels stay unless ``overwrite=True``.

    Returns
    -------
    list of Edit
        One step per plane that changed.
    """
    import itertools

    index = session.image_index(image)
    sizes = session.plane_sizes(index)
    if planes is None:
        planes = itertools.product(*(range(n) for n in sizes.values())) if sizes else [None]
    edits = []
    for p in planes:
        edit = session.segmentation_to_labels(index, plane=p, overwrite=overwrite)
        if edit is not None:
            edits.append(edit)
    return edits
