"""Disc brush swept along a polyline: the pixels a stroke covers, vectorised per segment.

A pixel is painted when its centre lies within ``radius + 0.5`` of the stroke's
path, the path being the straight segments between consecutive points rounded to
pixel centres. So radius 0 paints an unbroken one-pixel line (8-connected),
radius 1 a three-pixel-wide one, and a single point paints a digital disc.
Interpolating between the sparse points a fast drag delivers is what leaves no
gaps; each segment costs a few numpy operations on its bounding box.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from brushlab.errors import LabelError

__all__ = ["as_points", "segment_masks"]


def as_points(points: Any) -> np.ndarray:
    """Return ``points`` as a float ``(n, 2)`` array of ``(y, x)`` pixel coordinates.

    Raises
    ------
    LabelError
        If they are not ``(y, x)`` pairs of finite numbers.
    """
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise LabelError(f"stroke points must be (y, x) number pairs, got {points!r}") from exc
    if arr.ndim == 1 and arr.shape == (2,):
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise LabelError(
            f"stroke points must be an (n, 2) array of (y, x) pairs, got shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise LabelError("stroke points contain NaN or infinity: pass finite (y, x) coordinates")
    return np.rint(arr)


def segment_masks(
    points: np.ndarray, radius: float, shape: Sequence[int]
) -> Iterator[tuple[tuple[slice, slice], np.ndarray]]:
    """Yield ``(box, mask)`` per segment: the pixels of ``box`` the brush covers.

    Parameters
    ----------
    points : numpy.ndarray
        ``(n, 2)`` rounded ``(y, x)`` points; one point stamps a disc.
    radius : float
        Brush radius in pixels (0 = one-pixel line).
    shape : sequence of int
        ``(height, width)`` of the plane; boxes are clipped to it, so points
        outside the image paint only the part of the stroke inside it.

    Yields
    ------
    tuple
        ``(slice_y, slice_x)`` and a boolean mask of that box's shape; segments
        that miss the plane yield nothing.
    """
    reach = float(radius) + 0.5
    limit = reach * reach + 1e-9
    height, width = int(shape[0]), int(shape[1])
    starts = points if len(points) == 1 else points[:-1]
    ends = points if len(points) == 1 else points[1:]
    for a, b in zip(starts, ends):
        y0 = max(int(np.floor(min(a[0], b[0]) - reach)), 0)
        y1 = min(int(np.ceil(max(a[0], b[0]) + reach)) + 1, height)
        x0 = max(int(np.floor(min(a[1], b[1]) - reach)), 0)
        x1 = min(int(np.ceil(max(a[1], b[1]) + reach)) + 1, width)
        if y0 >= y1 or x0 >= x1:
            continue
        yy = np.arange(y0, y1, dtype=np.float64)[:, None] - a[0]
        xx = np.arange(x0, x1, dtype=np.float64)[None, :] - a[1]
        dy, dx = b[0] - a[0], b[1] - a[1]
        length2 = dy * dy + dx * dx
        if length2 > 0:
            t = np.clip((yy * dy + xx * dx) / length2, 0.0, 1.0)
            dist2 = (yy - t * dy) ** 2 + (xx - t * dx) ** 2
        else:
            dist2 = yy * yy + xx * xx
        mask = dist2 <= limit
        if mask.any():
            yield (slice(y0, y1), slice(x0, x1)), mask
