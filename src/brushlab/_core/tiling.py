"""One tiling mechanism for features, fitting, in-memory and blockwise prediction.

A tile is a tuple of slices over the spatial axes. Its block is the tile grown
by the feature halo; where the halo leaves the image the block is mirrored
(``numpy.pad(mode="symmetric")``, the same boundary as ``scipy.ndimage``'s
``"reflect"``), so a tile's features equal those of the whole image there.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from brushlab._core.backend import array_module

__all__ = ["iter_tiles", "read_with_halo"]


def iter_tiles(
    shape: Sequence[int], tile_shape: Sequence[int] | None
) -> Iterator[tuple[slice, ...]]:
    """Yield the tiles covering ``shape`` on a grid of ``tile_shape``, C order.

    ``tile_shape=None`` (or an entry of None) means one tile along that axis.
    """
    if tile_shape is None:
        tile_shape = [None] * len(shape)  # type: ignore[list-item]
    if len(tile_shape) != len(shape):
        raise ValueError(f"tile_shape {tuple(tile_shape)} does not match shape {tuple(shape)}")
    steps = [int(n) if t is None else max(1, int(t)) for n, t in zip(shape, tile_shape)]
    ranges = [range(0, max(n, 1), s) for n, s in zip(shape, steps)]
    for starts in itertools.product(*ranges):
        yield tuple(slice(a, min(a + s, n)) for a, s, n in zip(starts, steps, shape))


def read_with_halo(array: Any, tile: Sequence[slice], halo: Sequence[int]) -> Any:
    """Return ``array[..., tile]`` grown by ``halo`` on each side, mirrored at the edges.

    The tile and halo address the trailing ``len(tile)`` axes; leading axes are
    kept whole. Mirroring repeats as often as needed (a halo larger than the
    image), exactly as ``numpy.pad(mode="symmetric")`` of the whole array.
    """
    xp = array_module(array)
    lead = array.ndim - len(tile)
    spatial = array.shape[lead:]
    inner: list[Any] = []
    fancy = False
    for sl, h, n in zip(tile, halo, spatial):
        lo, hi = sl.start - h, sl.stop + h
        if lo >= 0 and hi <= n:
            inner.append(slice(lo, hi))
        else:
            inner.append(xp.asarray(_mirror(np.arange(lo, hi), n)))
            fancy = True
    if not fancy:
        return array[(Ellipsis, *inner)]
    index = [i if isinstance(i, slice) else i for i in inner]
    block = array
    for k, idx in enumerate(index):
        axis = lead + k
        block = block[(slice(None),) * axis + (idx,)]
    return block


def _mirror(index: np.ndarray, n: int) -> np.ndarray:
    """Map any integer index onto ``0..n-1`` by symmetric reflection (edge sample repeated)."""
    period = 2 * n
    i = np.mod(index, period)
    return np.where(i >= n, period - 1 - i, i)
