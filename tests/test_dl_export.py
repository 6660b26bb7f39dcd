"""Export a PixelClassifier as a Model Zoo package: spec-valid, reproduced by onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

import brushlab
from brushlab.classifier.boosted_onnx import thresholds_float32
from brushlab.errors import ClassifierError


@pytest.fixture(scope="module")
def coins():
    img = skimage.data.coins()[40:200, 60:260].astype(np.float32)
    labels = np.zeros(img.shape, np.uint8)
    labels[2:6, 5:60] = 1
    labels[150:156, 120:190] = 1
    labels[35:39, 10:25] = 2
    labels[70:74, 110:125] = 2
    labels[130:134, 20:30] = 2
    return img, labels


@pytest.fixture(scope="module")
def coins_classifier(coins):
    img, labels = coins
    clf = brushlab.PixelClassifier(n_trees=20, random_state=0, n_jobs=2)
    return clf.fit(img, labels, class_names=["background", "coin"])


@pytest.fixture(scope="module")
def exported(coins, coins_classifier, tmp_path_factory):
    img, _ = coins
    path = tmp_path_factory.mktemp("export") / "coins"
    return coins_classifier.export_bioimageio(
        path, sample_image=img, name="coins test", authors=["me"]
    )


def test_package_is_valid_for_bioimageio_spec_offline(exported):
    from bioimageio.spec import ModelDescr, load_description

    descr = load_description(exported / "bioimageio.yaml", perform_io_checks=True)
    assert isinstance(descr, ModelDescr), descr.validation_summary.format()
    assert descr.format_version.startswith("0.5")
    assert descr.weights.onnx is not None
    for name in ("model.onnx", "test_input.npy", "test_output.npy", "cover.png", "README.md"):
        assert (exported / name).is_file()
    assert "symmetric" in (exported / "README.md").read_text()


def test_reopened_package_passes_its_own_test(exported):
    model = brushlab.load_model(exported)
    report = model.test()
    assert report.passed, str(report)
    assert report.max_abs_diff["probabilities"] < 1e-4


def test_onnx_reproduces_brushlab_everywhere_borders_included(coins, coins_classifier, exported):
    img, _ = coins
    model = brushlab.load_model(exported)
    ref = coins_classifier.predict(img)
    got = model.predict(img)
    diff = np.abs(got.probabilities.values - ref.probabilities.values)
    assert diff.max() < 1e-4, f"max {diff.max()}, {np.mean(diff > 1e-4):.2%} of values beyond 1e-4"
    np.testing.assert_array_equal(got.segmentation.values, ref.segmentation.values)
    assert list(got.coords["class"].values) == ["background", "coin"]
    tiled = model.predict(img, tile_shape=(48, 64))
    np.testing.assert_allclose(tiled.probabilities.values, got.probabilities.values, atol=1e-6)


def test_onnx_features_equal_brushlab_features(coins_classifier, coins):
    """The ONNX feature graph alone: same kernels, same order, same closed-form eigenvalues."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from brushlab.bioimageio._export_features import feature_graph
    from brushlab.bioimageio._onnx_graph import GraphBuilder

    img, _ = coins
    fs = coins_classifier.features
    g = GraphBuilder()
    out = feature_graph(g, "x", fs, ndim=2, n_channels=1, spacing=[1.0, 1.0])
    graph = helper.make_graph(
        g.nodes,
        "f",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, "y", "x"])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["n", "f", "y", "x"])],
        g.initializers,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": img[None, None]})[0][0]
    ref = np.moveaxis(fs.compute(img).values, -1, 0)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)
    assert onnx.checker.check_model(m) is None


