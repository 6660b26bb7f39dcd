"""Fit and predict from cached feature tiles: the compute half of a Session.

``PixelClassifier.fit`` and ``predict`` compute features per tile; here they
come from a :class:`FeatureCache` instead, arranged exactly as those methods
would arrange them (same rows in the same order), so a forest trained here is
the forest ``fit`` would train and region predictions equal ``predict``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from typing import Any

import numpy as np

from brushlab.classifier import FIT_TILE, PixelClassifier
from brushlab.session._feature_cache import FeatureCache

__all__ = [
    "Cancelled",
    "fit_order",
    "gather_rows",
    "fit_classifier",
    "predict_rows",
    "predict_box",
]

_CHUNK_PIXELS = 32768  # rows per prediction job: balances threads, stays in cache


class Cancelled(Exception):
    """A newer request made this computation pointless."""


def fit_order(coords: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Permutation putting labelled pixels in the order ``PixelClassifier.fit`` reads them.

    ``fit`` walks its fit tiles in C order and each tile's labelled pixels in C
    order; ``coords`` (from ``numpy.nonzero``, global C order) only need a stable
    sort by fit tile.
    """
    ndim = coords.shape[0]
    tile = np.asarray(FIT_TILE[ndim])[:, None]
    grid = [-(-int(n) // int(t)) for n, t in zip(shape, tile[:, 0])]
    tile_id = np.ravel_multi_index(tuple(coords // tile), grid)
    return np.argsort(tile_id, kind="stable")


def gather_rows(cache: FeatureCache, key: int, frame: int, coords: np.ndarray) -> np.ndarray:
    """Features ``(n, n_features)`` of the pixels at ``coords`` ``(ndim, n)``, in that order."""
    n = coords.shape[1]
    out = np.empty((n, cache.n_features(key)), dtype=np.float32)
    if n == 0:
        return out
    tiles = cache.tile_of(key, coords)
    grid_max = tiles.max(axis=1) + 1
    tile_id = np.ravel_multi_index(tuple(tiles), tuple(int(g) for g in grid_max))
    order = np.argsort(tile_id, kind="stable")
    bounds = np.flatnonzero(np.diff(tile_id[order])) + 1
    groups = np.split(order, bounds)
    futures: list[tuple[np.ndarray, Future[np.ndarray], tuple[slice, ...]]] = []
    for sel in groups:
        index = tuple(int(i) for i in tiles[:, sel[0]])
        futures.append((sel, cache.request(key, frame, index), cache.tile_box(key, index)))
    for sel, future, box in futures:
        feats = future.result()
        local = tuple(coords[a, sel] - box[a].start for a in range(coords.shape[0]))
        out[sel] = feats[local]
    return out


def fit_classifier(
    clf: PixelClassifier,
    x: np.ndarray,
    y: np.ndarray,
    *,
    class_names: Sequence[str],
    n_channels: int,
    ndim: int,
    n_images: int,
    model: Any = None,
) -> PixelClassifier:
    """Fit ``clf`` on feature rows, leaving it as ``PixelClassifier.fit`` would.

    Parameters
    ----------
    clf : PixelClassifier
        Untrained; its settings build the forest unless ``model`` is given.
    x, y : numpy.ndarray
        ``(n, n_features)`` float32 rows and their class ids (1..K).
    class_names : sequence of str
        Names of classes 1..K.
    n_channels, ndim : int
        Channels and spatial dims of the images the rows come from.
    n_images : int
        Images the labels come from (recorded in ``clf.training``).
    model : scikit-learn classifier, optional
        Estimator to fit instead of a new forest from ``clf``'s settings.

    Returns
    -------
    PixelClassifier
        ``clf``, trained.
    """
    return clf.fit_features(
        x,
        y,
        class_names=class_names,
        n_channels=n_channels,
        spatial_ndim=ndim,
        n_images=n_images,
        model=model,
    )


def predict_rows(clf: PixelClassifier, rows: np.ndarray) -> np.ndarray:
    """Probabilities ``(K, n)`` of feature rows ``(n, n_features)`` (C-contiguous float32).

    Goes through the classifier's own tile path, fed a transposed view, so the
    values equal ``PixelClassifier.predict`` bit for bit and nothing is copied.
    """
    return clf.predict_features(rows.T)


def _axis_plan(
    want: slice, tile: slice, step: int
) -> tuple[slice, slice] | None:
    """Local slice into a tile and output slice, for one axis at ``step``."""
    lo, hi = max(want.start, tile.start), min(want.stop, tile.stop)
    first = lo + (want.start - lo) % step
    if first >= hi:
        return None
    count = len(range(first, hi, step))
    out0 = (first - want.start) // step
    return slice(first - tile.start, hi - tile.start, step), slice(out0, out0 + count)


def predict_box(
    cache: FeatureCache,
    key: int,
    frame: int,
    box: Sequence[slice],
    step: int,
    clf: PixelClassifier,
    pool: Executor,
    cancelled: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Probabilities of a spatial box from cached features, every ``step``-th pixel in y and x.

    Parameters
    ----------
    cache : FeatureCache
        Holds (or computes) the features.
    key, frame : int
        Source and time index.
    box : sequence of slice
        Spatial region with start/stop inside the image (z, if any, first).
    step : int
        Stride along the last two axes (1 = full resolution); the output holds
        pixels ``box.start + i * step``.
    clf : PixelClassifier
        Trained on the cache's feature set.
    pool : concurrent.futures.Executor
        Runs the prediction jobs.
    cancelled : callable, optional
        Polled between jobs; when it returns True, :class:`Cancelled` is raised.

    Returns
    -------
    numpy.ndarray
        ``(K, *shape)`` float32, the box's shape reduced by ``step`` in y and x.
    """
    nd = len(box)
    steps = [1] * (nd - 2) + [step, step]
    out_shape = [len(range(b.start, b.stop, s)) for b, s in zip(box, steps)]
    k = len(clf.class_names or [])
    out = np.zeros((k, *out_shape), dtype=np.float32)
    jobs: list[tuple[Future[np.ndarray], tuple[slice, ...], tuple[slice, ...]]] = []
    for index in cache.tiles_in(key, box):
        tile_box = cache.tile_box(key, index)
        plans = [_axis_plan(w, t, s) for w, t, s in zip(box, tile_box, steps)]
        if any(p is None for p in plans):
            continue
        local = tuple(p[0] for p in plans if p is not None)
        target = tuple(p[1] for p in plans if p is not None)
        future = cache.request(key, frame, index)
        rows_per_line = int(np.prod([len(range(s.start, s.stop, s.step)) for s in local[:-2]]))
        width = len(range(local[-1].start, local[-1].stop, local[-1].step))
        lines = target[-2].stop - target[-2].start
        per_job = max(1, _CHUNK_PIXELS // max(1, rows_per_line * width))
        for a in range(0, lines, per_job):
            b = min(lines, a + per_job)
            ly = local[-2]
            rows = slice(ly.start + a * ly.step, ly.start + b * ly.step, ly.step)
            sub_local = (*local[:-2], rows, local[-1])
            ty = target[-2]
            sub_target = (*target[:-2], slice(ty.start + a, ty.start + b), target[-1])
            jobs.append((future, sub_local, sub_target))

    def one(job: tuple[Future[np.ndarray], tuple[slice, ...], tuple[slice, ...]]) -> None:
        future, local, target = job
        if cancelled is not None and cancelled():
            raise Cancelled
        feats = future.result()
        part = feats[local]
        rows = np.ascontiguousarray(part.reshape(-1, part.shape[-1]))
        proba = predict_rows(clf, rows)
        out[(slice(None), *target)] = proba.reshape(k, *part.shape[:-1])

    running = [pool.submit(one, job) for job in jobs]
    try:
        for f in running:
            f.result()
    except BaseException:
        for f in running:
            f.cancel()
        raise
    return out
