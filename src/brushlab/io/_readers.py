"""Per-format image readers behind :func:`brushlab.io._image.imread`.

Each reader takes a path and returns a :class:`_Raw`: the pixels as a numpy array plus the
dims, spacing and unit its metadata gives, for :mod:`brushlab.io._image` to assemble into an image.
Optional heavy libraries (imageio, tifffile, zarr, h5py) are imported by the reader that needs
them, on first use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from brushlab.errors import ImageError
from brushlab.io._image import _SPATIAL, DIMS, _mapping, _unit_name

_TIFF_AXES = {"T": "t", "Z": "z", "Y": "y", "X": "x", "C": "c", "S": "c"}
_MARKER = re.compile(r"brushlab_dims=([tzyxc]+)")
_METERS = {
    "nanometer": 1e-9,
    "micrometer": 1e-6,
    "millimeter": 1e-3,
    "centimeter": 1e-2,
    "meter": 1.0,
}
_TIFF_RESOLUTION_UNITS = {3: 1e4, 4: 1e3, 5: 1.0}  # centimeter, millimeter, micrometer -> um


@dataclass
class _Raw:
    """Pixels read from a file and what its metadata says about them."""

    data: Any
    dims: tuple[str, ...] | None = None
    spacing: dict[str, float] = field(default_factory=dict)
    unit: str = "pixel"
    dims_error: str | None = None  # raised only when the caller gives no dims=


def _merge_units(per_dim: Mapping[str, tuple[float, str]]) -> tuple[dict[str, float], str]:
    """Express all spacings in the unit of x (or the first dim) where both are lengths."""
    if not per_dim:
        return {}, "pixel"
    unit = per_dim["x"][1] if "x" in per_dim else next(iter(per_dim.values()))[1]
    spacing = {}
    for dim, (value, dim_unit) in per_dim.items():
        if dim_unit != unit and dim_unit in _METERS and unit in _METERS:
            value = value * _METERS[dim_unit] / _METERS[unit]
        spacing[dim] = value
    return spacing, unit


def _metadata_dims(names: Sequence[Any] | None, shape: tuple[int, ...], where: str) -> _Raw:
    """Dims named by file metadata, or a deferred error if they are not brushlab's."""
    raw = _Raw(data=None)
    if names is None or any(name is None for name in names):
        return raw
    lowered = tuple(str(name).lower() for name in names)
    if all(name in DIMS for name in lowered) and len(set(lowered)) == len(lowered) == len(shape):
        raw.dims = lowered
    else:
        raw.dims_error = (
            f"{where} names its axes {tuple(names)} (shape {shape}), which do not "
            "map to t, z, y, x, c; name them with dims=, e.g. dims='zyx'"
        )
    return raw


def _read_picture(path: Path) -> _Raw:
    import imageio.v3 as iio

    data = np.asarray(iio.imread(path))
    return _Raw(data, dims={2: ("y", "x"), 3: ("y", "x", "c")}.get(data.ndim))


def _read_npy(path: Path) -> _Raw:
    with open(path, "rb") as handle:
        if handle.read(6) != b"\x93NUMPY":  # else np.load would take it for a pickle
            raise ValueError("the file does not start with the NPY magic string")
    try:
        return _Raw(np.load(path, allow_pickle=False))
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise
        raise ImageError(
            f"{path} holds Python objects, not pixels (brushlab never unpickles "
            "files); save a numeric array instead, e.g. np.save(path, "
            "data.astype(np.float32))"
        ) from exc


