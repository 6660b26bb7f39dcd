"""Every pre- and postprocessing operation against numpy, through test() and predict()."""

from __future__ import annotations

import numpy as np
import pytest

import brushlab
from tests.dl_packages import affine_model, logits_model, simple_package


def _pct(a, q, axes=(2, 3), method="linear"):
    return np.percentile(a.astype(np.float64), q, axis=axes, keepdims=True, method=method)


def _zmuv(a, axes=(2, 3)):
    a64 = a.astype(np.float64)
    return (a - a64.mean(axis=axes, keepdims=True)) / (a64.std(axis=axes, keepdims=True) + 1e-6)


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a.astype(np.float64)))


def model_fn(a):
    return a * 2 + 1


CHANNEL = np.array([0.5, 2.0]).reshape(1, 2, 1, 1)

PRE = {
    "zero_mean_unit_variance": (
        [{"id": "zero_mean_unit_variance", "kwargs": {"axes": ["y", "x"]}}],
        lambda a: _zmuv(a),
    ),
    "fixed_zero_mean_unit_variance": (
        [{"id": "fixed_zero_mean_unit_variance", "kwargs": {"mean": 50.0, "std": 10.0}}],
        lambda a: (a - 50.0) / 10.0,
    ),
    "fixed_zero_mean_unit_variance_along_channel": (
        [
            {
                "id": "fixed_zero_mean_unit_variance",
                "kwargs": {"axis": "channel", "mean": [10.0, 60.0], "std": [2.0, 5.0]},
            }
        ],
        lambda a: (
            (a - np.array([10.0, 60.0]).reshape(1, 2, 1, 1))
            / np.array([2.0, 5.0]).reshape(1, 2, 1, 1)
        ),
    ),
    "scale_range_percentiles": (
        [
            {
                "id": "scale_range",
                "kwargs": {"axes": ["y", "x"], "min_percentile": 5.0, "max_percentile": 95.0},
            }
        ],
        lambda a: (a - _pct(a, 5)) / (_pct(a, 95) - _pct(a, 5) + 1e-6),
    ),
    "scale_linear": (
        [{"id": "scale_linear", "kwargs": {"gain": 0.5, "offset": -3.0}}],
        lambda a: a * 0.5 - 3.0,
    ),
    "scale_linear_along_channel": (
        [
            {
                "id": "scale_linear",
                "kwargs": {"axis": "channel", "gain": [0.5, 2.0], "offset": [1.0, 0.0]},
            }
        ],
        lambda a: a * CHANNEL + np.array([1.0, 0.0]).reshape(1, 2, 1, 1),
    ),
    "clip": ([{"id": "clip", "kwargs": {"min": 10.0, "max": 80.0}}], lambda a: np.clip(a, 10, 80)),
    "clip_percentiles": (
        [
            {
                "id": "clip",
                "kwargs": {"min_percentile": 10.0, "max_percentile": 90.0, "axes": ["y", "x"]},
            }
        ],
        # clip percentiles are values of the tensor in bioimageio.core ("inverted_cdf")
        lambda a: np.clip(
            a, _pct(a, 10, method="inverted_cdf"), _pct(a, 90, method="inverted_cdf")
        ),
    ),
    "binarize": (
        [
            {"id": "binarize", "kwargs": {"threshold": 50.0}},
            {"id": "ensure_dtype", "kwargs": {"dtype": "float32"}},  # the model takes float32
        ],
        lambda a: (a > 50).astype(np.float32),
    ),
    "sigmoid": (
        [{"id": "scale_linear", "kwargs": {"gain": 0.1, "offset": -5.0}}, {"id": "sigmoid"}],
        lambda a: _sigmoid(a * 0.1 - 5.0),
    ),
    "softmax": (
        [{"id": "softmax", "kwargs": {"axis": "channel"}}],
        lambda a: (
            np.exp(a - a.max(1, keepdims=True))
            / np.exp(a - a.max(1, keepdims=True)).sum(1, keepdims=True)
        ),
    ),
    "ensure_dtype": (
        [
            {"id": "ensure_dtype", "kwargs": {"dtype": "uint8"}},
            {"id": "ensure_dtype", "kwargs": {"dtype": "float32"}},  # the model takes float32
        ],
        lambda a: a.astype(np.uint8).astype(np.float32),
    ),
}


@pytest.mark.parametrize("name", sorted(PRE))
def test_preprocessing(tmp_path, name):
    ops, fn = PRE[name]
    two = "channel" in name or name == "softmax"
    channels = ("a", "b") if two else ("c0",)
    pkg = simple_package(
        tmp_path / name,
        model=affine_model(channels=len(channels)),
        preprocessing=ops,
        reference=lambda a: model_fn(fn(a)),
        in_channels=channels,
        out_channels=channels,
    )
    model = brushlab.load_model(pkg)
    report = model.test()
    assert report.passed, str(report)
    # predict() applies the same steps on the whole image before tiling
    x = np.load(pkg / "in0.npy")
    image = brushlab.as_image(np.moveaxis(x[0], 0, -1), dims="yxc") if two else x[0, 0]
    out = model.predict(image, tile_shape=(16, 16))["out"].values
    np.testing.assert_allclose(out, model_fn(fn(x))[0], rtol=1e-4, atol=1e-4)


