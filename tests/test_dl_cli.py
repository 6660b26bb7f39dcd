"""``brushlab model list|test|predict``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import tifffile

import brushlab
from brushlab.cli._main import main
from tests.dl_packages import simple_package


def _sigmoid_package(path):
    return simple_package(
        path,
        postprocessing=[
            {"id": "scale_linear", "kwargs": {"gain": 0.5, "offset": -3.0}},
            {"id": "sigmoid"},
        ],
        reference=lambda a: 1.0 / (1.0 + np.exp(-((a * 2 + 1) * 0.5 - 3.0))),
        out_channels=("cell",),
    )


def test_model_list_and_test(tmp_path, capsys):
    models = tmp_path / "models"
    _sigmoid_package(models / "sig")
    simple_package(models / "wrong", reference=lambda a: a * 3)
    assert main(["model", "list", str(models)]) == 0
    out = capsys.readouterr().out
    assert "test sig" in out and "inputs:  raw: batch" in out
    assert main(["model", "test", str(models / "sig")]) == 0
    assert "passed" in capsys.readouterr().out
    assert main(["model", "test", str(models / "sig"), str(models / "wrong")]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_model_predict_writes_outputs_and_objects(tmp_path, capsys):
    pkg = _sigmoid_package(tmp_path / "sig")
    image = np.zeros((30, 40), np.float32)
    image[5:12, 5:15] = 10
    np.save(tmp_path / "cells.npy", image)
    out = tmp_path / "out"
    code = main(
        [
            "model",
            "predict",
            str(pkg),
            str(tmp_path / "cells.npy"),
            "-o",
            str(out),
            "--mask-threshold",
            "0.5",
            "--tile",
            "16",
        ]
    )
    assert code == 0, capsys.readouterr().err
    proba = brushlab.imread(out / "cells_probabilities.tif")
    assert dict(proba.sizes) == {"y": 30, "x": 40, "c": 2}
    assert tifffile.imread(out / "cells_segmentation.tif")[8, 8] == 2
    labels = tifffile.imread(out / "cells_objects.tif")
    assert labels.max() == 1 and (labels > 0).sum() == 70
    table = pd.read_csv(out / "cells_objects.csv")
    assert table["area"].tolist() == [70]
    assert main(["model", "predict", str(pkg), str(tmp_path / "missing.npy"), "-o", str(out)]) == 1
    assert "missing.npy" in capsys.readouterr().err
