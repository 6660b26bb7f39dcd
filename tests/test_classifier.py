"""PixelClassifier: training, prediction outputs, tiling exactness, files, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import brushlab
from brushlab.errors import ClassifierError, ImageError, LabelError, ModelFileError
from brushlab.features import FeatureSet

SMALL = FeatureSet({"gaussian_smoothing": [0.7, 2.0], "hessian": [1.0], "st": [1.6], "dog": [3.5]})


def _two_region_image(rng, shape=(60, 80)):
    img = rng.normal(10, 2, shape).astype(np.float32)
    img[..., shape[-1] // 2 :] += 8
    labels = np.zeros(shape, np.uint8)
    labels[..., 5:9, 5:20] = 1
    labels[..., 30:33, shape[-1] - 20 : shape[-1] - 5] = 2
    return img, labels


@pytest.fixture
def trained(rng):
    img, labels = _two_region_image(rng)
    clf = brushlab.PixelClassifier(SMALL, n_trees=20, random_state=0, n_jobs=2)
    return clf.fit(img, labels, class_names=["left", "right"]), img


def test_predict_outputs_and_types(trained):
    clf, img = trained
    res = clf.predict(img)
    assert isinstance(res, xr.Dataset)
    p = res.probabilities
    assert p.dims == ("class", "y", "x") and p.dtype == np.float32
    assert list(p["class"].values) == ["left", "right"]
    np.testing.assert_allclose(p.sum("class").values, 1.0, atol=1e-6)
    assert res.segmentation.dtype == np.uint8
    assert set(np.unique(res.segmentation.values)) <= {1, 2}
    assert (res.segmentation.values[:, :30] == 1).mean() > 0.9
    assert (res.segmentation.values[:, 50:] == 2).mean() > 0.9
    pmax = p.max("class").values
    np.testing.assert_allclose(res.confidence.values, pmax, rtol=1e-6)
    srt = np.sort(p.values, axis=0)
    np.testing.assert_allclose(res.uncertainty.values, 1 - (srt[-1] - srt[-2]), atol=1e-6)


def test_tiled_prediction_equals_untiled_exactly(trained):
    clf, img = trained
    whole = clf.predict(img, tile_shape=(512, 512))
    for tile in [(16, 16), (23, 37), (60, 7)]:
        tiled = clf.predict(img, tile_shape=tile)
        for name in ("probabilities", "segmentation", "uncertainty"):
            np.testing.assert_array_equal(tiled[name].values, whole[name].values)


def test_reproducible_with_random_state(rng):
    img, labels = _two_region_image(rng)
    a = brushlab.PixelClassifier(SMALL, n_trees=10, random_state=3).fit(img, labels)
    b = brushlab.PixelClassifier(SMALL, n_trees=10, random_state=3).fit(img, labels)
    np.testing.assert_array_equal(a.predict(img).probabilities, b.predict(img).probabilities)


def test_fit_several_images_of_different_sizes_and_balancing(rng):
    a, la = _two_region_image(rng, (40, 50))
    b, lb = _two_region_image(rng, (64, 30))
    clf = brushlab.PixelClassifier(SMALL, n_trees=10, random_state=0, class_weight="balanced")
    clf.fit([a, b], [la, lb])
    assert clf.training["n_images"] == 2
    assert clf.training["labelled_pixels"]["class 1"] == int((la == 1).sum() + (lb == 1).sum())
    assert clf.predict(b).segmentation.shape == (64, 30)


def test_features_only_computed_around_labels(rng, monkeypatch):
    img, _ = _two_region_image(rng, (1024, 1024))
    labels = np.zeros(img.shape, np.uint8)
    labels[10:14, 10:40] = 1
    labels[20:24, 300:330] = 2
    calls = []
    orig = FeatureSet.compute_block

    def spy(self, block, *args, **kw):
        calls.append(block.shape)
        return orig(self, block, *args, **kw)

    monkeypatch.setattr(FeatureSet, "compute_block", spy)
    brushlab.PixelClassifier(SMALL, n_trees=5, random_state=0).fit(img, labels)
    computed = sum(np.prod(s[1:]) for s in calls)
    assert computed < 0.25 * img.size


def test_3d_and_time_and_multichannel(rng):
    vol = rng.normal(0, 1, (6, 30, 30)).astype(np.float32)
    vol[:, :, 15:] += 5
    lab = np.zeros(vol.shape, np.uint8)
    lab[2, 5:10, 2:8] = 1
    lab[3, 5:10, 22:28] = 2
    clf = brushlab.PixelClassifier(SMALL, n_trees=10, random_state=0).fit(vol, lab)
    res = clf.predict(vol)
    assert res.segmentation.dims == ("z", "y", "x")
    assert (res.segmentation.values[:, :, 20:] == 2).mean() > 0.9
    assert clf.feature_importances.sizes["feature"] == SMALL.n_features(ndim=3)

    movie = brushlab.io._image.as_image(vol, dims="tyx")
    clf_t = brushlab.PixelClassifier(SMALL, n_trees=10, random_state=0).fit(movie, lab)
    assert clf_t.predict(movie).probabilities.dims == ("class", "t", "y", "x")

    rgb = np.stack([vol[0], -vol[0], vol[0] * 2], axis=-1)
    clf_c = brushlab.PixelClassifier(SMALL, n_trees=10, random_state=0).fit(rgb, lab[2] | lab[3])
    assert clf_c.n_channels == 3
    with pytest.raises(ClassifierError, match="3 channel"):
        clf_c.predict(vol[0])


def test_feature_importances_labelled(trained):
    clf, _ = trained
    imp = clf.feature_importances
    assert list(imp.feature.values) == SMALL.names(ndim=2)
    assert imp.sum() == pytest.approx(1.0)


def test_injected_estimator(rng):
    from sklearn.ensemble import ExtraTreesClassifier
    from sklearn.linear_model import LogisticRegression

    img, labels = _two_region_image(rng)
    clf = brushlab.PixelClassifier(SMALL, estimator=LogisticRegression(max_iter=500))
    res = clf.fit(img, labels).predict(img)
    assert (res.segmentation.values[:, 50:] == 2).mean() > 0.9
    with pytest.raises(ModelFileError):
        clf.save("unused.brushlab")
    et = brushlab.PixelClassifier(SMALL, estimator=ExtraTreesClassifier(10, random_state=0))
    assert et.fit(img, labels).predict(img).segmentation.shape == img.shape


def test_save_load_round_trip_bit_identical(trained, tmp_path):
    clf, img = trained
    path = clf.save(tmp_path / "model.brushlab")
    loaded = brushlab.load_classifier(path)
    assert loaded.class_names == ["left", "right"]
    assert loaded.features == clf.features
    a, b = clf.predict(img), loaded.predict(img)
    np.testing.assert_array_equal(a.probabilities.values, b.probabilities.values)
    assert loaded.training["labelled_pixels"] == clf.training["labelled_pixels"]


def test_no_pickle_in_package():
    import pathlib

    src = pathlib.Path(brushlab.__file__).parent
    for f in src.rglob("*.py"):
        text = f.read_text()
        assert "import pickle" not in text and "import joblib" not in text, f


# -- bad input ---------------------------------------------------------------
def test_label_shape_mismatch(rng):
    img, labels = _two_region_image(rng)
    with pytest.raises(LabelError, match="shape"):
        brushlab.PixelClassifier(SMALL).fit(img, labels[:, :-1])


def test_no_labels_and_one_class(rng):
    img, labels = _two_region_image(rng)
    with pytest.raises(LabelError, match="at least two classes"):
        brushlab.PixelClassifier(SMALL).fit(img, np.zeros_like(labels))
    with pytest.raises(LabelError, match="only class 'class 1'"):
        brushlab.PixelClassifier(SMALL).fit(img, (labels == 1).astype(np.uint8))


def test_nan_and_inf_pixels(rng):
    img, labels = _two_region_image(rng)
    bad = img.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ImageError, match="NaN"):
        brushlab.PixelClassifier(SMALL).fit(bad, labels)
    clf = brushlab.PixelClassifier(SMALL, n_trees=5).fit(img, labels)
    bad[3, 3] = np.inf
    with pytest.raises(ImageError, match="NaN or infinite"):
        clf.predict(bad)


def test_empty_image():
    with pytest.raises(ImageError, match="empty"):
        brushlab.PixelClassifier(SMALL).fit(np.zeros((0, 5), np.float32), np.zeros((0, 5), int))


def test_channel_count_differs_at_predict(rng):
    img, labels = _two_region_image(rng)
    clf = brushlab.PixelClassifier(SMALL, n_trees=5).fit(img, labels)
    two = brushlab.io._image.as_image(np.stack([img, img], -1), dims="yxc")
    with pytest.raises(ClassifierError, match="1 channel"):
        clf.predict(two)


def test_untrained_and_bad_params():
    with pytest.raises(ClassifierError, match="not trained"):
        brushlab.PixelClassifier(SMALL).predict(np.zeros((5, 5)))
    with pytest.raises(ClassifierError):
        brushlab.PixelClassifier(SMALL, n_trees=0)
    with pytest.raises(ClassifierError):
        brushlab.PixelClassifier(SMALL, class_weight="weird")


def test_non_integer_and_negative_labels(rng):
    img, labels = _two_region_image(rng)
    with pytest.raises(LabelError, match="non-integer"):
        brushlab.PixelClassifier(SMALL).fit(img, labels * 0.5)
    with pytest.raises(LabelError, match="negative"):
        brushlab.PixelClassifier(SMALL).fit(img, labels.astype(int) - 1)


@pytest.mark.gpu
def test_gpu_prediction_matches_cpu(trained):
    import cupy

    clf, img = trained
    cpu = clf.predict(img)
    gpu = clf.predict(cupy.asarray(img))
    diff = np.abs(gpu.probabilities.values - cpu.probabilities.values)
    assert diff.max() < 0.05  # float32 feature noise may move a pixel across a split
    assert (gpu.segmentation.values == cpu.segmentation.values).mean() > 0.999
    clf.device = "gpu"
    again = clf.predict(img)
    np.testing.assert_array_equal(again.segmentation.values, gpu.segmentation.values)