POST = {
    "sigmoid": ([{"id": "sigmoid"}], lambda y, x: _sigmoid(y / 50.0 - 2.0)),
    "binarize": (
        [{"id": "binarize", "kwargs": {"threshold": 100.0}}],
        lambda y, x: (y > 100).astype(np.float32),
    ),
    "scale_linear": (
        [{"id": "scale_linear", "kwargs": {"gain": 0.25, "offset": 2.0}}],
        lambda y, x: y * 0.25 + 2,
    ),
    "zero_mean_unit_variance": (
        [{"id": "zero_mean_unit_variance", "kwargs": {"axes": ["y", "x"]}}],
        lambda y, x: _zmuv(y),
    ),
    "scale_range": (
        [{"id": "scale_range", "kwargs": {"axes": ["y", "x"], "max_percentile": 99.0}}],
        lambda y, x: (y - _pct(y, 0)) / (_pct(y, 99) - _pct(y, 0) + 1e-6),
    ),
    "scale_mean_variance": (
        [{"id": "scale_mean_variance", "kwargs": {"reference_tensor": "raw", "axes": ["y", "x"]}}],
        lambda y, x: (
            (y - y.astype(np.float64).mean((2, 3), keepdims=True))
            / (y.astype(np.float64).std((2, 3), keepdims=True) + 1e-6)
            * (x.astype(np.float64).std((2, 3), keepdims=True) + 1e-6)
            + x.astype(np.float64).mean((2, 3), keepdims=True)
        ),
    ),
    "clip": ([{"id": "clip", "kwargs": {"min": 50.0}}], lambda y, x: np.maximum(y, 50.0)),
}


@pytest.mark.parametrize("name", sorted(POST))
def test_postprocessing(tmp_path, name):
    ops, fn = POST[name]
    if name == "sigmoid":
        ops = [{"id": "scale_linear", "kwargs": {"gain": 0.02, "offset": -2.0}}, *ops]
    pkg = simple_package(
        tmp_path / name, postprocessing=ops, reference=lambda a: fn(model_fn(a), a)
    )
    model = brushlab.load_model(pkg)
    report = model.test()
    assert report.passed, str(report)
    x = np.load(pkg / "in0.npy")
    out = model.predict(x[0, 0], tile_shape=(8, 8))["out"].values
    np.testing.assert_allclose(out, fn(model_fn(x), x)[0], rtol=1e-4, atol=1e-4)


def test_softmax_postprocessing_gives_probabilities_segmentation_and_confidence(tmp_path):
    weights = [-1.0, 0.0, 1.0]

    def ref(a):
        logits = np.asarray(weights).reshape(1, 3, 1, 1) * (a - 0.5)
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    pkg = simple_package(
        tmp_path / "softmax",
        model=logits_model(weights),
        postprocessing=[{"id": "softmax", "kwargs": {"axis": "channel"}}],
        reference=lambda a: ref(a / 50.0),
        preprocessing=[{"id": "scale_linear", "kwargs": {"gain": 0.02}}],
        out_channels=("low", "mid", "high"),
        output_id="logits",
    )
    model = brushlab.load_model(pkg)
    assert model.test().passed
    x = np.load(pkg / "in0.npy")[0, 0]
    result = model.predict(x)
    assert list(result.coords["class"].values) == ["low", "mid", "high"]
    np.testing.assert_allclose(result.probabilities.values, ref(x[None, None] / 50.0)[0], atol=1e-6)
    np.testing.assert_allclose(result.probabilities.sum("class").values, 1.0, atol=1e-5)
    expected = np.argmax(ref(x[None, None] / 50.0)[0], axis=0) + 1
    np.testing.assert_array_equal(result.segmentation.values, expected)
    assert result.confidence.dims == ("y", "x") and result.uncertainty.dims == ("y", "x")
    assert result.attrs["probabilities_from"] == "logits"


def test_unsupported_postprocessing_is_named(tmp_path):
    from brushlab.errors import ModelPackageError

    pkg = simple_package(
        tmp_path / "stardist",
        postprocessing=[
            {
                "id": "stardist_postprocessing",
                "kwargs": {
                    "grid": [1, 1],
                    "b": 2,
                    "n_rays": 32,
                    "nms_threshold": 0.3,
                    "prob_threshold": 0.5,
                },
            }
        ],
    )
    with pytest.raises(
        ModelPackageError, match=r"'stardist_postprocessing' is not supported.*supported: "
    ):
        brushlab.load_model(pkg)
