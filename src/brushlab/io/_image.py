"""Read microscopy images into arrays with named dimensions.

Every image is an :class:`xarray.DataArray` whose dims are a subset of
``("t", "z", "y", "x", "c")`` in that order. ``attrs["spacing"]`` holds the
physical pixel size of each spatial dim present (``1.0`` where unknown),
``attrs["unit"]`` its unit (``"pixel"`` where unknown) and ``attrs["source"]``
the path the pixels came from (``"array"`` for in-memory data).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from brushlab.errors import ImageError

if TYPE_CHECKING:
    from brushlab.io._readers import _Raw

__all__ = ["DIMS", "as_image", "imread", "spacing_of"]

DIMS = ("t", "z", "y", "x", "c")
_SPATIAL = ("z", "y", "x")
_SUPPORTED = (
    ".png, .jpg/.jpeg, .tif/.tiff (OME-TIFF and ImageJ too), .npy, 'file.h5/dataset' "
    "(.h5/.hdf5/.hdf), .zarr folders (OME-Zarr too) and, with bioio, .czi, .nd2, .lif, .dv, "
    ".r3d, .sldy"
)
_H5_PATH = re.compile(r"^(.*?\.(?:h5|hdf5|hdf))(?:[/\\](.*))?$", re.IGNORECASE)
_UNIT_ALIASES = {
    "um": "micrometer",
    "µm": "micrometer",
    "μm": "micrometer",
    "\\u00b5m": "micrometer",
    "micron": "micrometer",
    "microns": "micrometer",
    "micrometre": "micrometer",
    "nm": "nanometer",
    "nanometre": "nanometer",
    "mm": "millimeter",
    "millimetre": "millimeter",
    "cm": "centimeter",
    "m": "meter",
    "metre": "meter",
    "": "pixel",
    "px": "pixel",
    "pixels": "pixel",
}


def imread(
    source: Any, dims: str | Sequence[str] | None = None, *, scene: int | str | None = None
) -> xr.DataArray:
    """Read an image from a file, a folder or an array, into memory.

    Parameters
    ----------
    source : str, path-like, array or xarray.DataArray
        A PNG/JPEG, TIFF (first series; OME and ImageJ metadata) or ``.npy``
        file, a ``.zarr`` folder (an array, or an OME-Zarr group: level 0), an
        HDF5 dataset as ``"file.h5/path/to/dataset"``, or in-memory data (see
        :func:`as_image`). Microscopes' own files (``.czi``, ``.nd2``, ``.lif``, ...)
        are read through bioio (``pip install 'brushlab[formats]'``).
    dims : str or sequence of str, optional
        Names of the axes as stored, e.g. ``"zyx"``; overrides the metadata.
    scene : int or str, optional
        Scene (position, series) of a CZI/ND2/LIF/... file, by index or name;
        the first when None.

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
    from brushlab.io._bioio import handles, read_bioio  # CZI, ND2, LIF, ...: via bioio

    if scene is not None or handles(source):
        return read_bioio(source, scene=scene, dims=dims)
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


def _assemble(
    data: Any, dims: Any, *, spacing: Mapping[str, Any], unit: str, source: str
) -> xr.DataArray:
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
    return _finish(
        data,
        spacing=spacing,
        unit=data.attrs.get("unit", "pixel"),
        source=str(data.attrs.get("source", "array")),
    )


def _finish(
    image: xr.DataArray, *, spacing: Mapping[str, Any], unit: Any, source: str
) -> xr.DataArray:
    image = image.transpose(*[dim for dim in DIMS if dim in image.dims]).copy(deep=False)
    sizes = {dim: _positive(dim, spacing.get(dim, 1.0)) for dim in _SPATIAL if dim in image.dims}
    image.attrs = {**image.attrs, "spacing": sizes, "unit": _unit_name(unit), "source": source}
    return image