def test_zip_export_and_3d_multichannel(tmp_path):
    rng = np.random.default_rng(0)
    vol = rng.random((10, 24, 28, 2)).astype(np.float32)
    vol[:, :, 14:, 0] += 1.0
    img = brushlab.as_image(vol, dims="zyxc")
    img.attrs["spacing"] = {"z": 2.0, "y": 1.0, "x": 1.0}
    labels = np.zeros((10, 24, 28), np.uint8)
    labels[5, 2:20, 2:8] = 1
    labels[5, 2:20, 20:26] = 2
    fs = brushlab.FeatureSet(
        {"gaussian": [0.7], "st": [1.0], "hessian": [1.0], "dog": [1.0]}, compute_in_2d=[1.0]
    )
    clf = brushlab.PixelClassifier(fs, n_trees=5, random_state=0, n_jobs=1).fit(img, labels)
    path = clf.export_bioimageio(tmp_path / "vol.zip", sample_image=img)
    assert path.suffix == ".zip" and path.is_file()
    model = brushlab.load_model(path)
    assert model.test().passed
    assert [a.id for a in model.inputs[0].space_axes] == ["z", "y", "x"]
    assert model.inputs[0].axis("z").scale == 2.0
    diff = np.abs(model.predict(img).probabilities.values - clf.predict(img).probabilities.values)
    assert diff.max() < 1e-4


def test_class_never_labelled_gets_zero_probability(coins, tmp_path):
    img, labels = coins
    clf = brushlab.PixelClassifier(n_trees=5, random_state=1, n_jobs=1)
    clf.fit(img, labels, class_names=["background", "coin", "dirt"])
    path = clf.export_bioimageio(tmp_path / "three", sample_image=img[:128, :128])
    got = brushlab.load_model(path).predict(img[:128, :128])
    ref = clf.predict(img[:128, :128])
    assert float(got.probabilities.sel({"class": "dirt"}).max()) == 0.0
    assert np.abs(got.probabilities.values - ref.probabilities.values).max() < 1e-4


def test_export_refuses_what_it_cannot_write(coins, coins_classifier, tmp_path):
    from sklearn.neighbors import KNeighborsClassifier

    img, labels = coins
    with pytest.raises(ClassifierError, match="not trained"):
        brushlab.PixelClassifier().export_bioimageio(tmp_path / "x", sample_image=img)
    other = brushlab.PixelClassifier(estimator=KNeighborsClassifier(3)).fit(img, labels)
    with pytest.raises(ClassifierError, match="only scikit-learn random forests"):
        other.export_bioimageio(tmp_path / "lr", sample_image=img)
    (tmp_path / "taken").mkdir()
    with pytest.raises(ClassifierError, match="overwrite=True"):
        coins_classifier.export_bioimageio(tmp_path / "taken", sample_image=img)
    with pytest.raises(ClassifierError, match="channel"):
        coins_classifier.export_bioimageio(tmp_path / "rgb", sample_image=np.zeros((32, 32, 3)))


def test_float32_thresholds_decide_like_float64():
    rng = np.random.default_rng(2)
    t64 = rng.normal(size=2000) * 10.0 ** rng.integers(-3, 4, size=2000)
    t32 = thresholds_float32(t64)
    assert t32.dtype == np.float32
    # the neighbours of every threshold, where rounding to nearest would flip decisions
    x = np.concatenate(
        [t32, np.nextafter(t32, np.float32(np.inf)), np.nextafter(t32, np.float32(-np.inf))]
    )
    left64 = x[:, None].astype(np.float64) <= t64[None, :]
    np.testing.assert_array_equal(x[:, None] <= t32[None, :], left64)
    nearest = t64.astype(np.float32)  # rounding to nearest flips some decisions
    assert ((x[:, None] <= nearest[None, :]) != left64).any()


def test_example_package_in_models_folder():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "models" / "coins-pixel-classifier.zip"
    if not path.exists():
        pytest.skip(f"{path} is absent (models/make_example.py writes it)")
    model = brushlab.load_model(path)
    assert model.test().passed
    result = model.predict(skimage.data.coins())
    assert list(result.coords["class"].values) == ["background", "coin"]
    seg = result.segmentation.values
    assert [seg[47, 46], seg[112, 181], seg[202, 277], seg[5, 5]] == [2, 2, 2, 1]  # scribbled
