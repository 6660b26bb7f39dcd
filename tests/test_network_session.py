"""Networks in the Session, projects, registry, blockwise prediction and the CLI (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest

import brushlab
from brushlab import models
from brushlab.network import NetworkClassifier, load_network
from tests.hidden_torch import REASON

torch = pytest.importorskip("torch", reason=REASON)

FEATURES = brushlab.FeatureSet({"gaussian_smoothing": [1.0], "laplacian_of_gaussian": [1.0]})
SMALL = {"depth": 2, "base_channels": 4, "max_steps": 8, "patch_size": (32, 32), "n_jobs": 1}


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.normal(0, 0.5, (64, 80)).astype(np.float32)
    image[:, 40:] += 2.0
    labels = np.zeros((64, 80), np.uint8)
    labels[3:-3:5, 4:36] = 1
    labels[3:-3:5, 44:76] = 2
    return image, labels


@pytest.fixture(scope="module")
def net() -> NetworkClassifier:
    image, labels = _data()
    forest = brushlab.PixelClassifier(FEATURES, n_trees=5, random_state=0, n_jobs=1,
                                       model="random_forest")
    return NetworkClassifier(forest=forest, random_state=0, **SMALL).fit(image, labels)


def test_session_trains_saves_and_reopens_the_network(tmp_path) -> None:
    image, labels = _data()
    with brushlab.Session(image, features=FEATURES, classifier_params={"n_trees": 5},
                          precompute=False) as s:
        s.import_labels(0, labels)
        records = []
        net = s.train_network(progress=records.append, **SMALL)
        assert s.network is net and net.forest is not None
        assert net.forest.features == FEATURES and records
        before = net.predict(image).probabilities.values
        path = s.save(tmp_path / "p.blproj")
    reopened = brushlab.open_project(path, precompute=False)
    assert reopened.network is not None
    np.testing.assert_array_equal(reopened.network.predict(image).probabilities.values, before)
    from brushlab.session._network import predict_network

    np.testing.assert_array_equal(predict_network(reopened, 0).probabilities.values, before)
    reopened.close()


def test_cancel_keeps_the_best_network_so_far() -> None:
    image, labels = _data()
    seen: list[dict] = []
    polls = [0]

    def cancel() -> bool:
        polls[0] += 1
        return polls[0] > 5  # cancelled after a few steps, long before the 5-minute budget

    net = NetworkClassifier(forest=None, random_state=0, **dict(SMALL, max_steps=None,
                                                                 minutes=5))
    net.fit(image, labels, progress=seen.append, cancel=cancel)
    assert net.training["stopped"] == "cancelled" and net.is_trained
    assert len(seen) == 1 and seen[0]["step"] == 5  # the model so far was validated and kept
    assert net.training["steps"] == 5
    assert net.predict(image).segmentation.shape == image.shape


def test_registry_lists_and_loads_networks(net: NetworkClassifier, tmp_path) -> None:
    models.save(net, "unet", description="demo", folder=tmp_path)
    row = models.list(folder=tmp_path).iloc[0]
    assert row["type"] == "network-classifier" and "U-Net" in row["features"]
    loaded = models.load("unet", folder=tmp_path)
    image, _ = _data()
    assert isinstance(loaded, NetworkClassifier)
    np.testing.assert_array_equal(loaded.predict(image).probabilities.values,
                                  net.predict(image).probabilities.values)


def test_predict_blockwise_runs_networks(net: NetworkClassifier, tmp_path) -> None:
    from brushlab.blockwise import predict_blockwise

    rng = np.random.default_rng(1)
    image = rng.normal(0, 0.5, (90, 110)).astype(np.float32)
    image[:, 55:] += 2.0
    expected = net.predict(image)
    for clf in (net, net.save(tmp_path / "net.brushlab")):
        out = predict_blockwise(clf, image, tmp_path / f"o{id(clf)}.zarr", chunks=(40, 48),
                                outputs=("probabilities", "segmentation"), overwrite=True)
        got = brushlab.imread(out)
        np.testing.assert_allclose(np.moveaxis(got.values, -1, 0),
                                   expected.probabilities.values, atol=1e-5)


def test_objects_step_consumes_network_output(net: NetworkClassifier) -> None:
    image, _ = _data()
    result = net.predict(image)
    regions = brushlab.instances(result.segmentation == 2)
    assert regions.max() >= 1


def test_cli_train_network(tmp_path) -> None:
    from brushlab.cli import main

    image, labels = _data()
    brushlab.write_image(tmp_path / "img.tif", image)
    brushlab.write_image(tmp_path / "lab.tif", labels)
    out = tmp_path / "net.brushlab"
    code = main(["train-network", str(tmp_path / "img.tif"), "--labels", str(tmp_path / "lab.tif"),
                 "--output", str(out), "--minutes", "1", "--max-steps", "5", "--depth", "2",
                 "--base-channels", "4", "--patch-size", "32", "--no-forest", "--seed", "0"])
    assert code == 0
    assert load_network(out).predict(image).segmentation.shape == image.shape
