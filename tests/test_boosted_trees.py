"""Boosted trees, the default engine: fit, predict, tiles, files, ONNX export, importances."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy import ndimage as ndi

import brushlab
from brushlab.classifier.boosted_arrays import booster_from_arrays, booster_to_arrays
from brushlab.classifier.boosted_trees import BoostedTrees, softmax_scores
from brushlab.errors import ClassifierError

FS = brushlab.FeatureSet({"gaussian_smoothing": [1.0, 3.0], "hessian": [1.0]})


def _image_and_labels(seed=0, shape=(64, 80), classes=2):
    rng = np.random.default_rng(seed)
    image = (ndi.gaussian_filter(rng.random(shape), 2.5) * 100).astype(np.float32)
    cuts = np.percentile(image, np.linspace(0, 100, classes + 1)[1:-1])
    truth = np.digitize(image, cuts).astype(np.uint8) + 1
    labels = np.where(rng.random(shape) < 0.1, truth, 0).astype(np.uint8)
    return image, labels, truth


@pytest.fixture(scope="module")
def trained():
    image, labels, truth = _image_and_labels()
    clf = brushlab.PixelClassifier(FS, n_trees=30, random_state=0, n_jobs=2)
    return clf.fit(image, labels, class_names=["dark", "bright"]), image, truth


def test_default_model_is_boosted_and_segments(trained):
    clf, image, truth = trained
    assert clf.model == "boosted_trees" and isinstance(clf._model, BoostedTrees)
    result = clf.predict(image)
    p = result.probabilities.values
    np.testing.assert_allclose(p.sum(axis=0), 1.0, atol=1e-6)
    assert (result.segmentation.values == truth).mean() > 0.9
    # uncertainty and confidence keep their definitions: 1 - (p_max - p_2nd) and p_max
    np.testing.assert_allclose(result.confidence.values, p.max(axis=0), atol=1e-7)
    np.testing.assert_allclose(result.uncertainty.values, 1 - np.abs(p[0] - p[1]), atol=1e-6)


def test_probabilities_are_lightgbms_softmax(trained):
    """Independent reference: LightGBM's own predictor on the same trees (float64 sums)."""
    clf, image, _ = trained
    feats = np.moveaxis(np.asarray(clf.features.compute(image)), -1, 0)
    rows = np.ascontiguousarray(feats.reshape(feats.shape[0], -1).T)
    ref = softmax_scores(clf._model.raw_scores(rows), 2)
    got = clf.predict(image).probabilities.values.reshape(2, -1).T
    np.testing.assert_allclose(got, ref, atol=1e-5)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_arrays_rebuild_the_trained_booster_exactly(n_classes):
    import lightgbm as lgb

    rng = np.random.default_rng(n_classes)
    x = rng.random((3000, 5))
    y = np.minimum((x[:, 0] + 0.3 * x[:, 1]) * n_classes / 1.3, n_classes - 1).astype(int)
    params = {"objective": "binary" if n_classes == 2 else "multiclass",
              "num_class": 1 if n_classes == 2 else n_classes, "num_leaves": 7,
              "use_missing": False, "verbose": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=12)
    arrays, meta = booster_to_arrays(booster)
    rebuilt = booster_from_arrays(arrays, meta)
    assert_array_equal(rebuilt.predict(x, raw_score=True), booster.predict(x, raw_score=True))


def test_multiclass_and_unlabelled_class():
    image, labels, truth = _image_and_labels(seed=1, classes=3)
    clf = brushlab.PixelClassifier(FS, n_trees=20, random_state=0, n_jobs=1)
    clf.fit(image, labels, class_names=["a", "b", "c", "never labelled"])
    result = clf.predict(image)
    assert result.probabilities.shape == (4, *image.shape)
    assert float(result.probabilities.sel({"class": "never labelled"}).max()) == 0.0
    assert (result.segmentation.values == truth).mean() > 0.85


def test_tiled_equals_untiled(trained):
    clf, image, _ = trained
    whole = clf.predict(image, tile_shape=image.shape)
    tiled = clf.predict(image, tile_shape=(24, 40))
    assert_array_equal(whole.probabilities.values, tiled.probabilities.values)


def test_save_load_round_trip_is_identical(trained, tmp_path):
    clf, image, _ = trained
    loaded = brushlab.load_classifier(clf.save(tmp_path / "m.brushlab"))
    assert loaded.model == "boosted_trees" and loaded.n_trees == 30 and loaded.n_leaves == 31
    assert_array_equal(loaded.predict(image).probabilities.values,
                       clf.predict(image).probabilities.values)
    assert_array_equal(loaded.feature_importances.values, clf.feature_importances.values)


def test_same_seed_same_model_whatever_the_threads():
    image, labels, _ = _image_and_labels(seed=2)
    a = brushlab.PixelClassifier(FS, n_trees=10, random_state=0, n_jobs=1).fit(image, labels)
    b = brushlab.PixelClassifier(FS, n_trees=10, random_state=0, n_jobs=2).fit(image, labels)
    for name, array in a._model.arrays.items():
        assert_array_equal(array, b._model.arrays[name], err_msg=name)


def test_subsampling_is_seeded_and_only_used_with_enough_labels():
    rng = np.random.default_rng(0)
    x = rng.random((4000, 5)).astype(np.float32)
    y = np.where(x[:, 0] + 0.2 * rng.random(4000) > 0.6, 2, 1)
    a, b, c = (BoostedTrees(n_trees=5, random_state=s).fit(x, y) for s in (0, 0, 1))
    assert a.meta["subsample_used"] == 0.5
    assert_array_equal(a.arrays["leaf_value"], b.arrays["leaf_value"])  # same seed, same model
    assert not np.array_equal(a.arrays["leaf_value"], c.arrays["leaf_value"])  # other bags
    full = BoostedTrees(n_trees=5, subsample=1.0, random_state=0).fit(x, y)
    assert full.meta["subsample_used"] == 1.0
    few = BoostedTrees(n_trees=5, random_state=0).fit(x[:600], y[:600])  # < 31 leaves x 20 x 2
    assert few.meta["subsample_used"] == 1.0


