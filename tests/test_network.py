"""NetworkClassifier: training, tiled prediction, model files (issue 15)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

import brushlab
from brushlab.errors import ModelFileError
from brushlab.network import NetworkClassifier, load_network, plan_architecture
from brushlab.network._calibrate import calibrate, macro_f1
from brushlab.network._forest_input import fold_groups, frame_image, out_of_fold
from tests.hidden_torch import REASON, needs_torch

SMALL = {"depth": 2, "base_channels": 4, "max_steps": 15, "patch_size": (32, 32),
         "random_state": 0, "n_jobs": 1}


def _forest() -> brushlab.PixelClassifier:
    features = brushlab.FeatureSet({"gaussian": [1.0], "laplacian_of_gaussian": [1.0]})
    return brushlab.PixelClassifier(features, n_trees=5, random_state=0, n_jobs=1,
                                   model="random_forest")


def _data(shape: tuple[int, ...] = (64, 80), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.normal(0, 0.5, shape).astype(np.float32)
    image[..., shape[-1] // 2:] += 2.0
    labels = np.zeros(shape, np.uint8)
    labels[..., 3:-3:5, 4:shape[-1] // 2 - 4] = 1
    labels[..., 3:-3:5, shape[-1] // 2 + 4:-4] = 2
    return image, labels


@pytest.fixture(scope="module")
def trained() -> NetworkClassifier:
    pytest.importorskip("torch", reason=REASON)
    image, labels = _data()
    net = NetworkClassifier(forest=_forest(), calibrate_bias=True, **SMALL)
    return net.fit(image, labels, class_names=["a", "b"])


def test_fit_predict_returns_the_forest_s_dataset(trained: NetworkClassifier) -> None:
    image, _ = _data(seed=1)
    result = trained.predict(image)
    forest = trained.forest.predict(image)
    assert set(result.data_vars) == set(forest.data_vars)
    assert list(result["class"].values) == ["a", "b"]
    p = result.probabilities.values
    np.testing.assert_allclose(p.sum(axis=0), 1.0, atol=1e-5)
    top = np.sort(p, axis=0)
    np.testing.assert_allclose(result.confidence.values, top[-1], atol=1e-6)
    np.testing.assert_allclose(result.uncertainty.values, 1 - (top[-1] - top[-2]), atol=1e-6)
    np.testing.assert_array_equal(result.segmentation.values, p.argmax(axis=0) + 1)
    assert (result.segmentation.values[:, -20:] == 2).mean() > 0.9
    assert (result.segmentation.values[:, :20] == 1).mean() > 0.9
    assert trained.training["history"] and trained.training["best_val_f1"] is not None


@pytest.mark.parametrize("tile", [(16, 24), (40, 8), (7, 13)])
def test_tiled_equals_untiled(trained: NetworkClassifier, tile: tuple[int, int]) -> None:
    image, _ = _data((70, 90), seed=2)
    whole = trained.predict(image, tile_shape=(512, 512)).probabilities.values
    tiled = trained.predict(image, tile_shape=tile).probabilities.values
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_predict_tile_honours_a_larger_halo(trained: NetworkClassifier) -> None:
    from brushlab._core.tiling import read_with_halo

    image, _ = _data((50, 60), seed=3)
    whole = trained.predict(image).probabilities.values
    tile = (slice(10, 30), slice(20, 45))
    halo = [h + 5 for h in trained.halo()]
    block = read_with_halo(image[None], tile, halo)
    p = trained.predict_tile(block, halo=halo, origin=[t.start - h for t, h in zip(tile, halo)])
    np.testing.assert_allclose(p, whole[:, 10:30, 20:45], atol=1e-5)


def test_save_load_round_trip_without_torch_objects(trained: NetworkClassifier, tmp_path) -> None:
    path = trained.save(tmp_path / "net.brushlab")
    loaded = load_network(path)
    image, _ = _data(seed=4)
    np.testing.assert_array_equal(loaded.predict(image).probabilities.values,
                                  trained.predict(image).probabilities.values)
    assert loaded.forest is not None and loaded.class_names == ["a", "b"]
    assert loaded.training["steps"] == trained.training["steps"]
    with pytest.raises(ModelFileError, match="does not hold a brushlab network"):
        load_network(trained.forest.save(tmp_path / "forest.brushlab"))


def test_load_rejects_a_tampered_file(tmp_path) -> None:
    from brushlab.classifier.modelfile import read_model_file, write_model_file

    # a network trained by tests/data/make_network_files.py: no torch needed here
    arrays, meta = read_model_file(Path(__file__).parent / "data" / "network_format1.brushlab")
    bad = dict(meta, normalisation={"mean": [0.0], "std": [0.0]})
    with pytest.raises(ModelFileError, match="non-positive"):
        load_network(write_model_file(tmp_path / "a.brushlab", arrays, bad))
    junk = dict(arrays, network_onnx=np.frombuffer(b"not onnx at all", np.uint8))
    with pytest.raises(ModelFileError, match="ONNX"):
        load_network(write_model_file(tmp_path / "b.brushlab", junk, meta))
    no_forest = {k: v for k, v in arrays.items() if k != "forest_model"}
    with pytest.raises(ModelFileError, match="missing or malformed"):
        load_network(write_model_file(tmp_path / "c.brushlab", no_forest, meta))


@needs_torch
def test_same_seed_same_network() -> None:
    image, labels = _data()
    a = NetworkClassifier(forest=None, **SMALL).fit(image, labels)
    b = NetworkClassifier(forest=None, **SMALL).fit(image, labels)
    np.testing.assert_allclose(a.predict(image).probabilities.values,
                               b.predict(image).probabilities.values, atol=1e-6)


@needs_torch
def test_several_sizes_multichannel_three_classes() -> None:
    rng = np.random.default_rng(0)
    images, labels = [], []
    for shape in ((48, 64), (72, 56)):
        img = rng.normal(0, 0.3, (*shape, 2)).astype(np.float32)
        lab = np.zeros(shape, np.uint8)
        third = shape[1] // 3
        for k in range(3):
            img[:, k * third:(k + 1) * third, k % 2] += 2.0 + k
            lab[2:-2:4, k * third + 3:(k + 1) * third - 3] = k + 1
        images.append(brushlab.as_image(img, dims="yxc"))
        labels.append(lab)
    net = NetworkClassifier(forest=_forest(), dense_targets=0.5, **dict(SMALL, max_steps=25))
    net.fit(images, labels, class_names=["x", "y", "z"])
    result = net.predict(images[1])
    assert result.probabilities.shape == (3, 72, 56)
    assert net.arch.in_channels == 2 + 3
    whole = result.probabilities.values
    np.testing.assert_allclose(net.predict(images[1], tile_shape=(20, 24)).probabilities.values,
                               whole, atol=1e-5)


@needs_torch
def test_3d_anisotropic_no_pooling_along_z_and_tiling() -> None:
    arch = plan_architecture(ndim=3, in_channels=1, n_classes=2, depth=3, base_channels=4,
                             spacing=(4.0, 1.0, 1.0))
    assert arch.pools == ((1, 2, 2), (1, 2, 2))
    assert arch.multiple == (1, 4, 4) and arch.radius[0] < arch.radius[1]
    image, labels = _data((12, 40, 48))
    labels[1::2] = 0  # scribbles on every other plane
    img = brushlab.as_image(image, dims="zyx")
    img.attrs["spacing"] = {"z": 4.0, "y": 1.0, "x": 1.0}
    net = NetworkClassifier(forest=None, depth=2, base_channels=4, max_steps=6,
                            patch_size=(8, 24, 24), random_state=0, n_jobs=1,
                            validation_fraction=0.2)
    net.fit(img, labels)
    assert net.arch.pools == ((1, 2, 2),)
    whole = net.predict(img).probabilities.values
    tiled = net.predict(img, tile_shape=(5, 16, 20)).probabilities.values
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_out_of_fold_probabilities_come_from_forests_without_those_labels() -> None:
    image, labels = _data((64, 64))
    frames = [image + 0.1 * k for k in range(3)]
    labs = [labels.astype(np.int64)] * 3
    groups = fold_groups(labs, 3, seed=0)
    assert sorted(int(g[0, 0]) for g in groups) == [0, 1, 2]  # one frame per fold
    images = [frame_image(f[None], ["y", "x"], [1.0, 1.0]) for f in frames]
    forest, oof = out_of_fold(_forest(), images, labs, ["a", "b"], folds=3, seed=0)
    i = next(i for i, g in enumerate(groups) if g[0, 0] == 1)
    kept = [np.where(g == 1, 0, lab) for g, lab in zip(groups, labs)]
    reference = copy.deepcopy(_forest()).fit(images, kept, class_names=["a", "b"])
    expected = reference.predict(images[i]).probabilities.values
    np.testing.assert_array_equal(oof[i], expected)
    one = fold_groups([labs[0]], 3, seed=0)[0]  # a single frame: spatial blocks
    assert len(np.unique(one)) > 1


def test_calibration_moves_the_decision_to_where_held_out_labels_say() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(4000) < 0.2).astype(np.int64)  # a thin class, under-called at p = 0.5
    z = np.stack([np.zeros(4000), rng.normal(0, 1, 4000) + 2.0 * y - 2.5], axis=1)
    t, b = calibrate(z, y)
    before = macro_f1(np.argmax(z, axis=1), y, 2)
    after = macro_f1(np.argmax(z / t + np.asarray(b), axis=1), y, 2)
    assert b[1] > 0 and after > before + 0.02
