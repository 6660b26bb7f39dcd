"""Objects on real data (skips without ../shared): BBBC039 nuclei, ISBI 2012 neurons.

Defaults of ``instances`` and ``crf_smooth`` were chosen on BBBC039 images 00, 01 and 03
and ISBI slices 1 and 2 (benchmarks/bench_objects.py); the images scored here are others.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

import brushlab
from brushlab import metrics, objects
from brushlab.datasets import simulate_scribbles

from .conftest import shared_data

BBBC_TUNING = ("00", "01", "03")
BBBC_TEST = ("04", "07", "10", "13", "16")  # every other image not used for tuning: fast


def _otsu_watershed(image: np.ndarray, min_distance: int = 15) -> np.ndarray:
    """The classic baseline: Otsu mask, distance transform, peaks, watershed.

    ``min_distance`` 15 was the best of 5, 7, 10, 15 and 20 on the tuning images.
    """
    from skimage.feature import peak_local_max
    from skimage.filters import threshold_otsu
    from skimage.segmentation import watershed

    mask = image > threshold_otsu(image)
    distance = ndi.distance_transform_edt(mask)
    peaks = peak_local_max(distance, min_distance=min_distance, labels=ndi.label(mask)[0],
                           exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-distance, markers, mask=mask)


def test_bbbc039_instance_f1_beats_otsu_watershed():
    root = shared_data("bbbc039")
    ours, theirs = [], []
    for k in BBBC_TEST:
        image = brushlab.imread(root / f"image_{k}.tif")
        truth = brushlab.imread(root / f"labels_{k}.png").values
        mask = brushlab.imread(root / f"mask_{k}.png").values[..., 0] > 0
        scribbles = simulate_scribbles(mask.astype(np.uint8), classes=[0, 1],
                                       strokes_per_class=10, seed=1)
        clf = brushlab.PixelClassifier(n_trees=50, random_state=0).fit(
            image, scribbles, class_names=["background", "nucleus"])
        result = objects.crf_smooth(clf.predict(image), image)
        labels = brushlab.instances(result.segmentation == 2)
        ours.append(metrics.matching(truth, labels, thresh=0.5)["f1"])
        theirs.append(metrics.matching(truth, _otsu_watershed(image.values), thresh=0.5)["f1"])
    print(f"BBBC039 instance F1@0.5 over {len(ours)} images: brushlab {np.mean(ours):.3f}, "
          f"Otsu+watershed {np.mean(theirs):.3f}")
    assert len(ours) == len(BBBC_TEST)
    assert np.mean(ours) >= np.mean(theirs)
    assert np.mean(ours) > 0.85


def test_isbi_neurons_vi_and_rand_error_beat_thresholded_components():
    root = shared_data("isbi2012")
    train, test = (0, 5, 10), (15, 17, 19)
    images = {i: brushlab.imread(root / f"image_{i:02d}.png").values for i in train + test}
    truth = {i: brushlab.imread(root / f"label_{i:02d}.png").values for i in train + test}
    scribbles = [simulate_scribbles(truth[i], classes=[0, 255], strokes_per_class=25,
                                    stroke_length=20, seed=i) for i in train]
    clf = brushlab.PixelClassifier(random_state=0).fit(
        [images[i] for i in train], scribbles, class_names=["membrane", "interior"])
    ours, theirs = [], []
    for i in test:
        neurons = ndi.label(truth[i] == 255)[0]  # membranes (0) are left out of the scores
        membrane = clf.predict(images[i]).probabilities.sel({"class": "membrane"})
        regions = brushlab.instances(membrane, method="watershed")
        components = ndi.label(membrane.values < 0.5)[0]
        for scores, seg in ((ours, regions), (theirs, components)):
            scores.append((metrics.variation_of_information(neurons, seg)["vi"],
                           metrics.adapted_rand_error(neurons, seg)["error"]))
    (vi, are), (vi_base, are_base) = np.mean(ours, axis=0), np.mean(theirs, axis=0)
    print(f"ISBI VI {vi:.3f} vs {vi_base:.3f}, adapted Rand error {are:.3f} vs {are_base:.3f}")
    assert vi < vi_base and are < are_base
    assert vi < 1.3 and are < 0.4
