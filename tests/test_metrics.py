"""brushlab.metrics: pixel scores, StarDist-style instance matching, VI and adapted Rand error."""

from __future__ import annotations

import numpy as np
import pytest

from brushlab import metrics
from brushlab.errors import LabelError


def _squares(offsets, size=4, shape=(40, 40)):
    lab = np.zeros(shape, np.int32)
    for i, (y, x) in enumerate(offsets, start=1):
        lab[y : y + size, x : x + size] = i
    return lab


def test_pixel_iou_and_f1_per_class():
    truth = np.array([[1, 1, 2, 2, 0]])
    pred = np.array([[1, 2, 2, 2, 0]])
    iou = metrics.pixel_iou(truth, pred)
    assert iou == {0: 1.0, 1: 0.5, 2: pytest.approx(2 / 3)}
    f1 = metrics.pixel_f1(truth, pred, classes=[1, 2, 3])
    assert f1[1] == pytest.approx(2 / 3) and f1[2] == pytest.approx(0.8) and f1[3] == 1.0


def test_matching_counts_relabelled_and_missing_objects():
    truth = _squares([(0, 0), (10, 10), (20, 20)])
    pred = np.zeros_like(truth)
    pred[truth == 1] = 9  # same object, other id
    pred[truth == 2] = 4
    pred[30:34, 30:34] = 5  # a false positive; object 3 is missed
    m = metrics.matching(truth, pred, thresh=0.5)
    assert (m["tp"], m["fp"], m["fn"]) == (2, 1, 1)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(0.5) and m["mean_matched_iou"] == 1.0


def test_matching_threshold_and_one_to_one():
    truth = _squares([(0, 0)], size=10)
    pred = np.zeros_like(truth)
    pred[0:10, 0:6] = 1  # IoU 0.6
    pred[0:10, 6:10] = 2  # IoU 0.4: a second candidate cannot match the same object
    assert metrics.matching(truth, pred, thresh=0.5)["tp"] == 1
    assert metrics.matching(truth, pred, thresh=0.7)["tp"] == 0
    low = metrics.matching(truth, pred, thresh=0.3)
    assert (low["tp"], low["fp"]) == (1, 1)


def test_average_precision_over_thresholds():
    truth = _squares([(0, 0)], size=10)
    pred = np.zeros_like(truth)
    pred[0:10, 0:8] = 1  # IoU 0.8: a hit at 0.5..0.8, a miss (fp + fn) above
    ap = metrics.average_precision(truth, pred)
    assert ap["average_precision"] == pytest.approx(7 / 10)
    assert sorted(ap["per_threshold"]) == list(metrics.THRESHOLDS)
    half = metrics.average_precision(truth, pred, thresholds=[0.5, 0.9])
    assert half["average_precision"] == pytest.approx(0.5)


def test_empty_images_score_as_stardist():
    empty = np.zeros((5, 5), int)
    both = metrics.matching(empty, empty)  # StarDist: every ratio is 0 without a match
    assert (both["f1"], both["precision"], both["accuracy"]) == (0.0, 0.0, 0.0)
    one = empty.copy()
    one[1:3, 1:3] = 1
    assert metrics.matching(one, empty)["f1"] == 0.0
    assert metrics.matching(empty, one)["precision"] == 0.0


def test_vi_and_adapted_rand_error():
    truth = _squares([(0, 0), (0, 20)], size=20)
    assert metrics.variation_of_information(truth, truth)["vi"] == pytest.approx(0.0)
    assert metrics.adapted_rand_error(truth, truth)["error"] == pytest.approx(0.0)
    merged = (truth > 0).astype(np.int32)
    vi = metrics.variation_of_information(truth, merged)
    assert vi["merge"] == pytest.approx(1.0) and vi["split"] == pytest.approx(0.0)
    assert metrics.adapted_rand_error(truth, merged)["error"] > 0.3
    split = truth.copy()
    split[:, 10:20][truth[:, 10:20] == 1] = 3
    vi = metrics.variation_of_information(truth, split)
    assert vi["split"] > 0 and vi["merge"] == pytest.approx(0.0)


def test_bad_inputs_raise_label_errors():
    with pytest.raises(LabelError, match="shape"):
        metrics.matching(np.zeros((3, 3), int), np.zeros((3, 4), int))
    with pytest.raises(LabelError, match="integer"):
        metrics.pixel_iou(np.zeros((3, 3)) + 0.5, np.zeros((3, 3), int))
    with pytest.raises(LabelError, match="negative"):
        metrics.matching(-np.ones((3, 3), int), np.zeros((3, 3), int))
