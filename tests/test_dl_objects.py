"""Thresholds to objects (mask threshold, class threshold), on arrays and through predict()."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import brushlab
from brushlab.errors import ClassifierError
from brushlab.objects import object_table, objects_from_probabilities
from tests.dl_packages import simple_package


def _probs():
    p = np.zeros((3, 20, 20), np.float32)
    p[0] = 1.0
    p[:, 2:6, 2:6] = np.array([0.1, 0.8, 0.1])[:, None, None]  # a confident "cell"
    p[:, 10:13, 10:15] = np.array([0.3, 0.25, 0.45])[:, None, None]  # a doubtful "dirt"
    p[:, 16:18, 1:3] = np.array([0.6, 0.2, 0.2])[:, None, None]  # mostly background
    return xr.DataArray(
        p, dims=["class", "y", "x"], coords={"class": ["background", "cell", "dirt"]}
    )


def test_mask_and_class_thresholds():
    ds = objects_from_probabilities(_probs(), mask_threshold=0.5)
    assert int(ds.objects.max()) == 2
    table = object_table(ds)
    assert table["class_name"].tolist() == ["cell", "dirt"]
    assert table["class"].tolist() == [2, 3]  # ids as in segmentation (1..K)
    assert table["area"].tolist() == [16, 15]
    np.testing.assert_allclose(table["confidence"], [0.8, 0.45], atol=1e-6)
    np.testing.assert_allclose(table[["centroid_y", "centroid_x"]].values[0], [3.5, 3.5])
    strict = objects_from_probabilities(_probs(), mask_threshold=0.5, class_threshold=0.6)
    assert int(strict.objects.max()) == 1 and strict.sizes["object"] == 1
    assert not strict.objects.values[10:13, 10:15].any()
    loose = objects_from_probabilities(_probs(), mask_threshold=0.35)
    assert loose.sizes["object"] == 3


def test_background_choice_and_bad_thresholds():
    p = _probs()
    ds = objects_from_probabilities(p, mask_threshold=0.5, background="dirt")
    assert set(object_table(ds)["class_name"]) <= {"background", "cell"}
    with pytest.raises(ClassifierError, match=r"in \[0, 1\]"):
        objects_from_probabilities(p, mask_threshold=1.5)
    with pytest.raises(ClassifierError, match="no class 'nucleus'"):
        objects_from_probabilities(p, background="nucleus")


def test_labels_are_unique_over_frames():
    p = xr.concat([_probs(), _probs()], dim="t").transpose("class", "t", "y", "x")
    ds = objects_from_probabilities(p, mask_threshold=0.5)
    assert ds.objects.dims == ("t", "y", "x")
    assert sorted(np.unique(ds.objects.values[1]))[1:] == [3, 4]
    assert object_table(ds)["t"].tolist() == [0, 0, 1, 1]


def test_predict_adds_objects_from_a_sigmoid_model(tmp_path):
    image = np.zeros((40, 48), np.float32)
    image[5:15, 5:15] = 10.0
    image[25:35, 30:44] = 10.0
    image[30:32, 5:7] = 4.0  # p = 0.82: in the mask, below the class threshold
    pkg = simple_package(
        tmp_path / "sigmoid",
        postprocessing=[
            {"id": "scale_linear", "kwargs": {"gain": 0.5, "offset": -3.0}},
            {"id": "sigmoid"},
        ],
        reference=lambda a: 1.0 / (1.0 + np.exp(-((a * 2 + 1) * 0.5 - 3.0))),
        out_channels=("foreground",),
        output_id="mask",
    )
    model = brushlab.load_model(pkg)
    predicted = model.predict(image)
    result = predicted.merge(
        objects_from_probabilities(predicted.probabilities, mask_threshold=0.5, class_threshold=0.9)
    )
    assert list(result.coords["class"].values) == ["background", "foreground"]
    assert result.objects.dims == ("y", "x")
    table = object_table(result)
    assert len(table) == 2 and (table["confidence"] > 0.9).all()
    assert table["area"].tolist() == [100, 140]
    assert result.objects.values[31, 6] == 0
    loose = objects_from_probabilities(predicted.probabilities, mask_threshold=0.5)
    assert len(object_table(loose)) == 3
    assert "mask" in result and result["mask"].dims == ("channel", "y", "x")
