"""brushlab.registry: the model registry over a folder."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pandas as pd
import pytest

import brushlab
from brushlab import registry as models
from brushlab.errors import BrushlabError

RDF = """\
type: model
format_version: 0.5.3
name: Nucleus U-Net
description: Segments nuclei in fluorescence images
authors:
  - name: Someone
"""


@pytest.fixture
def trained():
    image = np.zeros((32, 32), np.float32)
    image[:, 16:] = 1
    labels = np.zeros((32, 32), np.uint8)
    labels[4, 2:8], labels[4, 20:30] = 1, 2
    clf = brushlab.PixelClassifier(brushlab.FeatureSet({"gaussian": [1.0]}), n_trees=5)
    return clf.fit(image, labels, ["background", "cell"])


def test_save_list_load_describe(tmp_path, trained):
    assert models.list(folder=tmp_path / "none").empty
    path = models.save(trained, "cells v1", description="first try", folder=tmp_path)
    assert path == tmp_path / "cells v1.brushlab"
    table = models.list(folder=tmp_path)
    assert isinstance(table, pd.DataFrame) and list(table.columns) == list(models.COLUMNS)
    row = table.iloc[0]
    assert (row["name"], row["type"], row["classes"], row["description"]) == (
        "cells v1",
        "pixel-classifier",
        ["background", "cell"],
        "first try",
    )
    assert row["created"].startswith("20")
    info = models.describe("cells v1", folder=tmp_path)
    assert info["n_trees"] == 5 and info["feature_set"]["selection"] == {
        "gaussian_smoothing": [1.0]
    }
    again = models.load("cells v1", folder=tmp_path)
    assert again.class_names == ["background", "cell"]
    assert brushlab.load_classifier(path).class_names == ["background", "cell"]  # plain file
    with pytest.raises(models.RegistryError, match="exists already"):
        models.save(trained, "cells v1", folder=tmp_path)
    models.save(trained, "cells v1", description="second", overwrite=True, folder=tmp_path)
    assert models.describe("cells v1", folder=tmp_path)["description"] == "second"
    for bad in ("", ".hidden", "a/b", "x" * 101, " lead"):
        with pytest.raises(models.RegistryError, match="not a usable model name"):
            models.save(trained, bad, folder=tmp_path)


def test_rename_clone_delete_export_import(tmp_path, trained):
    reg = tmp_path / "reg"
    models.save(trained, "a", description="A", folder=reg)
    models.clone("a", "b", description="B", folder=reg)
    assert models.list(folder=reg)["name"].tolist() == ["a", "b"]
    assert models.describe("b", folder=reg)["description"] == "B"
    with pytest.raises(models.RegistryError, match="exists already"):
        models.rename("a", "b", folder=reg)
    models.rename("a", "c", folder=reg)
    assert models.list(folder=reg)["name"].tolist() == ["b", "c"]
    with pytest.raises(models.RegistryError, match="no model named 'a'"):
        models.load("a", folder=reg)
    out = models.export("c", tmp_path / "shared.brushlab", folder=reg)
    assert brushlab.load_classifier(out).class_names == ["background", "cell"]
    models.delete("c", folder=reg)
    assert models.list(folder=reg)["name"].tolist() == ["b"]
    name = models.import_(out, folder=reg)
    assert name == "shared" and models.describe("shared", folder=reg)["description"] == "A"
    with pytest.raises(models.RegistryError, match="exists already"):
        models.import_(out, folder=reg)
    models.import_(out, name="shared", description="new", overwrite=True, folder=reg)
    assert models.describe("shared", folder=reg)["description"] == "new"
    junk = tmp_path / "junk.brushlab"
    junk.write_bytes(b"not a model")
    with pytest.raises(models.RegistryError, match="cannot import"):
        models.import_(junk, folder=reg)
    assert sorted(p.name for p in reg.iterdir()) == ["b.brushlab", "shared.brushlab"]


def test_bioimageio_packages_folder_and_zip(tmp_path):
    package = tmp_path / "unet"
    package.mkdir()
    (package / "rdf.yaml").write_text(RDF)
    (package / "weights.onnx").write_bytes(b"\0" * 10)
    archive = tmp_path / "unet2.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("bioimageio.yaml", RDF.replace("Nucleus U-Net", "Zipped"))
    reg = tmp_path / "reg"
    assert models.import_(package, folder=reg) == "unet"
    assert models.import_(archive, folder=reg) == "unet2"
    table = models.list(folder=reg).set_index("name")
    assert table.loc["unet", "type"] == "bioimageio"
    assert table.loc["unet", "title"] == "Nucleus U-Net"
    assert table.loc["unet", "description"] == "Segments nuclei in fluorescence images"
    assert table.loc["unet2", "title"] == "Zipped"
    assert models.describe("unet", folder=reg)["rdf"]["authors"] == [{"name": "Someone"}]
    with pytest.raises(models.RegistryError, match="brushlab.bioimageio"):
        models.load("unet", folder=reg)
    models.clone("unet", "unet copy", folder=reg)
    assert (reg / "unet copy" / "weights.onnx").is_file()
    exported = models.export("unet2", tmp_path / "out.zip", folder=reg)
    assert zipfile.ZipFile(exported).namelist() == ["bioimageio.yaml"]
    models.export("unet", tmp_path / "exported-unet", folder=reg)
    assert (tmp_path / "exported-unet" / "rdf.yaml").is_file()
    models.delete("unet copy", folder=reg)
    assert sorted(models.list(folder=reg)["name"]) == ["unet", "unet2"]
    assert not [p for p in reg.iterdir() if p.name.startswith(".")]  # nothing left behind


def test_default_folder_env_and_override(tmp_path, monkeypatch, trained):
    monkeypatch.setenv("BRUSHLAB_MODELS", str(tmp_path / "env"))
    assert models.folder() == tmp_path / "env"
    models.save(trained, "m")
    assert (tmp_path / "env" / "m.brushlab").is_file()
    models.set_folder(tmp_path / "chosen")
    try:
        assert models.folder() == tmp_path / "chosen" and models.list().empty
    finally:
        models.set_folder(None)
    monkeypatch.delenv("BRUSHLAB_MODELS")
    assert models.folder().name == "models" and "brushlab" in str(models.folder())


def test_unreadable_entries_are_listed_not_fatal(tmp_path):
    (tmp_path / "broken.brushlab").write_bytes(b"PK\x03\x04garbage")
    (tmp_path / "notes.txt").write_text("ignored")
    os.makedirs(tmp_path / "empty folder")
    table = models.list(folder=tmp_path)
    assert table["name"].tolist() == ["broken"] and table.iloc[0]["type"] == "unreadable"
    with pytest.raises(BrushlabError):
        models.load("broken", folder=tmp_path)
