"""Scores of segmentations against a ground truth: pixels, instances, neurons.

- Pixels: :func:`pixel_iou` and :func:`pixel_f1` per class of a class image.
- Instances: :func:`matching` pairs predicted and true objects one to one at an IoU
  threshold and counts true and false positives, as StarDist's ``matching`` does
  (Schmidt et al., "Cell Detection with Star-convex Polygons", MICCAI 2018;
  ``stardist/matching.py``); :func:`average_precision` averages its
  ``TP / (TP + FP + FN)`` over thresholds 0.5, 0.55, ..., 0.95, the Data Science Bowl
  2018 score that StarDist reports as "AP".
- Neurons (boundary-based segmentations): :func:`adapted_rand_error` and
  :func:`variation_of_information`, from :mod:`skimage.metrics`, as the ISBI 2012
  challenge scores them (Arganda-Carreras et al., Front. Neuroanat. 2015).

Every function takes numpy, cupy or xarray label images of any dimension.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from brushlab._core.backend import to_numpy
from brushlab.errors import LabelError

__all__ = [
    "pixel_iou",
    "pixel_f1",
    "matching",
    "average_precision",
    "adapted_rand_error",
    "variation_of_information",
    "THRESHOLDS",
]

#: IoU thresholds of the DSB 2018 / StarDist average precision: 0.5, 0.55, ..., 0.95.
THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


def _labels(data: Any, name: str) -> np.ndarray:
    arr = to_numpy(getattr(data, "data", data))
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.array_equal(arr, np.round(arr)):
            raise LabelError(f"{name} must hold integer labels, not {arr.dtype} values")
        arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise LabelError(f"{name} holds negative labels; use 0 for background and 1..N")
    return arr


def _pair(truth: Any, predicted: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = _labels(truth, "truth"), _labels(predicted, "predicted")
    if t.shape != p.shape:
        raise LabelError(
            f"truth has shape {t.shape} but predicted has {p.shape}: score images of one shape"
        )
    return t, p


def pixel_iou(
    truth: Any, predicted: Any, *, classes: Sequence[int] | None = None
) -> dict[int, float]:
    """Intersection over union of each class of two class images.

    Parameters
    ----------
    truth, predicted : array-like
        Integer class images of one shape.
    classes : sequence of int, optional
        Classes to score (default: every value present in either image).

    Returns
    -------
    dict of int to float
        IoU per class; 1.0 for a class absent from both images.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.array([[1, 1, 2, 2]]); predicted = np.array([[1, 2, 2, 2]])
    >>> pixel_iou(truth, predicted)
    {1: 0.5, 2: 0.6666666666666666}
    """
    t, p = _pair(truth, predicted)
    values = sorted(set(np.unique(t).tolist()) | set(np.unique(p).tolist()))
    out = {}
    for k in classes if classes is not None else values:
        a, b = t == k, p == k
        union = np.count_nonzero(a | b)
        out[int(k)] = 1.0 if union == 0 else float(np.count_nonzero(a & b) / union)
    return out


def pixel_f1(
    truth: Any, predicted: Any, *, classes: Sequence[int] | None = None
) -> dict[int, float]:
    """F1 (Dice) of each class of two class images: ``2 IoU / (1 + IoU)``.

    Parameters
    ----------
    truth, predicted : array-like
        Integer class images of one shape.
    classes : sequence of int, optional
        Classes to score (default: every value present in either image).

    Returns
    -------
    dict of int to float
        F1 per class; 1.0 for a class absent from both images.

    Examples
    --------
    >>> import numpy as np
    >>> pixel_f1(np.array([[1, 1, 2, 2]]), np.array([[1, 2, 2, 2]]))
    {1: 0.6666666666666666, 2: 0.8}
    """
    return {k: 2 * v / (1 + v) for k, v in pixel_iou(truth, predicted, classes=classes).items()}


def _iou_table(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU of every (true, predicted) object pair that overlaps, and the object ids."""
    t_ids, t_inv = np.unique(t, return_inverse=True)
    p_ids, p_inv = np.unique(p, return_inverse=True)
    t_inv, p_inv = t_inv.ravel(), p_inv.ravel()
    n_t, n_p = len(t_ids), len(p_ids)
    overlap = np.bincount(t_inv * n_p + p_inv, minlength=n_t * n_p).reshape(n_t, n_p)
    size_t, size_p = overlap.sum(axis=1), overlap.sum(axis=0)
    union = size_t[:, None] + size_p[None, :] - overlap
    iou = np.where(union > 0, overlap / np.maximum(union, 1), 0.0)
    keep_t, keep_p = t_ids != 0, p_ids != 0  # background is no object
    return iou[np.ix_(keep_t, keep_p)], t_ids[keep_t], p_ids[keep_p]