def test_the_first_few_scribbles_give_trees_that_split():
    image = np.zeros((40, 50), np.float32)
    image[:, 25:] = 1
    image += np.random.default_rng(0).normal(0, 0.2, image.shape).astype(np.float32)
    labels = np.zeros(image.shape, np.uint8)
    labels[5, 2:20], labels[5, 30:48] = 1, 2  # 36 pixels: fewer than 2 leaves x 20
    clf = brushlab.PixelClassifier(FS, random_state=0).fit(image, labels)
    seg = clf.predict(image).segmentation.values
    assert (seg[:, :20] == 1).mean() > 0.95 and (seg[:, 30:] == 2).mean() > 0.95
    assert clf._model.meta["min_samples_leaf_used"] == 1


def test_feature_importances_are_gain_and_find_the_signal():
    rng = np.random.default_rng(3)
    x = rng.random((4000, 6)).astype(np.float32)
    y = np.where(x[:, 4] > 0.5, 2, 1)
    model = BoostedTrees(n_trees=10).fit(x, y)
    imp = model.feature_importances_
    assert imp.sum() == pytest.approx(1.0) and int(np.argmax(imp)) == 4 and imp[4] > 0.9
    ref = np.bincount(model.arrays["split_feature"], model.arrays["split_gain"], minlength=6)
    np.testing.assert_allclose(imp, ref / ref.sum())


def test_class_balancing_weighs_the_rare_class():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6000, 3)).astype(np.float32)
    y = np.where(x[:, 0] + rng.normal(scale=1.0, size=6000) > 2.2, 2, 1)
    plain = BoostedTrees(n_trees=20).fit(x, y)
    balanced = BoostedTrees(n_trees=20, class_weight="balanced").fit(x, y)
    assert (balanced.predict(x) == 2).sum() > 2 * (plain.predict(x) == 2).sum()


def test_model_pickles_for_dask_workers_and_tokenizes_stably(trained):
    from dask.base import tokenize

    clf, image, _ = trained
    clone = pickle.loads(pickle.dumps(clf))
    assert clone._model._session is None  # rebuilt on the worker: sessions do not pickle
    assert_array_equal(clone.predict(image).probabilities.values,
                       clf.predict(image).probabilities.values)
    assert tokenize(clone._model) == tokenize(clf._model)


def test_random_forest_stays_available(trained):
    from sklearn.ensemble import RandomForestClassifier

    _, image, truth = trained
    labels = np.where(np.random.default_rng(0).random(truth.shape) < 0.1, truth, 0)
    clf = brushlab.PixelClassifier(FS, model="random_forest", random_state=0, n_jobs=1)
    clf.fit(image, labels)
    assert isinstance(clf._model, RandomForestClassifier) and clf.n_trees == 100
    assert clf.min_samples_leaf == 1
    assert (clf.predict(image).segmentation.values == truth).mean() > 0.9


def test_bad_settings_are_refused():
    with pytest.raises(ClassifierError, match="model must be one of"):
        brushlab.PixelClassifier(model="svm")
    with pytest.raises(ClassifierError, match="n_leaves"):
        brushlab.PixelClassifier(n_leaves=1)
    for bad in (0, 1.5):
        with pytest.raises(ClassifierError, match="subsample must be in"):
            brushlab.PixelClassifier(subsample=bad)
        with pytest.raises(ClassifierError, match="subsample must be in"):
            BoostedTrees(subsample=bad)
    with pytest.raises(ClassifierError, match="not trained"):
        BoostedTrees().predict_proba(np.zeros((2, 3), np.float32))
    with pytest.raises(ClassifierError, match="features"):
        x = np.random.default_rng(0).random((50, 3))
        BoostedTrees(n_trees=2).fit(x, np.arange(50) % 2).predict_proba(np.zeros((2, 4)))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_onnx_export_reproduces_predict(tmp_path, n_classes):
    pytest.importorskip("bioimageio.spec", reason="the Model Zoo export needs brushlab[dl]")
    image, labels, _ = _image_and_labels(seed=5, classes=n_classes)
    clf = brushlab.PixelClassifier(FS, n_trees=15, random_state=0, n_jobs=1).fit(image, labels)
    path = clf.export_bioimageio(tmp_path / "pkg", sample_image=image, name="boosted test")
    assert "boosted trees" in (path / "README.md").read_text()
    model = brushlab.load_model(path)
    got, ref = model.predict(image), clf.predict(image)
    assert np.abs(got.probabilities.values - ref.probabilities.values).max() < 1e-4
    assert_array_equal(got.segmentation.values, ref.segmentation.values)


def test_cupy_features_move_to_host_before_the_trees():
    cupy = pytest.importorskip("cupy")
    try:
        cupy.cuda.runtime.getDeviceCount()
    except Exception:
        pytest.skip("needs cupy and a CUDA GPU")
    image, labels, _ = _image_and_labels(seed=6)
    clf = brushlab.PixelClassifier(FS, n_trees=10, random_state=0).fit(image, labels)
    cpu = clf.predict(image).segmentation.values
    gpu = clf.predict(cupy.asarray(image)).segmentation.values
    assert (cpu == gpu).mean() > 0.999
