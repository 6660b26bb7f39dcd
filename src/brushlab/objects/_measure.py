"""Measurements of labelled objects as a pandas table, and its CSV/Parquet export.

Built on :func:`skimage.measure.regionprops_table` (with ``spacing``, so sizes and
lengths are physical), plus the class of each object from a prediction result.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from brushlab._core.backend import to_numpy
from brushlab.errors import BrushlabError, ImageError, LabelError
from brushlab.objects._common import SpacingLike, as_label_array, unwrap

__all__ = ["measure", "write_table", "SHAPE_2D", "SHAPE_3D"]

#: Shape descriptors of 2D objects (lengths in physical units).
SHAPE_2D = (
    "perimeter",
    "eccentricity",
    "solidity",
    "extent",
    "axis_major_length",
    "axis_minor_length",
    "equivalent_diameter",
)
#: Shape descriptors of 3D objects (scikit-image has no perimeter or eccentricity in 3D).
SHAPE_3D = ("solidity", "extent", "axis_major_length", "axis_minor_length", "equivalent_diameter")
_STATS = ("mean", "min", "max", "std")


def _image_channels(image: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, list[str]] | None:
    """Return the image as (*shape, C) float64 and its channel names; None without image."""
    if image is None:
        return None
    if isinstance(image, (str, os.PathLike)):
        from brushlab.io import imread

        image = imread(image)
    if isinstance(image, xr.DataArray):
        dims = [d for d in ("z", "y", "x") if d in image.dims]
        if "c" in image.dims:
            names = [str(v) for v in image.coords["c"].values] if "c" in image.coords else None
            data = to_numpy(image.transpose(*dims, "c").data)
            names = names or [str(i) for i in range(data.shape[-1])]
        else:
            data, names = to_numpy(image.transpose(*dims).data)[..., None], [""]
    else:
        data = to_numpy(image)
        if data.shape == shape:
            data, names = data[..., None], [""]
        elif data.shape[:-1] == shape:
            names = [str(i) for i in range(data.shape[-1])]
        else:
            raise ImageError(
                f"the image has shape {data.shape} but the labels {shape}: pass the image the "
                "labels were made from (channels last, or an xarray with dim 'c')"
            )
    if data.shape[:-1] != shape:
        raise ImageError(
            f"the image has spatial shape {data.shape[:-1]} but the labels {shape}: pass the "
            "image the labels were made from"
        )
    if len(names) == 1:
        names = [""]
    return data.astype(np.float64), names


def _class_columns(labels: np.ndarray, result: xr.Dataset, ids: np.ndarray) -> dict[str, Any]:
    """Majority class of each object's pixels and the mean probability of that class."""
    if not isinstance(result, xr.Dataset) or "probabilities" not in result:
        raise BrushlabError(
            "result must be a prediction (xarray.Dataset with 'probabilities'), as "
            "PixelClassifier.predict returns"
        )
    probs = result["probabilities"].transpose("class", ...)
    if tuple(probs.shape[1:]) != labels.shape:
        raise LabelError(
            f"the result has spatial shape {tuple(probs.shape[1:])} but the labels "
            f"{labels.shape}: measure the labels made from this prediction"
        )
    p = to_numpy(probs.data).reshape(probs.shape[0], -1)
    names = [str(v) for v in probs.coords["class"].values]
    flat = labels.ravel()
    n_ids = int(flat.max()) + 1
    winner = np.argmax(p, axis=0)
    votes = np.bincount(flat * len(names) + winner, minlength=n_ids * len(names))
    votes = votes.reshape(n_ids, len(names))[ids]
    k = np.argmax(votes, axis=1)
    counts = np.bincount(flat, minlength=n_ids)[ids]
    mean_p = np.stack([np.bincount(flat, weights=row, minlength=n_ids)[ids] for row in p], axis=1)
    confidence = mean_p[np.arange(len(ids)), k] / np.maximum(counts, 1)
    return {
        "class": np.asarray([names[i] for i in k], dtype=object),
        "class_id": (k + 1).astype(np.int64),
        "class_confidence": confidence.astype(np.float64),
    }


def _solidity(labels: np.ndarray, spacing: tuple[float, ...]) -> dict[int, float]:
    """Solidity per object, NaN where the convex hull is degenerate (flat or tiny objects)."""
    from skimage.measure import regionprops

    out = {}
    for region in regionprops(labels, spacing=spacing):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = float(region.solidity)
        except Exception:  # scipy's QhullError on flat objects: no volume to compare with
            value = float("nan")
        out[int(region.label)] = value if np.isfinite(value) else float("nan")
    return out