def _read_tiff(path: Path) -> _Raw:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        data, axes = series.asarray(), series.axes
        spacing, unit, marker = _tiff_metadata(tif)
    names = [_TIFF_AXES.get(axis, "") for axis in axes]
    unknown = [a for a, n, s in zip(axes, names, data.shape, strict=True) if not n and s > 1]
    shape = [s for s, n in zip(data.shape, names, strict=True) if n or s > 1]
    data = data.reshape(shape)  # without singleton Q, I, ... axes
    where = f"{path} (TIFF axes {axes!r})"
    raw = _metadata_dims(None if unknown else [n for n in names if n], data.shape, where)
    if unknown:
        raw.dims_error = (
            f"{where} has axes {unknown} (shape {data.shape}) that do not map to "
            f"t, z, y, x, c; name every axis, e.g. dims={'tczyx'[-data.ndim :]!r}"
        )
    elif raw.dims is not None and isinstance(marker, str) and set(raw.dims) <= set(marker):
        missing = tuple(dim for dim in marker if dim not in raw.dims)  # squeezed by tifffile
        data = data.reshape(data.shape + (1,) * len(missing))
        raw.dims = raw.dims + missing
    raw.data, raw.spacing, raw.unit = data, spacing, _unit_name(unit)
    return raw


def _tiff_metadata(tif: Any) -> tuple[dict[str, float], str, Any]:
    """Spacing, unit and brushlab's dims marker from OME, ImageJ or tifffile metadata."""
    if tif.is_ome:
        return _ome_tiff_metadata(tif.ome_metadata or "")
    first = tif.pages.first
    if tif.is_imagej:
        meta = tif.imagej_metadata or {}
        spacing = _resolution(first, 1.0)
        if meta.get("spacing"):
            spacing["z"] = float(meta["spacing"])
        return spacing, meta.get("unit", "pixel"), meta.get("brushlab_dims")
    shaped: dict[str, Any] = (tif.shaped_metadata or ({},))[0] if tif.is_shaped else {}
    if isinstance(shaped.get("brushlab"), dict):
        meta = shaped["brushlab"]
        return dict(meta.get("spacing", {})), meta.get("unit", "pixel"), meta.get("dims")
    scale = _TIFF_RESOLUTION_UNITS.get(int(first.tags.valueof(296, 2)))  # inch: 72 dpi noise
    spacing = _resolution(first, scale) if scale else {}
    return spacing, "micrometer" if spacing else "pixel", None


def _resolution(page: Any, scale: float) -> dict[str, float]:
    spacing = {}
    for dim, code in (("x", 282), ("y", 283)):
        value = page.tags.valueof(code)
        if value is not None and value[0] > 0 and value[1] > 0:
            spacing[dim] = scale * value[1] / value[0]  # pixels per unit -> units per pixel
    return spacing


def _ome_tiff_metadata(xml: str) -> tuple[dict[str, float], str, str | None]:
    import tifffile

    image = tifffile.xml2dict(xml).get("OME", {}).get("Image", {})
    image = image[0] if isinstance(image, list) else image
    pixels = image.get("Pixels", {})
    per_dim = {}
    for dim in _SPATIAL:
        size = pixels.get(f"PhysicalSize{dim.upper()}")
        if size is not None and float(size) > 0:
            unit = pixels.get(f"PhysicalSize{dim.upper()}Unit", "µm")  # the OME default
            per_dim[dim] = (float(size), _unit_name(unit))
    spacing, unit = _merge_units(per_dim)
    marker = _MARKER.search(str(image.get("Description", "")))
    return spacing, unit, marker[1] if marker else None


def _read_zarr(path: Path) -> _Raw:
    if not any((path / name).exists() for name in ("zarr.json", ".zarray", ".zgroup")):
        raise ImageError(
            f"{path} is a folder but not a Zarr store (no zarr.json, .zarray or "
            ".zgroup inside); pass an image file or a .zarr folder"
        )
    import zarr

    node = zarr.open(str(path), mode="r")
    attrs: dict[str, Any] = dict(node.attrs)
    if isinstance(node, zarr.Array):
        names = attrs.get("dims") or getattr(node.metadata, "dimension_names", None)
        raw = _metadata_dims(names or attrs.get("_ARRAY_DIMENSIONS"), node.shape, str(path))
        raw.data = np.asarray(node[...])
        raw.spacing = dict(_mapping(attrs.get("spacing")))
        raw.unit = _unit_name(attrs.get("unit", "pixel"))
        return raw
    multiscales = attrs.get("multiscales") or _mapping(attrs.get("ome")).get("multiscales")
    if not multiscales:
        arrays = ", ".join(str(path / key) for key in sorted(node.array_keys())) or "none"
        raise ImageError(
            f"{path} is a Zarr group without OME-Zarr 'multiscales' metadata; "
            f"pass the folder of one of its arrays instead (arrays: {arrays})"
        )
    return _read_ome_zarr(node, multiscales[0], path)


