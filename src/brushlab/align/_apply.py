"""Warp sections with their alignment transforms: images linear, labels nearest neighbour.

Each output pixel ``p`` of section ``z`` is read from the source section at
``M_z @ (p + d_z(p))``, where ``d_z`` (optional) is the section's coarse displacement
field sampled bilinearly at ``p``. Every step is computed per pixel, so warping a whole
section and warping it in pieces give the same numbers. Only interpolation orders 0
(nearest, for labels) and 1 (linear) are offered: higher spline orders prefilter the
whole section, which pieces cannot reproduce.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

__all__ = ["source_coordinates", "warp_section"]


def source_coordinates(matrix: np.ndarray, region: Sequence[slice],
                       field: np.ndarray | None = None, step: float | None = None,
                       ) -> np.ndarray:
    """Source ``(y, x)`` coordinates, shape ``(2, h, w)``, of the output pixels in ``region``."""
    ys = np.arange(region[0].start, region[0].stop, dtype=np.float64)
    xs = np.arange(region[1].start, region[1].stop, dtype=np.float64)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    if field is not None and step:
        grid = np.stack([yy / step, xx / step])
        yy = yy + ndi.map_coordinates(field[0].astype(np.float64), grid, order=1, mode="nearest",
                                      prefilter=False)
        xx = xx + ndi.map_coordinates(field[1].astype(np.float64), grid, order=1, mode="nearest",
                                      prefilter=False)
    m = np.asarray(matrix, dtype=np.float64)
    sy = m[0, 0] * yy + m[0, 1] * xx + m[0, 2]
    sx = m[1, 0] * yy + m[1, 1] * xx + m[1, 2]
    return np.stack([sy, sx])


def warp_section(section: np.ndarray, matrix: np.ndarray, *, field: np.ndarray | None = None,
                 step: float | None = None, order: int = 1, fill: float = 0,
                 shape: tuple[int, int] | None = None) -> np.ndarray:
    """Warp one section, ``(y, x)`` or ``(c, y, x)``, keeping its dtype.

    Integer images are rounded and clipped to their dtype after linear interpolation;
    pixels that fall outside the source get ``fill``.
    """
    if order not in (0, 1):
        raise ValueError(f"order must be 0 (nearest, for labels) or 1 (linear), not {order}")
    data = np.asarray(section)
    if data.dtype.kind == "b":  # a mask: nearest neighbour on bytes
        return warp_section(data.view(np.uint8), matrix, field=field, step=step, order=0,
                            fill=fill, shape=shape).astype(bool)
    planes = data[None] if data.ndim == 2 else data
    out_shape = tuple(shape or planes.shape[-2:])
    coords = source_coordinates(matrix, (slice(0, out_shape[0]), slice(0, out_shape[1])),
                                field, step)
    if order == 0:
        coords = np.floor(coords + 0.5)  # round half up, the same in every piece
    out = np.empty((len(planes), *out_shape), dtype=data.dtype)
    for k, plane in enumerate(planes):
        if order == 0 or data.dtype.kind == "f":
            out[k] = ndi.map_coordinates(plane, coords, order=order, mode="constant",
                                         cval=fill, prefilter=False, output=data.dtype)
            continue
        values = ndi.map_coordinates(plane.astype(np.float64), coords, order=1,
                                     mode="constant", cval=float(fill), prefilter=False)
        if data.dtype.kind in "iu":
            info = np.iinfo(data.dtype)
            values = np.clip(np.rint(values), info.min, info.max)
        out[k] = values.astype(data.dtype)
    return out[0] if data.ndim == 2 else out
