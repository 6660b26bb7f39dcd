"""Read microscopy images into arrays with named dimensions.

Every image is an :class:`xarray.DataArray` whose dims are a subset of
``("t", "z", "y", "x", "c")`` in that order. ``attrs["spacing"]`` holds the
physical pixel size of each spatial dim present (``1.0`` where unknown),
``attrs["unit"]`` its unit (``"pixel"`` where unknown) and ``attrs["source"]``
the path the pixels came from (``"array"`` for in-memory data).
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brushlab.errors import ImageError

__all__ = ["DIMS", "as_image", "imread", "spacing_of"]

DIMS = ("t", "z", "y", "x", "c")
_SPATIAL = ("z", "y", "x")
_SUPPORTED = (".png, .jpg/.jpeg, .tif/.tiff (OME-TIFF and ImageJ too), .npy, 'file.h5/dataset' "
              "(.h5/.hdf5/.hdf) and .zarr folders (OME-Zarr too)")
_H5_PATH = re.compile(r"^(.*?\.(?:h5|hdf5|hdf))(?:[/\\](.*))?$", re.IGNORECASE)
_TIFF_AXES = {"T": "t", "Z": "z", "Y": "y", "X": "x", "C": "c", "S": "c"}
_MARKER = re.compile(r"brushlab_dims=([tzyxc]+)")
_UNIT_ALIASES = {
    "um": "micrometer", "µm": "micrometer", "μm": "micrometer", "\\u00b5m": "micrometer",
    "micron": "micrometer", "microns": "micrometer", "micrometre": "micrometer",
    "nm": "nanometer", "nanometre": "nanometer", "mm": "millimeter", "millimetre": "millimeter",
    "cm": "centimeter", "m": "meter", "metre": "meter",
    "": "pixel", "px": "pixel", "pixels": "pixel",
}
_METERS = {"nanometer": 1e-9, "micrometer": 1e-6, "millimeter": 1e-3, "centimeter": 1e-2,
           "meter": 1.0}
_TIFF_RESOLUTION_UNITS = {3: 1e4, 4: 1e3, 5: 1.0}  # centimeter, millimeter, micrometer -> um


@dataclass
class _Raw:
    """Pixels read from a file and what its metadata says about them."""

    data: Any
    dims: tuple[str, ...] | None = None
    spacing: dict[str, float] = field(default_factory=dict)
    unit: str = "pixel"
    dims_error: str | None = None  # raised only when the caller gives no dims=


def imread(source: Any, dims: str | Sequence[str] | None = None) -> xr.DataArray:
    """Read an image from a file, a folder or an array, into memory.

    Parameters
    ----------
    source : str, path-like, array or xarray.DataArray
        A PNG/JPEG, TIFF (first series; OME and ImageJ metadata) or ``.npy``
        file, a ``.zarr`` folder (an array, or an OME-Zarr group: level 0), an
        HDF5 dataset as ``"file.h5/path/to/dataset"``, or in-memory data (see
        :func:`as_image`).
    dims : str or sequence of str, optional
        Names of the axes as stored, e.g. ``"zyx"``; overrides the metadata.

    Returns
    -------
    xarray.DataArray
        Dims in canonical order, attrs ``spacing``, ``unit`` and ``source``.

    Raises
    ------
    ImageError
        If the file is missing, of an unknown type, unreadable or empty, or
        its dims cannot be told (pass ``dims=`` then).

    Examples
    --------
    >>> import numpy as np
    >>> image = imread(np.zeros((5, 64, 64), dtype=np.uint8))
    >>> image.dims
    ('z', 'y', 'x')
    >>> imread(np.zeros((3, 64, 64)), dims="cyx").dims
    ('y', 'x', 'c')
    """
    if not isinstance(source, (str, os.PathLike)):
        return as_image(source, dims)
    raw, text = _read_path(str(os.fspath(source))), str(os.fspath(source))
    if dims is None and raw.dims_error is not None:
        raise ImageError(raw.dims_error)
    dims = raw.dims if dims is None else dims
    return _assemble(raw.data, dims, spacing=raw.spacing, unit=raw.unit, source=text)


def as_image(data: Any, dims: str | Sequence[str] | None = None) -> xr.DataArray:
    """Turn an array, a DataArray or a path into a brushlab image.

    Parameters
    ----------
    data : array-like, xarray.DataArray, str or path-like
        numpy and cupy arrays are kept as they are (type and dtype), other
        array-likes become numpy, paths go to :func:`imread`. A DataArray
        with dims from :data:`DIMS` is transposed and its missing attrs set.
    dims : str or sequence of str, optional
        Names of the axes, e.g. ``"tzyx"``: needed for 4D arrays, and to
        rename (by position) the dims of a DataArray not named from DIMS.

    Returns
    -------
    xarray.DataArray
        Dims in canonical order, attrs ``spacing``, ``unit`` and ``source``.

    Raises
    ------
    ImageError
        If the dtype is not numeric, the image is empty, has not 2 to 5
        dims, or its dims are ambiguous, unknown or inconsistent.

    Examples
    --------
    >>> import numpy as np
    >>> rgb = as_image(np.zeros((32, 48, 3), dtype=np.uint8))
    >>> rgb.dims, rgb.attrs["spacing"], rgb.attrs["unit"]
    (('y', 'x', 'c'), {'y': 1.0, 'x': 1.0}, 'pixel')
    """
    if isinstance(data, (str, os.PathLike)):
        return imread(data, dims)
    if isinstance(data, xr.DataArray):
        return _from_dataarray(data, dims)
    if not isinstance(data, np.ndarray) and not type(data).__module__.startswith("cupy"):
        data = np.asarray(data)
    return _assemble(data, dims, spacing={}, unit="pixel", source="array")


def spacing_of(image: xr.DataArray) -> dict[str, float]:
    """Return the physical pixel size of each spatial dim of an image.

    Parameters
    ----------
    image : xarray.DataArray
        An image from :func:`imread` or :func:`as_image`.

    Returns
    -------
    dict of str to float
        Size (in ``attrs["unit"]``) of each of z, y, x present; 1.0 if unknown.

    Examples
    --------
    >>> import numpy as np
    >>> spacing_of(as_image(np.zeros((4, 8, 8)), dims="zyx"))
    {'z': 1.0, 'y': 1.0, 'x': 1.0}
    """
    stored = _mapping(image.attrs.get("spacing"))
    return {dim: float(stored.get(dim, 1.0)) for dim in _SPATIAL if dim in image.dims}


# -- assembling a canonical DataArray -------------------------------------------------


def _assemble(data: Any, dims: Any, *, spacing: Mapping[str, Any], unit: str,
              source: str) -> xr.DataArray:
    _validate(data)
    names = _infer_dims(data.shape) if dims is None else _parse_dims(dims, data.shape)
    image = xr.DataArray(data, dims=names)
    return _finish(image, spacing=spacing, unit=unit, source=source)


def _from_dataarray(data: xr.DataArray, dims: Any) -> xr.DataArray:
    _validate(data.data)
    spacing = _mapping(data.attrs.get("spacing"))
    names = _parse_dims(data.dims if dims is None else dims, data.shape)
    if names != data.dims:  # renamed (or re-cased): coordinates belong to the old names
        data = xr.DataArray(data.data, dims=names, attrs=data.attrs)
    return _finish(data, spacing=spacing, unit=data.attrs.get("unit", "pixel"),
                   source=str(data.attrs.get("source", "array")))


def _finish(image: xr.DataArray, *, spacing: Mapping[str, Any], unit: Any,
            source: str) -> xr.DataArray:
    image = image.transpose(*[dim for dim in DIMS if dim in image.dims]).copy(deep=False)
    sizes = {dim: _positive(dim, spacing.get(dim, 1.0)) for dim in _SPATIAL if dim in image.dims}
    image.attrs = {**image.attrs, "spacing": sizes, "unit": _unit_name(unit), "source": source}
    return image


def _positive(dim: str, value: Any) -> float:
    number = value if isinstance(value, (int, float, np.number)) else float("nan")
    if not (np.isfinite(number) and number > 0):
        raise ImageError(f"the spacing of {dim!r} is {value!r}, but a pixel size must be a "
                         f"positive finite number, e.g. spacing={{{dim!r}: 0.5}} (or 1.0)")
    return float(number)


def _validate(data: Any) -> None:
    dtype, shape = np.dtype(data.dtype), tuple(data.shape)
    if dtype.kind not in "biuf":
        raise ImageError(f"an image of dtype {dtype} cannot be segmented: pixels must be bool, "
                         "integer or float; convert it, e.g. np.asarray(data, dtype=np.float32)")
    if not 2 <= len(shape) <= 5:
        raise ImageError(f"an image needs 2 to 5 dims from {DIMS}, but this one has {len(shape)} "
                         f"(shape {shape}); select or squeeze axes first, e.g. data.squeeze()")
    if 0 in shape:
        raise ImageError(f"the image is empty: shape {shape} has an axis of size 0; check the "
                         "file or the crop/selection that produced it")


def _infer_dims(shape: tuple[int, ...]) -> tuple[str, ...]:
    ndim, last = len(shape), shape[-1]
    if ndim == 2:
        return ("y", "x")
    if ndim == 3:
        return ("y", "x", "c") if last in (3, 4) else ("z", "y", "x")
    if ndim == 4 and last <= 4:
        return ("z", "y", "x", "c")
    if ndim == 5 and last <= 4:
        return ("t", "z", "y", "x", "c")
    example = "dims='tzyx' or dims='czyx'" if ndim == 4 else "dims='tczyx'"
    raise ImageError(f"cannot tell the dims of a {ndim}D image of shape {shape} (it could hold "
                     f"time, depth or channels); name its axes, e.g. {example}")


def _parse_dims(dims: Any, shape: tuple[int, ...]) -> tuple[str, ...]:
    names = tuple(dims.lower()) if isinstance(dims, str) else tuple(str(d).lower() for d in dims)
    spelled = "".join(names) if all(len(n) == 1 for n in names) else names
    unknown = [name for name in names if name not in DIMS]
    if unknown:
        raise ImageError(f"dims {spelled!r} (shape {shape}) use unknown names {unknown}; name "
                         "each axis t (time), z, y, x (space) or c (channel), e.g. dims='zyx'")
    if len(set(names)) != len(names):
        raise ImageError(f"dims {spelled!r} (shape {shape}) name an axis twice; give every axis "
                         "its own name, e.g. dims='czyx'")
    if len(names) != len(shape):
        raise ImageError(f"dims {spelled!r} name {len(names)} axes but the image has "
                         f"{len(shape)} (shape {shape}); give one name per axis, e.g. "
                         f"dims={'tczyx'[-len(shape):]!r}")
    if "y" not in names or "x" not in names:
        raise ImageError(f"dims {spelled!r} (shape {shape}) lack 'y' or 'x'; an image needs "
                         "both, e.g. dims='cyx'")
    return names


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _unit_name(unit: Any) -> str:
    text = str(unit).strip()
    return _UNIT_ALIASES.get(text.lower(), text)


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
        raw.dims_error = (f"{where} names its axes {tuple(names)} (shape {shape}), which do not "
                          "map to t, z, y, x, c; name them with dims=, e.g. dims='zyx'")
    return raw


# -- readers -------------------------------------------------------------------------


def _split_h5(text: str) -> tuple[Path, str] | None:
    match = _H5_PATH.match(text)
    return None if match is None else (Path(match[1]), match[2] or "")


def _read_path(text: str) -> _Raw:
    h5 = _split_h5(text)
    path = h5[0] if h5 else Path(text)
    if not path.exists():
        raise ImageError(f"no file or folder at {path} (absolute: {path.absolute()}); "
                         "check the spelling and the current directory")
    suffix = path.suffix.lower()
    reader: Callable[[Path], _Raw]
    if h5:
        name, reader = "HDF5", functools.partial(_read_h5, key=h5[1])
    elif path.is_dir():
        name, reader = "Zarr", _read_zarr
    elif suffix in _READERS:
        name, reader = _READERS[suffix]
    else:
        raise ImageError(f"cannot read {path}: unknown extension {suffix!r}. Supported are "
                         f"{_SUPPORTED}; convert the file, or load it yourself and pass the "
                         "array")
    try:
        return reader(path)
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"could not read {path} as {name}: {type(exc).__name__}: {exc}. The file "
                         f"may be truncated, corrupt or not {name}; re-export it, or fix its "
                         "extension") from exc


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
        raise ImageError(f"{path} holds Python objects, not pixels (brushlab never unpickles "
                         "files); save a numeric array instead, e.g. np.save(path, "
                         "data.astype(np.float32))") from exc


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
        raw.dims_error = (f"{where} has axes {unknown} (shape {data.shape}) that do not map to "
                          f"t, z, y, x, c; name every axis, e.g. dims={'tczyx'[-data.ndim:]!r}")
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
        raise ImageError(f"{path} is a folder but not a Zarr store (no zarr.json, .zarray or "
                         ".zgroup inside); pass an image file or a .zarr folder")
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
        raise ImageError(f"{path} is a Zarr group without OME-Zarr 'multiscales' metadata; "
                         f"pass the folder of one of its arrays instead (arrays: {arrays})")
    return _read_ome_zarr(node, multiscales[0], path)


def _read_ome_zarr(group: Any, multiscale: Mapping[str, Any], path: Path) -> _Raw:
    dataset = multiscale["datasets"][0]
    array = group[dataset["path"]]
    axes = multiscale.get("axes")
    names = None if axes is None else [a["name"] if isinstance(a, Mapping) else a for a in axes]
    raw = _metadata_dims(names, array.shape, f"OME-Zarr {path}")
    raw.data = np.asarray(array[...])
    scale = np.ones(array.ndim)
    for transforms in (dataset.get("coordinateTransformations"),
                       multiscale.get("coordinateTransformations")):
        for transform in transforms or []:
            if transform.get("type") == "scale" and len(transform.get("scale", [])) == array.ndim:
                scale = scale * np.asarray(transform["scale"], dtype=float)
    units = [a.get("unit", "") if isinstance(a, Mapping) else "" for a in axes or []]
    per_dim = {dim: (float(value), _unit_name(unit))  # raw.dims, if set, match axes and scale
               for dim, value, unit in zip(raw.dims or (), scale, units, strict=False)
               if dim in _SPATIAL and value > 0}
    raw.spacing, raw.unit = _merge_units(per_dim)
    return raw


def _read_h5(path: Path, key: str) -> _Raw:
    import h5py

    datasets: list[str] = []
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, obj: datasets.append(name)
                          if isinstance(obj, h5py.Dataset) else None)
        example = f"imread('{path}/{datasets[0] if datasets else 'data'}')"
        listing = ", ".join(datasets) or "none"
        if not key:
            raise ImageError(f"{path} is an HDF5 file: add the dataset to read after the file "
                             f"name, e.g. {example} (datasets in the file: {listing})")
        node = handle.get(key)
        if not isinstance(node, h5py.Dataset):
            raise ImageError(f"no dataset {key!r} in {path} (datasets in the file: {listing}); "
                             f"pass one of them, e.g. {example}")
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
        spacing = {a["key"]: float(a["resolution"]) for a in axes
                   if a.get("key") in _SPATIAL and float(a.get("resolution") or 0) > 0}
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
