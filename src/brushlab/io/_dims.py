"""From a canonical image (t, z, y, x, c) to the per-frame ``(C, *spatial)`` blocks filters read."""

from __future__ import annotations

from typing import Any, NamedTuple

import xarray as xr

from brushlab._core.backend import asarray_on

__all__ = ["Frames", "split_frames"]


class Frames(NamedTuple):
    """Per-time arrays ``(C, *spatial)`` of one image and their geometry."""

    arrays: list[Any]
    spatial_dims: list[str]
    spacing: list[float]

    @property
    def n_channels(self) -> int:
        """Channels per frame (1 for an image without a ``c`` dim)."""
        return int(self.arrays[0].shape[0])

    @property
    def ndim(self) -> int:
        """Number of spatial dims (2 or 3)."""
        return len(self.spatial_dims)


def split_frames(img: xr.DataArray, device: str | None = None) -> Frames:
    """Split ``img`` into per-time ``(C, *spatial)`` arrays, moved to ``device`` if given."""
    from brushlab.io._image import spacing_of

    spatial: list[str] = [d for d in ("z", "y", "x") if d in img.dims]
    sp = spacing_of(img)
    spacing = [float(sp.get(d, 1.0)) for d in spatial]
    order = [d for d in ("t", "c") if d in img.dims] + spatial
    data = img.transpose(*order).data
    if "c" not in img.dims:
        data = data[:, None] if "t" in img.dims else data[None]
    if "t" not in img.dims:
        data = data[None]
    if device is not None:
        data = asarray_on(data, device)
    return Frames(list(data), spatial, spacing)
