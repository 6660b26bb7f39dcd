"""The forest's probabilities as network input, out of fold on the training images.

A forest predicts the pixels it was trained on (and their neighbours, whose features
are nearly the same) far better than new ones. A network fed those probabilities
would learn to trust them more than they deserve on new images. So on the training
images each pixel gets the probability of a forest that never saw labels near it:
the labels are split into folds by whole frames (when there are enough) or by
spatial blocks, one forest per fold is trained on the other folds, and it predicts
its own fold. New images get the forest trained on all labels.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import xarray as xr

from brushlab._core.tiling import iter_tiles
from brushlab.classifier import PixelClassifier
from brushlab.errors import ClassifierError, LabelError

__all__ = ["frame_image", "fold_groups", "out_of_fold"]

FOLD_BLOCK = {2: (64, 64), 3: (8, 64, 64)}


def frame_image(frame: np.ndarray, dims: Sequence[str], spacing: Sequence[float]) -> xr.DataArray:
    """Wrap a ``(C, *spatial)`` frame as a brushlab image the forest reads."""
    da = xr.DataArray(np.moveaxis(frame, 0, -1), dims=[*dims, "c"])
    da.attrs.update(spacing=dict(zip(dims, map(float, spacing))), unit="pixel", source="array")
    return da


def fold_groups(labels: Sequence[np.ndarray], folds: int, seed: int) -> list[np.ndarray]:
    """Fold id (0..folds-1) per pixel of each frame: whole frames when there are enough."""
    rng = np.random.default_rng(seed)
    counts = [int((lab > 0).sum()) for lab in labels]
    if sum(c > 0 for c in counts) >= folds:
        totals = [0] * folds
        which = [0] * len(labels)
        for i in sorted(range(len(labels)), key=lambda i: -counts[i]):
            j = int(np.argmin(totals))
            which[i] = j
            totals[j] += counts[i]
        return [np.full(lab.shape, which[i], np.int8) for i, lab in enumerate(labels)]
    out = []
    for lab in labels:
        # blocks of up to 64 pixels, but at least 4 per axis so small images split too
        block = [max(1, min(b, n // 4)) for b, n in zip(FOLD_BLOCK[lab.ndim], lab.shape)]
        grid = [-(-n // b) for n, b in zip(lab.shape, block)]
        ids = rng.integers(0, folds, size=grid).astype(np.int8)
        for axis, b in enumerate(block):
            ids = np.repeat(ids, b, axis=axis)
        out.append(np.ascontiguousarray(ids[tuple(slice(0, n) for n in lab.shape)]))
    return out


def out_of_fold(
    template: PixelClassifier,
    images: Sequence[xr.DataArray],
    labels: Sequence[np.ndarray],
    class_names: Sequence[str],
    *,
    folds: int,
    seed: int,
) -> tuple[PixelClassifier, list[np.ndarray]]:
    """Train the final forest on all labels and return out-of-fold probabilities.

    Returns
    -------
    forest : PixelClassifier
        Trained on every label (it predicts new images).
    probabilities : list of numpy.ndarray
        ``(K, *spatial)`` float32 per frame, each pixel predicted by a forest that
        was not trained on its fold.
    """
    names = list(class_names)
    forest = copy.deepcopy(template).fit(list(images), list(labels), class_names=names)
    for attempt in range(20):
        groups = fold_groups(labels, folds, seed + 7919 * attempt)
        if all(_kept_classes(labels, groups, j) >= 2 for j in range(folds)):
            break
    oof = [np.zeros((len(names), *lab.shape), np.float32) for lab in labels]
    for j in range(folds):
        held = [g == j for g in groups]
        if not any(h.any() for h in held):
            continue
        kept = [np.where(h, 0, lab).astype(lab.dtype) for h, lab in zip(held, labels)]
        if _kept_classes(labels, groups, j) < 2:
            raise LabelError(
                f"fold {j + 1} of {folds} keeps labels of fewer than two classes, so no "
                "out-of-fold forest can be trained: paint each class on more images or more "
                "places, or pass forest_folds=2 (or forest=None to train the network from "
                "the labels alone)"
            )
        fold_forest = copy.deepcopy(template).fit(list(images), kept, class_names=names)
        for i, h in enumerate(held):
            if h.any():
                p = fold_forest.predict(images[i], outputs=("probabilities",)).probabilities
                oof[i][:, h] = np.asarray(p.values, np.float32)[:, h]
    return forest, oof


def _kept_classes(labels: Sequence[np.ndarray], groups: Sequence[np.ndarray], j: int) -> int:
    """Classes still labelled once fold ``j`` is held out."""
    kept = [lab[(g != j) & (lab > 0)] for g, lab in zip(groups, labels)]
    return int(np.unique(np.concatenate(kept)).size)


def forest_template(forest: Any) -> PixelClassifier | None:
    """Normalise ``forest=``: None/False, True (the default ``PixelClassifier()``) or a template."""
    if forest is None or forest is False:
        return None
    if forest is True:
        # The default boosted trees. bench_networks.py, same run settings: ISBI membrane F1
        # +0.017 over the forest (a random forest as input: +0.018), BBBC039 instance F1
        # +0.036 (random forest: -0.003), predicting 2048x2048 2.0x the forest's time
        # (random forest: 3.7x).
        return PixelClassifier()
    if isinstance(forest, PixelClassifier):
        return forest
    raise TypeError(f"forest must be None, True or a brushlab.PixelClassifier, not {type(forest)}")


def forest_probabilities(forest: PixelClassifier, block: np.ndarray, extra: Sequence[int],
                         origin: Sequence[int], spacing: Sequence[float] | None,
                         pool: ThreadPoolExecutor | None, n_classes: int) -> np.ndarray:
    """Predict ``forest`` on ``block`` less ``extra`` per side, in the forest's own tiles.

    ``origin`` is the global index of ``block``'s first pixel. Tile results of a forest do
    not depend on the tiling, and small tiles are faster (cache) and spread over ``pool``.
    """
    from brushlab.classifier import DEFAULT_TILE as FOREST_TILE

    sp = [1.0] * len(extra) if spacing is None else list(spacing)
    fh = [int(h) for h in forest.features.halo(sp)]
    if any(h > e for h, e in zip(fh, extra)):
        raise ClassifierError(f"the halo leaves {tuple(extra)} for the forest's features, "
                              f"which need {tuple(fh)}: pass halo=self.halo(spacing)")
    shape = [n - 2 * e for n, e in zip(block.shape[1:], extra)]
    out = np.empty((n_classes, *shape), np.float32)
    tiles = list(iter_tiles(shape, forest.tile_shape or FOREST_TILE[len(shape)]))

    def one(t: tuple[slice, ...]) -> None:
        cut = tuple(slice(s.start + e - h, s.stop + e + h) for s, e, h in zip(t, extra, fh))
        o = [g + c.start for g, c in zip(origin, cut)]
        out[(slice(None), *t)] = forest.predict_tile(block[(slice(None), *cut)], halo=fh,
                                                     origin=o, spacing=spacing)

    if pool is None:
        for t in tiles:
            one(t)
    else:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            list(pool.map(one, tiles))
    return out
