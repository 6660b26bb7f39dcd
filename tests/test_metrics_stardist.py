"""brushlab.metrics judged by StarDist's own ``stardist.matching`` (the reference it claims).

The oracle is the installed ``stardist`` package (BSD-3, declared in the ``[test]`` extra),
not a copy: brushlab's matching is its own code, and StarDist's is imported unchanged.
The comparison runs over random label images with touching, overlapping-in-IoU and
relabelled objects, thresholds below and above 0.5, and empty images.
"""

from __future__ import annotations

import numpy as np
import pytest

from brushlab import metrics

stardist_matching = pytest.importorskip(
    "stardist.matching", reason="the StarDist oracle needs `pip install stardist` ([test] extra)"
)

#: brushlab's field -> StarDist's field of the same quantity.
FIELDS = {
    "tp": "tp",
    "fp": "fp",
    "fn": "fn",
    "n_true": "n_true",
    "n_pred": "n_pred",
    "precision": "precision",
    "recall": "recall",
    "f1": "f1",
    "accuracy": "accuracy",
    "mean_matched_iou": "mean_matched_score",
    "mean_true_iou": "mean_true_score",
    "panoptic_quality": "panoptic_quality",
}
THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 1 / 3, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0)


def _random_labels(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Rectangles with random, non-sequential ids painted over each other (partial overlaps)."""
    out = np.zeros(shape, np.int32)
    ids = rng.choice(np.arange(1, 500), size=int(rng.integers(0, 12)), replace=False)
    for obj in ids:
        lo = [int(rng.integers(0, n - 1)) for n in shape]
        hi = [int(rng.integers(a + 1, min(n, a + 1 + n // 2) + 1)) for a, n in zip(lo, shape)]
        out[tuple(slice(a, b) for a, b in zip(lo, hi))] = obj
    return out


def _perturbed(rng: np.random.Generator, truth: np.ndarray) -> np.ndarray:
    """A prediction: truth shifted, with objects split, merged, relabelled, dropped, added."""
    pred = np.roll(
        truth, tuple(int(rng.integers(-2, 3)) for _ in truth.shape), axis=tuple(range(truth.ndim))
    )
    ids = np.unique(pred)[1:]
    perm = rng.permutation(np.arange(1000, 1000 + len(ids)))
    lut = np.zeros(int(pred.max()) + 1, np.int32)
    lut[ids] = perm
    pred = lut[pred]
    if len(ids) and rng.random() < 0.5:  # split one object along an axis
        target = perm[int(rng.integers(len(perm)))]
        mask = pred == target
        cut = int(rng.integers(0, truth.shape[0]))
        mask[:cut] = False
        pred[mask] = 2000
    if len(ids) > 1 and rng.random() < 0.3:  # merge two objects
        pred[pred == perm[1]] = perm[0]
    return np.where(rng.random() < 0.2, pred, np.maximum(pred, _random_labels(rng, truth.shape)))


def _cases(n: int, seed: int):
    rng = np.random.default_rng(seed)
    for i in range(n):
        shape = (int(rng.integers(8, 40)), int(rng.integers(8, 40)))
        if i % 7 == 6:
            shape = (6, *shape)  # a few 3-D images
        truth = _random_labels(rng, shape)
        kind = i % 5
        if kind == 0:
            pred = _random_labels(rng, shape)  # unrelated: low IoUs, several candidates
        elif kind == 1 and i % 10 == 1:
            pred = np.zeros_like(truth)  # nothing predicted
        else:
            pred = _perturbed(rng, truth)
        yield truth, pred


def _assert_same(ours: dict, theirs, where: str) -> None:
    for mine, their in FIELDS.items():
        assert ours[mine] == pytest.approx(getattr(theirs, their), rel=1e-6, abs=1e-9), (
            f"{where}: brushlab {mine}={ours[mine]!r}, StarDist {their}={getattr(theirs, their)!r}"
        )


def test_matching_equals_stardist_on_random_label_images():
    compared = 0
    for k, (truth, pred) in enumerate(_cases(300, seed=13)):
        theirs = stardist_matching.matching(truth, pred, thresh=THRESHOLDS)
        for thresh, their in zip(THRESHOLDS, theirs):
            ours = metrics.matching(truth, pred, thresh=thresh)
            _assert_same(ours, their, f"case {k}, thresh {thresh}")
            compared += 1
    assert compared == 300 * len(THRESHOLDS)


def test_low_thresholds_maximise_the_match_count_as_stardist():
    # One true object overlaps two predictions, the other true object only the better one:
    # summed IoU prefers (A, big) alone; the count prefers (A, small) + (B, big).
    truth = np.zeros((10, 20), np.int32)
    truth[:, 0:10] = 1  # A: 100 px
    truth[:, 10:13] = 2  # B: 30 px
    pred = np.zeros_like(truth)
    pred[:, 2:12] = 5  # big: IoU with A 80/120, with B 20/110
    pred[:, 0:2] = 6  # small: IoU with A 20/100
    for thresh in (0.15, 0.18):
        ours = metrics.matching(truth, pred, thresh=thresh)
        their = stardist_matching.matching(truth, pred, thresh=thresh)
        _assert_same(ours, their, f"thresh {thresh}")
        assert ours["tp"] == 2


def test_empty_images_equal_stardist():
    empty = np.zeros((6, 6), np.int32)
    one = empty.copy()
    one[1:3, 1:3] = 4
    for truth, pred in ((empty, empty), (one, empty), (empty, one)):
        _assert_same(
            metrics.matching(truth, pred), stardist_matching.matching(truth, pred), "empty"
        )


def test_average_precision_is_the_mean_of_stardist_accuracy():
    for truth, pred in _cases(60, seed=7):
        theirs = stardist_matching.matching(truth, pred, thresh=metrics.THRESHOLDS)
        ours = metrics.average_precision(truth, pred)
        assert ours["average_precision"] == pytest.approx(np.mean([m.accuracy for m in theirs]))
        for thresh, their in zip(metrics.THRESHOLDS, theirs):
            _assert_same(ours["per_threshold"][thresh], their, f"AP at {thresh}")
