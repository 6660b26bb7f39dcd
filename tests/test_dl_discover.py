"""A models folder: packages listed with name, description, inputs, outputs; broken ones say why."""

from __future__ import annotations

import shutil
import zipfile

import numpy as np

import brushlab
from tests.dl_packages import logits_model, simple_package


def test_discover_lists_folders_and_zips(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    simple_package(models / "affine")
    softmax = simple_package(
        tmp_path / "softmax",
        model=logits_model([1.0, -1.0]),
        reference=lambda a: np.zeros((1, 2, *a.shape[2:]), np.float32),
        out_channels=("a", "b"),
        output_id="logits",
    )
    with zipfile.ZipFile(models / "softmax.zip", "w") as zf:
        for f in softmax.iterdir():
            zf.write(f, f.name)
    broken = shutil.copytree(models / "affine", models / "broken")
    (broken / "model.onnx").unlink()
    (models / "notes.txt").write_text("not a model")
    (models / "empty").mkdir()

    found = brushlab.bioimageio.discover(models)
    assert [m.path.split("/")[-1] for m in found] == ["affine", "broken", "softmax.zip"]
    affine, bad, zipped = found
    assert affine.ok and affine.name == "test affine"
    assert affine.description == "a model the brushlab tests build"
    assert affine.inputs == ("raw: batch,channel[1],y[8+8n],x[8+8n] float32",)
    assert affine.outputs == ("out: batch,channel[1],y[=raw.y],x[=raw.x] float32",)
    assert affine.weights == ("onnx",) and affine.format_version == "0.5"
    assert not bad.ok and "does not contain it" in bad.error
    assert zipped.ok and zipped.outputs[0].startswith("logits: batch,channel[2]")

    frame = brushlab.bioimageio.discover_frame(models)
    # a package brushlab cannot run still shows the name its yaml gives (here a copy's)
    assert list(frame["name"]) == ["test affine", "test affine", "test softmax"]
    assert frame["error"].astype(bool).tolist() == [False, True, False]
    assert {"description", "inputs", "outputs", "error"} <= set(frame.columns)


def test_run_model_overlay_returns_class_probabilities(tmp_path):
    model = brushlab.load_model(
        simple_package(
            tmp_path / "sig",
            postprocessing=[
                {"id": "scale_linear", "kwargs": {"gain": 0.01, "offset": -1.0}},
                {"id": "sigmoid"},
            ],
            reference=lambda a: 1 / (1 + np.exp(-((a * 2 + 1) * 0.01 - 1.0))),
        )
    )
    plane = np.linspace(0, 100, 30 * 20, dtype=np.float32).reshape(30, 20)
    proba = brushlab.bioimageio.run_model_overlay(model, plane)
    assert proba.shape == (2, 30, 20) and proba.dtype == np.float32
    np.testing.assert_allclose(
        proba[1], 1 / (1 + np.exp(-((plane * 2 + 1) * 0.01 - 1.0))), atol=1e-6
    )
    np.testing.assert_allclose(proba.sum(0), 1.0, atol=1e-6)


def test_discover_needs_a_folder(tmp_path):
    import pytest

    from brushlab.errors import ModelPackageError

    with pytest.raises(ModelPackageError, match="not a folder"):
        brushlab.bioimageio.discover(tmp_path / "nope")
