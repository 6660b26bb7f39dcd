"""2D classifiers on 3D stacks: predict plane by plane, as if each plane were its own image.

Training on a few 2D planes and applying the model to a whole z-stack is the everyday EM
and light-sheet workflow (ZEISS Intellesis applies 2D models per plane too). A 3D block
gets a halo of 0 along z and each of its planes is predicted with the 2D features, so a
stack's result equals predicting every plane alone, bit for bit, in memory, blockwise
(Dask) and in the Session alike. Time series need nothing here: frames are predicted one
by one already.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from brushlab._core.tiling import read_with_halo

if TYPE_CHECKING:
    pass

__all__ = ["per_plane", "plane_halo", "plane_tile", "predict_plane_region", "predict_planes"]


def per_plane(clf: Any, ndim: int) -> bool:
    """Whether ``clf`` predicts images with ``ndim`` spatial dims plane by plane.

    Examples
    --------
    >>> import numpy as np, brushlab
    >>> image = np.zeros((16, 16), np.float32); image[:, 8:] = 1
    >>> labels = np.zeros((16, 16), np.uint8); labels[2, 1:6] = 1; labels[2, 10:15] = 2
    >>> clf = brushlab.PixelClassifier(n_trees=2, random_state=0).fit(image, labels)
    >>> per_plane(clf, 3), per_plane(clf, 2)
    (True, False)
    """
    return clf.spatial_ndim == 2 and ndim == 3


def plane_halo(clf: Any, spacing: Sequence[float]) -> tuple[int, ...]:
    """Halo per spatial axis: the features' own, or 0 along z for a 2D model on a stack."""
    if per_plane(clf, len(spacing)):
        return (0, *(int(h) for h in clf.features.halo(list(spacing[1:]))))
    return tuple(int(h) for h in clf.features.halo(list(spacing)))


def plane_tile(clf: Any, tile: Sequence[int], ndim: int) -> tuple[int, ...]:
    """Return a tile for ``ndim`` dims: a 2D model's 2D tile is one plane thick on a stack."""
    tile = tuple(int(t) for t in tile)
    return (1, *tile) if per_plane(clf, ndim) and len(tile) == 2 else tile


def predict_planes(
    clf: Any,
    block: Any,
    *,
    halo: Sequence[int],
    origin: Sequence[int],
    spacing: Sequence[float] | None,
) -> np.ndarray:
    """``(K, Z, Y, X)`` probabilities of a ``(C, Z, Y, X)`` block, one 2D plane at a time.

    ``halo[0]`` must be 0: planes do not see their neighbours.
    """
    if int(halo[0]) != 0:
        raise ValueError(f"a 2D model predicts a stack plane by plane: the z halo must be 0, "
                         f"not {halo[0]}")
    sp = None if spacing is None else list(spacing)[1:]
    planes = [
        clf.predict_tile(block[:, z], halo=halo[1:], origin=origin[1:], spacing=sp)
        for z in range(int(block.shape[1]))
    ]
    return np.stack(planes, axis=1)


def predict_plane_region(
    clf: Any,
    frame: Any,
    z: int,
    region: tuple[slice, slice],
    spacing: Sequence[float],
    step: int = 1,
) -> np.ndarray:
    """``(K, h, w)`` probabilities of a y/x ``region`` of plane ``z`` of a ``(C, Z, Y, X)`` frame.

    Every ``step``-th pixel in y and x, as the Session's previews; the values equal
    those of predicting the plane alone.
    """
    plane = frame[:, int(z)]
    halo = tuple(int(h) for h in clf.features.halo(list(spacing)[1:]))
    block = read_with_halo(plane, region, halo)
    origin = [r.start - h for r, h in zip(region, halo)]
    proba = clf.predict_tile(block, halo=halo, origin=origin, spacing=list(spacing)[1:])
    return np.ascontiguousarray(proba[:, ::step, ::step])
