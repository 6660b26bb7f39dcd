"""Arrays to canonical images: named dims from ``t, z, y, x, c``, spacing and unit in attrs.

The bottom of reading: every reader (files, vendor formats, arrays in memory) ends here.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from brushlab.io._dims import (
    DIMS,
    SPATIAL,
    check_pixels,
    infer_dims,
    parse_dims,
    positive_spacing,
    unit_name,
)
from brushlab.io._formats import FileImage

__all__ = ["array_image", "from_file"]


def from_file(data: Any, opened: FileImage, names: tuple[str, ...], source: str, *,
              channels: bool = True) -> xr.DataArray:
    """Name ``data`` (numpy or dask, read from ``opened``) as a canonical image."""
    image = xr.DataArray(data, dims=names)
    if channels and opened.channel_names is not None and "c" in names:
        image = image.assign_coords(c=list(opened.channel_names))
    return _finish(image, spacing=opened.spacing, unit=opened.unit, source=source)


def array_image(data: Any, dims: str | Sequence[str] | None = None) -> xr.DataArray:
    """Name an in-memory array (numpy, cupy, dask or xarray) as a canonical image.

    :func:`brushlab.io.as_image` is this plus paths (read with :func:`brushlab.io.imread`).

    Examples
    --------
    >>> import numpy as np
    >>> array_image(np.zeros((4, 5), np.uint8)).dims
    ('y', 'x')
    """
    if isinstance(data, xr.DataArray):
        return _from_dataarray(data, dims)
    if not isinstance(data, np.ndarray) and not type(data).__module__.startswith("cupy"):
        data = np.asarray(data)
    return _assemble(data, dims, spacing={}, unit="pixel", source="array")


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
