"""brushlab.measure, ObjectClassifier, overlays and object_at."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import brushlab
from brushlab import objects
from brushlab.errors import ClassifierError, ImageError, LabelError, ModelFileError


def _scene():
    """Small dim and big bright squares, ids with gaps, and an intensity image."""
    labels = np.zeros((60, 80), np.int32)
    image = np.full((60, 80), 10.0)
    boxes = [(3, 3, 4), (3, 30, 10), (20, 5, 4), (20, 30, 10), (40, 5, 4), (40, 30, 10),
             (45, 60, 4), (5, 60, 10)]
    for i, (y, x, s) in enumerate(boxes):
        obj = 2 * i + 3  # ids 3, 5, 7, ...: gaps
        labels[y : y + s, x : x + s] = obj
        image[y : y + s, x : x + s] = 50.0 if s == 4 else 200.0
    return labels, image


def test_measure_sizes_positions_intensities_and_units():
    labels, image = _scene()
    img = xr.DataArray(image, dims=("y", "x"), attrs={"spacing": {"y": 0.5, "x": 0.5},
                                                      "unit": "micrometer"})
    table = brushlab.measure(labels, img)
    assert list(table.index) == [3, 5, 7, 9, 11, 13, 15, 17]
    row = table.loc[5]
    assert row["n_pixels"] == 100 and row["area"] == pytest.approx(25.0)
    assert (row["centroid_y"], row["centroid_x"]) == (7.5, 34.5)
    assert (row["bbox_y_start"], row["bbox_y_stop"], row["bbox_x_start"]) == (3, 13, 30)
    assert row["intensity_mean"] == 200 and row["intensity_std"] == 0
    assert row["perimeter"] == pytest.approx(0.5 * brushlab.measure(labels).loc[5, "perimeter"])
    assert row["solidity"] == pytest.approx(1.0) and row["eccentricity"] == pytest.approx(0.0)
    assert table.attrs["unit"] == "micrometer" and table.attrs["units"]["area"] == "micrometer^2"
    # an n x n square: 4 sqrt(variance of 0..n-1) pixels of 0.5 um
    assert table.loc[3, "axis_major_length"] == pytest.approx(4 * 0.5 * np.sqrt(15 / 12))


def test_measure_anisotropic_2d_perimeter_is_nan_not_wrong():
    labels, _ = _scene()
    table = brushlab.measure(labels, spacing={"y": 2.0, "x": 1.0})
    assert table["perimeter"].isna().all()
    assert table.loc[5, "area"] == 200


def test_measure_multichannel_and_class_from_result():
    labels, image = _scene()
    rgb = np.stack([image, image / 2], axis=-1)
    p = np.where(labels > 0, 0.8, 0.1).astype(np.float32)
    p[3:6, 3:7] = 0.2  # 12 of the 16 pixels of object 3 say background
    result = xr.Dataset({"probabilities": (("class", "y", "x"), np.stack([1 - p, p]))},
                        coords={"class": ["background", "cell"]})
    table = brushlab.measure(labels, rgb, result=result)
    assert table.loc[5, "intensity_mean_1"] == 100 and table.loc[5, "intensity_max_0"] == 200
    assert table.loc[5, "class"] == "cell" and table.loc[5, "class_id"] == 2
    assert table.loc[5, "class_confidence"] == pytest.approx(0.8)
    assert table.loc[3, "class"] == "background"
    assert table.loc[3, "class_confidence"] == pytest.approx((12 * 0.8 + 4 * 0.2) / 16)
    with pytest.raises(ImageError):
        brushlab.measure(labels, np.zeros((5, 5)))


def test_measure_3d_volume_extent_solidity():
    labels = np.zeros((5, 20, 20), np.int32)
    labels[1:4, 2:8, 2:8] = 1
    labels[2, 10:15, 10:15] = 2  # flat: no 3D convex hull
    table = brushlab.measure(labels, spacing=(2.0, 1.0, 1.0))
    assert table.loc[1, "volume"] == 3 * 36 * 2.0 and table.loc[1, "extent"] == 1.0
    assert table.loc[1, "solidity"] == pytest.approx(1.0) and np.isnan(table.loc[2, "solidity"])
    assert "perimeter" not in table and table.loc[1, "centroid_z"] == 2.0


def test_write_table_csv_and_parquet(tmp_path):
    labels, image = _scene()
    table = brushlab.measure(labels, image)
    csv = objects.write_table(table, tmp_path / "t.csv")
    pq = objects.write_table(table, tmp_path / "t.parquet")
    back_csv = pd.read_csv(csv, index_col="label")
    back_pq = pd.read_parquet(pq)
    pd.testing.assert_frame_equal(back_pq, table, check_like=True)
    assert list(back_csv.index) == list(table.index)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.parquet"]
    with pytest.raises(brushlab.BrushlabError, match="suffix"):
        objects.write_table(table, tmp_path / "t.xlsx")


def test_object_classifier_learns_from_a_few_objects(tmp_path):
    labels, image = _scene()
    clf = brushlab.ObjectClassifier(["small", "big"], n_trees=20, random_state=0)
    clf.fit(labels, image, {3: "small", 5: "big", 7: "small", 9: "big"})
    pred = clf.predict(labels, image)
    truth = {i: ("small" if labels[labels == i].size == 16 else "big") for i in pred.index}
    assert pred["class"].to_dict() == truth
    assert {"probability", "probability_small", "probability_big"} <= set(pred.columns)
    assert np.allclose(pred["probability_small"] + pred["probability_big"], 1)
    classes = clf.class_image(labels, pred)
    assert classes.dtype == np.uint8 and classes[4, 4] == 1 and classes[5, 35] == 2
    assert classes[0, 0] == 0
    path = clf.save(tmp_path / "objects.brushlab")
    again = objects.load_object_classifier(path)
    pd.testing.assert_frame_equal(again.predict(labels, image), pred)
    with pytest.raises(ModelFileError, match="not a brushlab object classifier"):
        _pixel_model(tmp_path)
    with pytest.raises(ModelFileError):
        brushlab.load_classifier(path)


def _pixel_model(tmp_path):
    img = np.zeros((16, 16), np.float32)
    img[:, 8:] = 1
    lab = np.zeros((16, 16), np.uint8)
    lab[2, 2:6] = 1
    lab[2, 10:14] = 2
    path = brushlab.PixelClassifier(n_trees=2).fit(img, lab).save(tmp_path / "px.brushlab")
    objects.load_object_classifier(path)


def test_object_classifier_with_ids_and_several_images():
    labels, image = _scene()
    clf = brushlab.ObjectClassifier(n_trees=10, random_state=0)
    clf.fit([labels, labels[:, ::-1]], [image, image[:, ::-1]], [{3: 1, 5: 2}, {7: 1, 9: 2}])
    assert clf.class_names == ["class 1", "class 2"]
    assert clf.predict(labels, image).loc[11, "class_id"] == 1


@pytest.mark.parametrize(
    ("annotations", "error", "match"),
    [
        ({3: "small", 4: "big"}, LabelError, r"object ids \[4\]"),
        ({3: "small", 5: "small"}, LabelError, "two classes"),
        ({3: "small", 5: "huge"}, LabelError, "huge"),
        ({}, LabelError, "no annotated"),
        ({3: 1, 5: "big"}, LabelError, "mix"),
    ],
)
def test_object_classifier_bad_annotations(annotations, error, match):
    labels, image = _scene()
    with pytest.raises(error, match=match):
        brushlab.ObjectClassifier(["small", "big"], n_trees=5).fit(labels, image, annotations)


def test_object_classifier_needs_the_same_features():
    labels, image = _scene()
    clf = brushlab.ObjectClassifier(n_trees=5).fit(labels, image, {3: 1, 5: 2})
    with pytest.raises(ClassifierError, match="intensity"):
        clf.predict(labels)  # trained with an image, predicted without
    with pytest.raises(ClassifierError, match="not trained"):
        brushlab.ObjectClassifier().predict(labels)


def test_overlays_and_object_at():
    labels, _ = _scene()
    rgba = objects.label_overlay(labels, alpha=1.0)
    assert rgba.shape == (60, 80, 4) and rgba.dtype == np.uint8
    assert rgba[0, 0, 3] == 0 and rgba[4, 4, 3] == 255
    assert not np.array_equal(rgba[4, 4], rgba[5, 35])  # neighbours differ (ids 3, 5)
    other = labels.copy()
    other[other == 3] = 0
    assert np.array_equal(objects.label_overlay(other, alpha=1.0)[5, 35], rgba[5, 35])  # stable
    wraps = len(objects.CLASS_COLORS) + 1  # past the palette's end, colours repeat
    classes = objects.class_overlay(np.array([[0, 1, 2, wraps]]), alpha=0.5)
    assert classes[0, 0, 3] == 0 and tuple(classes[0, 1, :3]) == objects.CLASS_COLORS[0]
    assert classes[0, 3, 3] == 128 and tuple(classes[0, 3, :3]) == objects.CLASS_COLORS[0]
    assert objects.object_at(labels, (4.4, 4.6)) == 3 and objects.object_at(labels, (-1, 3)) == 0
    assert objects.object_at(xr.DataArray(labels, dims=("y", "x")), (5, 35)) == 5
    with pytest.raises(LabelError, match="coordinates"):
        objects.object_at(labels, (1, 2, 3))
    with pytest.raises(LabelError, match="plane"):
        objects.label_overlay(np.zeros((2, 4, 4), int))