def _read_ome_zarr(group: Any, multiscale: Mapping[str, Any], path: Path) -> _Raw:
    dataset = multiscale["datasets"][0]
    array = group[dataset["path"]]
    axes = multiscale.get("axes")
    names = None if axes is None else [a["name"] if isinstance(a, Mapping) else a for a in axes]
    raw = _metadata_dims(names, array.shape, f"OME-Zarr {path}")
    raw.data = np.asarray(array[...])
    scale = np.ones(array.ndim)
    for transforms in (
        dataset.get("coordinateTransformations"),
        multiscale.get("coordinateTransformations"),
    ):
        for transform in transforms or []:
            if transform.get("type") == "scale" and len(transform.get("scale", [])) == array.ndim:
                scale = scale * np.asarray(transform["scale"], dtype=float)
    units = [a.get("unit", "") if isinstance(a, Mapping) else "" for a in axes or []]
    per_dim = {
        dim: (float(value), _unit_name(unit))  # raw.dims, if set, match axes and scale
        for dim, value, unit in zip(raw.dims or (), scale, units, strict=False)
        if dim in _SPATIAL and value > 0
    }
    raw.spacing, raw.unit = _merge_units(per_dim)
    return raw


def _read_h5(path: Path, key: str) -> _Raw:
    import h5py

    datasets: list[str] = []
    with h5py.File(path, "r") as handle:
        handle.visititems(
            lambda name, obj: datasets.append(name) if isinstance(obj, h5py.Dataset) else None
        )
        example = f"imread('{path}/{datasets[0] if datasets else 'data'}')"
        listing = ", ".join(datasets) or "none"
        if not key:
            raise ImageError(
                f"{path} is an HDF5 file: add the dataset to read after the file "
                f"name, e.g. {example} (datasets in the file: {listing})"
            )
        node = handle.get(key)
        if not isinstance(node, h5py.Dataset):
            raise ImageError(
                f"no dataset {key!r} in {path} (datasets in the file: {listing}); "
                f"pass one of them, e.g. {example}"
            )
        data, attrs = node[()], dict(node.attrs)
    data = np.asarray(data)  # a scalar dataset gives a scalar
    raw, spacing = _Raw(data), {}
    if "dims" in attrs:
        dims = attrs["dims"]
        names = list(_text(dims)) if isinstance(dims, (str, bytes)) else [_text(d) for d in dims]
        raw = _metadata_dims(names, data.shape, f"{path}/{key}")
    elif "axistags" in attrs:  # written by ilastik / vigra
        axes = json.loads(_text(attrs["axistags"])).get("axes", [])
        raw = _metadata_dims([a.get("key") for a in axes], data.shape, f"{path}/{key}")
        spacing = {
            a["key"]: float(a["resolution"])
            for a in axes
            if a.get("key") in _SPATIAL and float(a.get("resolution") or 0) > 0
        }
    for dim in _SPATIAL:
        if f"spacing_{dim}" in attrs:
            spacing[dim] = float(attrs[f"spacing_{dim}"])
    raw.data, raw.spacing, raw.unit = data, spacing, _unit_name(_text(attrs.get("unit", "pixel")))
    return raw


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


_READERS: dict[str, tuple[str, Callable[[Path], _Raw]]] = {
    ".png": ("PNG", _read_picture),
    ".jpg": ("JPEG", _read_picture),
    ".jpeg": ("JPEG", _read_picture),
    ".tif": ("TIFF", _read_tiff),
    ".tiff": ("TIFF", _read_tiff),
    ".npy": ("NPY", _read_npy),
}
