"""Read microscopy images into arrays with named dimensions.

Every image is an :class:`xarray.DataArray` whose dims are a subset of
``("t", "z", "y", "x", "c")`` in that order. ``attrs["spacing"]`` holds the
physical pixel size of each spatial dim present (``1.0`` where unknown),
``attrs["unit"]`` its unit (``"pixel"`` where unknown) and ``attrs["source"]``
the path the pixels came from (``"array"`` for in-memory data). Channel names a
file gives (OME-Zarr ``omero`` labels) become the ``c`` coordinate.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from brushlab.io._budget import check_budget
from brushlab.io._dims import (
    DIMS,
    SPATIAL,
    check_pixels,
    infer_dims,
    parse_dims,
    positive_spacing,
    spacing_of,
    unit_name,
)
from brushlab.io._formats import FileImage, open_file, reading

__all__ = ["DIMS", "as_image", "imread", "spacing_of"]


def imread(source: Any, dims: str | Sequence[str] | None = None, *,
           max_bytes: int | None = None, scene: int | str | None = None) -> xr.DataArray:
    """Read an image from a file, a folder or an array, into memory.

    The file is opened as :func:`brushlab.io.open_image` opens it, its declared
    size checked against the memory budget, then read whole.

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
    max_bytes : int, optional
        Most bytes the image may take in memory; defaults to the environment
        variable ``BRUSHLAB_MAX_IMAGE_BYTES``, else half the memory available.
        Checked against the size the file declares, before reading.
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
        If the file is missing, of an unknown type, unreadable or empty, its
        dims cannot be told (pass ``dims=`` then), or it is larger than
        ``max_bytes`` (open it with :func:`brushlab.io.open_image` then).

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
    text = str(os.fspath(source))
    opened = open_file(text)
    names = opened.names(dims)
    stored = opened.array
    check_pixels(opened.shape, stored.dtype)
    check_budget(stored.nbytes, stored.shape, stored.dtype, text, max_bytes)
    with reading(text, opened.format):
        data = opened.arrange(stored.read()[opened.index])
    return from_file(data, opened, names, text, channels=dims is None)


def from_file(data: Any, opened: FileImage, names: tuple[str, ...], source: str, *,
              channels: bool = True) -> xr.DataArray:
    """Name ``data`` (numpy or dask, read from ``opened``) as a canonical image."""
    image = xr.DataArray(data, dims=names)
    if channels and opened.channel_names is not None and "c" in names:
        image = image.assign_coords(c=list(opened.channel_names))
    return _finish(image, spacing=opened.spacing, unit=opened.unit, source=source)


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


# -- assembling a canonical DataArray -------------------------------------------------


def _assemble(
    data: Any, dims: Any, *, spacing: Mapping[str, Any], unit: str, source: str
) -> xr.DataArray:
    check_pixels(data.shape, data.dtype)
    names = infer_dims(data.shape) if dims is None else parse_dims(dims, data.shape)
    image = xr.DataArray(data, dims=names)
    return _finish(image, spacing=spacing, unit=unit, source=source)


def _from_dataarray(data: xr.DataArray, dims: Any) -> xr.DataArray:
    check_pixels(data.shape, data.dtype)
    spacing = _mapping(data.attrs.get("spacing"))
    names = parse_dims(data.dims if dims is None else dims, data.shape)
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
    sizes = {dim: positive_spacing(dim, spacing.get(dim, 1.0))
             for dim in SPATIAL if dim in image.dims}
    image.attrs = {**image.attrs, "spacing": sizes, "unit": unit_name(unit), "source": source}
    return image


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