def measure(
    labels: Any,
    image: Any = None,
    *,
    result: xr.Dataset | None = None,
    spacing: SpacingLike = None,
    unit: str | None = None,
    shape: bool = True,
) -> pd.DataFrame:
    """Measure every object of a label image: size, position, intensity, shape, class.

    Parameters
    ----------
    labels : array-like or xarray.DataArray
        2D or 3D integer labels, 0 background; ids need not be consecutive.
    image : array-like, xarray.DataArray or path, optional
        Intensities, shaped like ``labels`` (plus channels last, or dim ``c``):
        adds ``intensity_{mean,min,max,std}`` per channel (suffixed ``_<channel>``
        when there are several).
    result : xarray.Dataset, optional
        A prediction of the same image: adds ``class`` (the majority class of the
        object's pixels), ``class_id`` (1..K) and ``class_confidence`` (the mean
        probability of that class over the object).
    spacing : float, sequence or mapping, optional
        Pixel size per axis; default the ``attrs["spacing"]`` of ``labels``, else of
        ``image``, else 1.
    unit : str, optional
        Unit of ``spacing`` (default ``attrs["unit"]`` of labels or image, else "pixel").
    shape : bool, default True
        Add the shape descriptors (:data:`SHAPE_2D` or :data:`SHAPE_3D`).

    Returns
    -------
    pandas.DataFrame
        One row per object, indexed by ``label``: ``n_pixels``, ``area`` (2D) or
        ``volume`` (3D) in ``unit`` squared or cubed, ``centroid_<axis>`` and
        ``bbox_<axis>_start``/``_stop`` in pixels (stop exclusive), then intensity,
        shape and class columns. ``attrs`` hold ``spacing``, ``unit`` and ``units``
        (the unit of each physical column). 2D perimeters need square pixels: they
        are NaN with anisotropic spacing.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((10, 10), int); labels[1:4, 1:5] = 1; labels[6:9, 6:9] = 5
    >>> table = measure(labels, spacing=0.5, unit="um")
    >>> table[["n_pixels", "area", "centroid_y"]].values.tolist()
    [[12.0, 3.0, 2.0], [9.0, 2.25, 7.0]]
    """
    from skimage.measure import regionprops_table

    attrs_of = [x.attrs for x in (labels, image) if isinstance(x, xr.DataArray)]
    if spacing is None:
        spacing = next((a["spacing"] for a in attrs_of if isinstance(a.get("spacing"), dict)), None)
    unit = unit or next((str(a["unit"]) for a in attrs_of if a.get("unit")), "pixel")
    src = unwrap(labels, spacing=spacing, what="the labels")
    lab = to_numpy(as_label_array(src.array, "the labels")).astype(np.int64)
    dims, sp, ndim = src.dims, src.spacing, src.ndim
    channels = _image_channels(image, lab.shape)
    size_name = "area" if ndim == 2 else "volume"
    props = ["label", "num_pixels", "area", "centroid", "bbox"]
    if channels is not None:
        props += [f"intensity_{s}" for s in _STATS]
    if shape:
        props += ["extent", "axis_major_length", "axis_minor_length", "equivalent_diameter_area"]
        if ndim == 2:
            props += ["eccentricity"]
    intensity = None
    if channels is not None:  # one channel as a plain image: skimage names its columns unsuffixed
        intensity = channels[0][..., 0] if channels[0].shape[-1] == 1 else channels[0]
    table = regionprops_table(lab, intensity, properties=props, spacing=sp)
    out: dict[str, Any] = {"label": table["label"], "n_pixels": table["num_pixels"]}
    out[size_name] = table["area"]
    for i, d in enumerate(dims):
        out[f"centroid_{d}"] = table[f"centroid-{i}"] / sp[i]
    for i, d in enumerate(dims):
        out[f"bbox_{d}_start"] = table[f"bbox-{i}"]
        out[f"bbox_{d}_stop"] = table[f"bbox-{i + ndim}"]
    if channels is not None:
        names = channels[1]
        for s in _STATS:
            for j, name in enumerate(names):
                key = f"intensity_{s}-{j}" if len(names) > 1 else f"intensity_{s}"
                out[f"intensity_{s}" + (f"_{name}" if name else "")] = table[key]
    if shape:
        if ndim == 2:
            out["perimeter"] = _perimeter(lab, sp, table["label"])
            out["eccentricity"] = table["eccentricity"]
        solid = _solidity(lab, sp)
        out["solidity"] = np.asarray([solid[int(i)] for i in table["label"]], np.float64)
        out["extent"] = table["extent"]
        out["axis_major_length"] = table["axis_major_length"]
        out["axis_minor_length"] = table["axis_minor_length"]
        out["equivalent_diameter"] = table["equivalent_diameter_area"]
    if result is not None:
        out.update(_class_columns(lab, result, np.asarray(table["label"], np.int64)))
    frame = pd.DataFrame(out).set_index("label")
    frame["n_pixels"] = frame["n_pixels"].astype(np.float64)
    units = {size_name: f"{unit}^{ndim}"}
    for name in ("perimeter", "axis_major_length", "axis_minor_length", "equivalent_diameter"):
        if name in frame:
            units[name] = unit
    frame.attrs = {"spacing": dict(zip(dims, sp)), "unit": unit, "units": units}
    return frame


def _perimeter(labels: np.ndarray, spacing: tuple[float, ...], ids: np.ndarray) -> np.ndarray:
    from skimage.measure import regionprops_table

    if len(set(spacing)) != 1:
        return np.full(len(ids), np.nan)
    table = regionprops_table(labels, properties=["label", "perimeter"])
    return np.asarray(table["perimeter"], np.float64) * spacing[0]


def write_table(
    table: pd.DataFrame, path: str | os.PathLike[str], *, format: str | None = None
) -> Path:
    """Write a measurement table to CSV or Parquet, atomically.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`measure` (or any DataFrame); the index is written as a column.
    path : str or path-like
        Destination; replaced only once the new file is complete.
    format : {"csv", "parquet"}, optional
        Default: from the suffix (``.csv``, ``.parquet``/``.pq``).

    Returns
    -------
    pathlib.Path
        The written file.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_table(pd.DataFrame({"area": [3.0]}), folder / "objects.csv").name
    'objects.csv'
    """
    from brushlab._core.atomic import atomic_path

    path = Path(path)
    fmt = format or {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(
        path.suffix.lower()
    )
    if fmt not in ("csv", "parquet"):
        raise BrushlabError(
            f"cannot tell the table format of {path.name!r}: use a .csv or .parquet suffix, "
            "or format='csv' / 'parquet'"
        )
    frame = table.copy()
    frame.attrs = {}
    with atomic_path(path) as temp:
        if fmt == "csv":
            frame.to_csv(temp)
        else:
            frame.to_parquet(temp)
    return path