def _positive(dim: str, value: Any) -> float:
    number = value if isinstance(value, (int, float, np.number)) else float("nan")
    if not (np.isfinite(number) and number > 0):
        raise ImageError(
            f"the spacing of {dim!r} is {value!r}, but a pixel size must be a "
            f"positive finite number, e.g. spacing={{{dim!r}: 0.5}} (or 1.0)"
        )
    return float(number)


def _validate(data: Any) -> None:
    dtype, shape = np.dtype(data.dtype), tuple(data.shape)
    if dtype.kind not in "biuf":
        raise ImageError(
            f"an image of dtype {dtype} cannot be segmented: pixels must be bool, "
            "integer or float; convert it, e.g. np.asarray(data, dtype=np.float32)"
        )
    if not 2 <= len(shape) <= 5:
        raise ImageError(
            f"an image needs 2 to 5 dims from {DIMS}, but this one has {len(shape)} "
            f"(shape {shape}); select or squeeze axes first, e.g. data.squeeze()"
        )
    if 0 in shape:
        raise ImageError(
            f"the image is empty: shape {shape} has an axis of size 0; check the "
            "file or the crop/selection that produced it"
        )


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
    raise ImageError(
        f"cannot tell the dims of a {ndim}D image of shape {shape} (it could hold "
        f"time, depth or channels); name its axes, e.g. {example}"
    )


def _parse_dims(dims: Any, shape: tuple[int, ...]) -> tuple[str, ...]:
    names = tuple(dims.lower()) if isinstance(dims, str) else tuple(str(d).lower() for d in dims)
    spelled = "".join(names) if all(len(n) == 1 for n in names) else names
    unknown = [name for name in names if name not in DIMS]
    if unknown:
        raise ImageError(
            f"dims {spelled!r} (shape {shape}) use unknown names {unknown}; name "
            "each axis t (time), z, y, x (space) or c (channel), e.g. dims='zyx'"
        )
    if len(set(names)) != len(names):
        raise ImageError(
            f"dims {spelled!r} (shape {shape}) name an axis twice; give every axis "
            "its own name, e.g. dims='czyx'"
        )
    if len(names) != len(shape):
        raise ImageError(
            f"dims {spelled!r} name {len(names)} axes but the image has "
            f"{len(shape)} (shape {shape}); give one name per axis, e.g. "
            f"dims={'tczyx'[-len(shape) :]!r}"
        )
    if "y" not in names or "x" not in names:
        raise ImageError(
            f"dims {spelled!r} (shape {shape}) lack 'y' or 'x'; an image needs "
            "both, e.g. dims='cyx'"
        )
    return names


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _unit_name(unit: Any) -> str:
    text = str(unit).strip()
    return _UNIT_ALIASES.get(text.lower(), text)


# -- dispatch to the readers of brushlab.io._readers ---------------------------------------


def _split_h5(text: str) -> tuple[Path, str] | None:
    match = _H5_PATH.match(text)
    return None if match is None else (Path(match[1]), match[2] or "")


def _read_path(text: str) -> _Raw:
    # Imported here: brushlab.io._readers imports DIMS and the unit helpers from this module.
    from brushlab.io._readers import _READERS, _read_h5, _read_zarr

    h5 = _split_h5(text)
    path = h5[0] if h5 else Path(text)
    if not path.exists():
        raise ImageError(
            f"no file or folder at {path} (absolute: {path.absolute()}); "
            "check the spelling and the current directory"
        )
    suffix = path.suffix.lower()
    reader: Callable[[Path], _Raw]
    if h5:
        name, reader = "HDF5", functools.partial(_read_h5, key=h5[1])
    elif path.is_dir():
        name, reader = "Zarr", _read_zarr
    elif suffix in _READERS:
        name, reader = _READERS[suffix]
    else:
        raise ImageError(
            f"cannot read {path}: unknown extension {suffix!r}. Supported are "
            f"{_SUPPORTED}; convert the file, or load it yourself and pass the "
            "array"
        )
    try:
        return reader(path)
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(
            f"could not read {path} as {name}: {type(exc).__name__}: {exc}. The file "
            f"may be truncated, corrupt or not {name}; re-export it, or fix its "
            "extension"
        ) from exc
