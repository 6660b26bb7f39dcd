"""Networks without PyTorch: saved ones predict, load in projects and run from the CLI.

Only training needs torch (``brushlab[train]``); it must say how to install it. The
network files in ``tests/data`` were trained by ``tests/data/make_network_files.py``, so
these tests need no torch: ``make unit-notorch`` runs them with torch hidden
(``BRUSHLAB_HIDE_TORCH=1``, see ``tests/hidden_torch.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import brushlab
from brushlab import models
from brushlab.cli import main
from brushlab.errors import MissingDependencyError
from brushlab.network import NetworkClassifier, load_model_file, load_network
from tests.hidden_torch import (
    TRAIN_EXTRA,
    TorchHider,
    block_torch_imports,
    torch_hidden_requested,
)

DATA = Path(__file__).parent / "data"
MODEL = DATA / "network_format1.brushlab"
PROJECT = DATA / "network_format1_project.brushlab-project"
IMAGE = np.load(DATA / "network_format1_image.npy")
EXPECTED = np.load(DATA / "network_format1_probabilities.npy")
EXTRA = TRAIN_EXTRA.replace("[", r"\[").replace("]", r"\]")


@pytest.fixture
def no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Torch is hidden for the whole run (make unit-notorch), or just for this test."""
    if not torch_hidden_requested():
        block_torch_imports(monkeypatch)


def _labels() -> np.ndarray:
    labels = np.zeros(IMAGE.shape, np.uint8)
    labels[4:44:4, 2:10] = 1
    labels[4:44:4, 40:50] = 2
    return labels


def test_hidden_torch_cannot_be_imported() -> None:
    if torch_hidden_requested():  # make unit-notorch: the whole run is without torch
        with pytest.raises(ModuleNotFoundError, match="hidden"):
            import torch  # noqa: F401
    for name in ("torch", "torch.nn.functional"):
        with pytest.raises(ModuleNotFoundError):
            TorchHider().find_spec(name)
    assert TorchHider().find_spec("torchvision") is None  # only torch itself


def test_a_saved_network_predicts_with_onnxruntime_alone() -> None:
    net = load_network(MODEL)
    assert net.forest is not None and net.class_names == ["dark", "bright"]
    result = net.predict(IMAGE)
    np.testing.assert_allclose(result.probabilities.values, EXPECTED, atol=1e-5)
    assert set(np.unique(result.segmentation.values)) == {1, 2}
    tiled = net.predict(IMAGE, tile_shape=(20, 24)).probabilities.values
    np.testing.assert_allclose(tiled, EXPECTED, atol=1e-5)


def test_a_project_holding_a_network_opens_and_saves_again(tmp_path: Path) -> None:
    from brushlab.session._network import predict_network

    with brushlab.open_project(PROJECT, precompute=False) as session:
        assert isinstance(session.network, NetworkClassifier)
        first = predict_network(session, 0).probabilities.values
        np.testing.assert_allclose(first, EXPECTED, atol=1e-5)
        again = session.save(tmp_path / "again.brushlab-project")
    with brushlab.open_project(again, precompute=False) as reopened:
        np.testing.assert_array_equal(predict_network(reopened, 0).probabilities.values, first)


def test_brushlab_predict_and_info_take_a_network(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    brushlab.write_image(tmp_path / "img.tif", IMAGE)
    out = tmp_path / "out"
    code = main(["predict", str(MODEL), str(tmp_path / "img.tif"), "-o", str(out), "--format",
                 "npy", "--tile", "24", "-q"])
    assert code == 0, capsys.readouterr().err
    proba = np.load(out / "img_probabilities.npy")
    np.testing.assert_allclose(np.moveaxis(proba, -1, 0), EXPECTED, atol=1e-5)
    np.testing.assert_array_equal(np.load(out / "img_segmentation.npy"), EXPECTED.argmax(0) + 1)

    assert main(["info", str(MODEL)]) == 0
    text = capsys.readouterr().out
    assert "(a network)" in text and "U-Net, 2 levels" in text and "1 dark, 2 bright" in text
    assert main(["info", str(MODEL), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "network-classifier" and info["architecture"]["depth"] == 2
    assert info["forest_features"] == {"gaussian_smoothing": [1.0],
                                       "laplacian_of_gaussian": [1.0]}


def test_registry_and_blockwise_prediction_take_a_network_file(tmp_path: Path) -> None:
    from brushlab.blockwise import predict_blockwise

    assert isinstance(load_model_file(MODEL), NetworkClassifier)
    models.import_(MODEL, name="unet", folder=tmp_path / "registry")
    assert isinstance(models.load("unet", folder=tmp_path / "registry"), NetworkClassifier)
    out = predict_blockwise(MODEL, IMAGE, tmp_path / "out.zarr", chunks=(24, 32),
                            outputs=("probabilities",), progress=False)
    got = np.moveaxis(brushlab.imread(out).values, -1, 0)
    np.testing.assert_allclose(got, EXPECTED, atol=1e-5)


def test_a_saved_network_exports_to_the_model_zoo(tmp_path: Path) -> None:
    pytest.importorskip("bioimageio.spec", reason="exporting needs bioimageio.spec")
    path = load_network(MODEL).export_bioimageio(tmp_path / "net.zip", sample_image=IMAGE)
    assert brushlab.load_model(path).test().passed


@pytest.mark.usefixtures("no_torch")
def test_training_without_torch_says_how_to_install_it(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MissingDependencyError, match=EXTRA):
        NetworkClassifier(forest=None).fit(IMAGE, _labels())
    with brushlab.Session(IMAGE, classes=["dark", "bright"], precompute=False) as session:
        session.import_labels(0, _labels())
        with pytest.raises(MissingDependencyError, match=EXTRA):
            session.train_network()
        assert session.network is None and session.training_history == []
    code = main(["train-network", str(tmp_path / "not-read.tif"), "--labels",
                 str(tmp_path / "not-read.png"), "-o", str(tmp_path / "net.brushlab")])
    assert code == 1
    err = capsys.readouterr().err
    assert TRAIN_EXTRA in err and "not-read" not in err  # said before reading the images
    assert not (tmp_path / "net.brushlab").exists()


@pytest.mark.usefixtures("no_torch")
def test_the_network_panel_without_torch_says_how_to_install_it() -> None:
    pytest.importorskip("ipycanvas")
    from brushlab.widgets import annotate

    ann = annotate(IMAGE, classes=["dark", "bright"], size=96, live=False,
                   features=brushlab.FeatureSet({"gaussian_smoothing": [1.0]}))
    try:
        ann.session.import_labels(0, _labels())
        reported: list[tuple[str, bool]] = []
        panel = ann.network_panel
        panel.report = lambda text, error=False: reported.append((text, error))
        panel.train()
        assert panel.training.wait(60)
        assert TRAIN_EXTRA in panel.status.value and reported and reported[-1][1]
        assert not panel.train_button.disabled and ann.session.network is None
    finally:
        ann.close()
        ann.session.close()