def matching(
    truth: Any, predicted: Any, *, thresh: float = 0.5, iou: np.ndarray | None = None
) -> dict[str, float]:
    """Match predicted objects to true objects one to one and count hits, as StarDist.

    A true and a predicted object match when their IoU is at least ``thresh``. As in
    ``stardist.matching.matching`` (``criterion="iou"``), the one-to-one assignment of
    ``min(n_true, n_pred)`` pairs maximises first the number of matches and then, among
    assignments with that many, the summed IoU of all assigned pairs (Hungarian
    assignment). For ``thresh >= 0.5`` every object has at most one candidate, so the
    matches are unique; below 0.5 an object can have several and the count comes first.

    Parameters
    ----------
    truth, predicted : array-like
        Instance label images of one shape: 0 background, other values object ids.
    thresh : float, default 0.5
        IoU a pair needs to count as a true positive.
    iou : ndarray, optional
        Precomputed IoU table (true objects x predicted objects) to reuse.

    Returns
    -------
    dict
        ``thresh``, ``tp``, ``fp``, ``fn``, ``precision`` (TP/(TP+FP)), ``recall``
        (TP/(TP+FN)), ``f1``, ``accuracy`` (TP/(TP+FP+FN), StarDist's "AP" at one
        threshold), ``mean_matched_iou`` (mean IoU of the matches),
        ``mean_true_iou`` (their summed IoU over ``n_true``), ``panoptic_quality``
        (summed IoU over ``TP + FP/2 + FN/2``, Kirillov et al. 2019), ``n_true`` and
        ``n_pred``. With no match every ratio is 0, also for two empty images (as in
        StarDist).

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.zeros((8, 8), int); truth[1:4, 1:4] = 1; truth[5:8, 5:8] = 2
    >>> predicted = np.zeros((8, 8), int); predicted[1:4, 1:4] = 7
    >>> m = matching(truth, predicted, thresh=0.5)
    >>> m["tp"], m["fn"], m["fp"], m["f1"]
    (1, 1, 0, 0.6666666666666666)
    """
    from scipy.optimize import linear_sum_assignment

    if not 0 < thresh <= 1:
        raise ValueError(f"thresh must be in (0, 1], not {thresh}")
    if iou is None:
        t, p = _pair(truth, predicted)
        iou, _, _ = _iou_table(t, p)
    n_true, n_pred = iou.shape
    n_pairs = min(n_true, n_pred)
    candidates = iou >= thresh
    if n_pairs and candidates.any():
        # Lexicographic objective: every candidate weighs 1, and the IoU of an assigned
        # pair adds at most 1 / (2 n_pairs), so all n_pairs IoUs together stay below
        # one match and only break ties between assignments with equally many matches.
        weight = candidates + iou / (2.0 * n_pairs)
        rows, cols = linear_sum_assignment(weight, maximize=True)
        hits = candidates[rows, cols]
        tp = int(np.count_nonzero(hits))
        summed = float(iou[rows, cols][hits].sum())
    else:
        tp, summed = 0, 0.0
    fp, fn = n_pred - tp, n_true - tp

    def ratio(num: float, den: float) -> float:
        return num / den if tp and den > 0 else 0.0

    precision, recall = ratio(tp, n_pred), ratio(tp, n_true)
    f1, accuracy = ratio(2 * tp, n_true + n_pred), ratio(tp, tp + fp + fn)
    matched = ratio(summed, tp)
    mean_true, quality = ratio(summed, n_true), ratio(summed, tp + fp / 2 + fn / 2)
    n_true, n_pred = int(n_true), int(n_pred)
    return {
        "thresh": float(thresh),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": accuracy,
        "mean_matched_iou": matched,
        "mean_true_iou": mean_true,
        "panoptic_quality": quality,
        "n_true": n_true,
        "n_pred": n_pred,
    }


