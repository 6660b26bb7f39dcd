"""Shared plumbing of the object functions: numpy/cupy/xarray in and out, spacing, ndimage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import xarray as xr

from brushlab._core.backend import array_module, is_cupy
from brushlab.errors import ImageError, LabelError

__all__ = ["Spatial", "unwrap", "rewrap", "ndimage_of", "as_label_array"]

_SPATIAL = ("z", "y", "x")
SpacingLike = float | Sequence[float] | Mapping[str, float] | None


class Spatial:
    """An array with 2 or 3 spatial axes, its spacing and (for xarray input) its template."""

    def __init__(self, array: Any, spacing: tuple[float, ...], template: xr.DataArray | None):
        self.array = array
        self.spacing = spacing
        self.template = template

    @property
    def ndim(self) -> int:
        """Number of spatial axes (2 or 3)."""
        return int(self.array.ndim)

    @property
    def dims(self) -> tuple[str, ...]:
        """Names of the spatial axes."""
        return _SPATIAL[-self.ndim :]


def _spacing(value: SpacingLike, dims: Sequence[str], what: str) -> tuple[float, ...]:
    if value is None:
        return (1.0,) * len(dims)
    if isinstance(value, Mapping):
        values = [value.get(d, 1.0) for d in dims]
    elif isinstance(value, (int, float, np.number)):
        values = [value] * len(dims)
    else:
        values = list(value)
        if len(values) != len(dims):
            raise ImageError(
                f"spacing {tuple(values)} has {len(values)} entries but {what} has "
                f"{len(dims)} spatial axes {tuple(dims)}: give one pixel size per axis"
            )
    out = []
    for d, v in zip(dims, values):
        f = float(v)
        if not (np.isfinite(f) and f > 0):
            raise ImageError(f"the spacing of {d!r} is {v!r}: a pixel size must be positive")
        out.append(f)
    return tuple(out)


def unwrap(data: Any, *, spacing: SpacingLike = None, what: str = "the mask") -> Spatial:
    """Split numpy/cupy/xarray input into its array, spacing and xarray template.

    ``spacing`` overrides an xarray's ``attrs["spacing"]``. Raises ``LabelError`` for
    other than 2 or 3 spatial axes (time and channels must be iterated by the caller).
    """
    template = None
    if isinstance(data, xr.DataArray):
        extra = [d for d in data.dims if d not in _SPATIAL]
        if extra or not {"y", "x"} <= set(data.dims):
            raise LabelError(
                f"{what} has dims {data.dims}; objects are found in 2D (y, x) or 3D (z, y, x) "
                f"images: select one {'/'.join(map(str, extra)) or 'plane'} first, "
                "e.g. data.isel(t=0)"
            )
        template = data.transpose(*[d for d in _SPATIAL if d in data.dims])
        stored = template.attrs.get("spacing")
        dims = [str(d) for d in template.dims]
        if spacing is None and isinstance(stored, Mapping):
            spacing = stored
        return Spatial(template.data, _spacing(spacing, dims, what), template)
    array = data if is_cupy(data) else np.asarray(data)
    if array.ndim not in (2, 3):
        raise LabelError(
            f"{what} has {array.ndim} dims (shape {array.shape}); objects are found in 2D "
            "(y, x) or 3D (z, y, x) arrays: select one plane, time point or channel first"
        )
    if array.size == 0:
        raise LabelError(f"{what} is empty (shape {array.shape})")
    dims = list(_SPATIAL[-array.ndim :])
    return Spatial(array, _spacing(spacing, dims, what), template)


def rewrap(array: Any, source: Spatial, *, name: str | None = None) -> Any:
    """Return ``array`` in the kind of ``source``: a DataArray like its template, or an array."""
    if source.template is None:
        return array
    t = source.template
    coords = {k: v for k, v in t.coords.items() if set(v.dims) <= set(t.dims)}
    attrs = {**t.attrs, "spacing": dict(zip(source.dims, source.spacing))}
    return xr.DataArray(array, dims=t.dims, coords=coords, attrs=attrs, name=name)


def ndimage_of(array: Any) -> ModuleType:
    """``scipy.ndimage`` for numpy arrays, ``cupyx.scipy.ndimage`` for cupy arrays."""
    if is_cupy(array):
        import cupyx.scipy.ndimage

        return cupyx.scipy.ndimage
    import scipy.ndimage

    return scipy.ndimage


def as_label_array(array: Any, what: str) -> Any:
    """Check integer (or bool) labels without negatives; return them as given."""
    xp = array_module(array)
    if array.dtype == bool:
        return array
    if not xp.issubdtype(array.dtype, xp.integer):
        raise LabelError(
            f"{what} must be integer or bool, not {array.dtype}: threshold a probability "
            "first (e.g. prob > 0.5), or use method='watershed' for a boundary probability"
        )
    if array.size and int(array.min()) < 0:
        raise LabelError(f"{what} holds negative values; use 0 for background and 1..N")
    return array


def full_structure(ndim: int) -> np.ndarray:
    """Return the connectivity structure over all neighbours (8 in 2D, 26 in 3D)."""
    return np.ones((3,) * ndim, dtype=bool)