def average_precision(
    truth: Any, predicted: Any, *, thresholds: Sequence[float] = THRESHOLDS
) -> dict[str, Any]:
    """StarDist's / DSB 2018's average precision: mean of TP/(TP+FP+FN) over IoU thresholds.

    Parameters
    ----------
    truth, predicted : array-like
        Instance label images of one shape.
    thresholds : sequence of float
        IoU thresholds (default 0.5, 0.55, ..., 0.95; StarDist's papers also use
        0.5..0.9).

    Returns
    -------
    dict
        ``average_precision`` (the mean), and ``per_threshold``: a mapping of each
        threshold to its :func:`matching` scores.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.zeros((8, 8), int); truth[1:5, 1:5] = 1
    >>> predicted = np.zeros((8, 8), int); predicted[1:5, 1:4] = 1   # IoU 0.75
    >>> average_precision(truth, predicted)["average_precision"]
    0.6
    """
    t, p = _pair(truth, predicted)
    iou, _, _ = _iou_table(t, p)
    per: Mapping[float, dict[str, float]] = {
        float(th): matching(t, p, thresh=float(th), iou=iou) for th in thresholds
    }
    ap = float(np.mean([m["accuracy"] for m in per.values()])) if per else float("nan")
    return {"average_precision": ap, "per_threshold": dict(per)}


def adapted_rand_error(
    truth: Any, predicted: Any, *, ignore_background: bool = True
) -> dict[str, float]:
    """Adapted Rand error (ISBI 2012), via :func:`skimage.metrics.adapted_rand_error`.

    Parameters
    ----------
    truth, predicted : array-like
        Label images of one shape (regions, e.g. neurons).
    ignore_background : bool, default True
        Leave out the pixels whose true label is 0 (membranes in ISBI 2012).

    Returns
    -------
    dict
        ``error`` (1 - F-score of pixel pairs, 0 best), ``precision`` and ``recall``.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.array([[1, 1, 2, 2]])
    >>> adapted_rand_error(truth, truth)["error"]
    0.0
    """
    from skimage.metrics import adapted_rand_error as skimage_are

    t, p = _pair(truth, predicted)
    error, precision, recall = skimage_are(t, p, ignore_labels=(0,) if ignore_background else ())
    return {"error": float(error), "precision": float(precision), "recall": float(recall)}


def variation_of_information(
    truth: Any, predicted: Any, *, ignore_background: bool = True
) -> dict[str, float]:
    """Variation of information, split into over- and under-segmentation (bits).

    Uses :func:`skimage.metrics.variation_of_information`: VI = H(pred | truth) +
    H(truth | pred); the first term grows with false splits, the second with false
    merges.

    Parameters
    ----------
    truth, predicted : array-like
        Label images of one shape.
    ignore_background : bool, default True
        Leave out the pixels whose true label is 0.

    Returns
    -------
    dict
        ``vi`` (the sum, 0 best), ``split`` and ``merge``.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.array([[1, 1, 2, 2]]); over = np.array([[1, 3, 2, 4]])
    >>> variation_of_information(truth, over)
    {'vi': 1.0, 'split': 1.0, 'merge': 0.0}
    """
    from skimage.metrics import variation_of_information as skimage_vi

    t, p = _pair(truth, predicted)
    split, merge = skimage_vi(t, p, ignore_labels=(0,) if ignore_background else ())
    return {"vi": float(split + merge), "split": float(split), "merge": float(merge)}


def f1_score(predicted: np.ndarray, truth: np.ndarray) -> float:
    """F1 (Dice) of two boolean masks; 1.0 when both are empty.

    Examples
    --------
    >>> import numpy as np
    >>> round(f1_score(np.array([1, 1, 0], bool), np.array([1, 0, 0], bool)), 4)
    0.6667
    """
    p = np.asarray(predicted, dtype=bool)
    t = np.asarray(truth, dtype=bool)
    tp = np.count_nonzero(p & t)
    denom = np.count_nonzero(p) + np.count_nonzero(t)
    return 1.0 if denom == 0 else float(2.0 * tp / denom)
