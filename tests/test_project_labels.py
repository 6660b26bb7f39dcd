"""Labels in and out without the widget: brushlab.project's label helpers."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
from numpy.testing import assert_array_equal

import brushlab
from brushlab.errors import LabelError
from brushlab.project import (
    export_labels,
    export_masks,
    import_labels,
    import_masks,
    segmentation_to_labels,
)
from brushlab.session import Session

FS = brushlab.FeatureSet({"gaussian_smoothing": [1.0], "dog": [2.0]})


def halves(shape=(30, 40)) -> np.ndarray:
    image = np.random.default_rng(0).normal(0, 0.05, shape).astype(np.float32)
    image[..., shape[-1] // 2 :] += 1
    return image


def session_of(image, **kw) -> Session:
    return Session(image, features=FS, precompute=False, classifier_params={"n_trees": 5}, **kw)


def test_masks_per_class_from_arrays_and_rgb_png_files(tmp_path):
    cell = np.zeros((30, 40), bool)
    cell[5:10, 25:35] = True
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[20:25, 2:8] = (255, 0, 0)  # a red scribble on black: a mask saved by a paint program
    iio.imwrite(tmp_path / "bg.png", rgb)
    with session_of(halves(), classes=["bg"]) as s:
        with pytest.raises(LabelError, match="add_classes"):
            import_masks(s, 0, {"bg": tmp_path / "bg.png", "cell": cell})
        assert not s.labels(0).any()  # nothing imported when one mask is refused
        edits = import_masks(s, 0, {"bg": tmp_path / "bg.png", "cell": cell}, add_classes=True)
        assert len(edits) == 2 and s.class_names == ["bg", "cell"]
        assert s.label_counts() == {"bg": 30, "cell": 50}
        s.undo()
        assert s.label_counts() == {"bg": 30, "cell": 0}
        with pytest.raises(LabelError, match="do not fit"):
            import_masks(s, 0, {"bg": cell[:10]})


def test_label_image_rgb_grey_and_colour(tmp_path):
    grey = np.zeros((30, 40, 3), np.uint8)
    grey[1:3, 1:3] = 2
    iio.imwrite(tmp_path / "grey.png", grey)
    colour = grey.copy()
    colour[0, 0] = (1, 2, 0)
    iio.imwrite(tmp_path / "colour.png", colour)
    with session_of(halves()) as s:
        import_labels(s, 0, tmp_path / "grey.png")
        assert s.label_counts() == {"class 1": 0, "class 2": 4}
        with pytest.raises(LabelError, match="colour"):
            import_labels(s, 0, tmp_path / "colour.png")


def test_time_lapse_volume_into_one_time_point_and_4d_npy(tmp_path):
    movie = brushlab.as_image(np.stack([np.stack([halves()] * 3)] * 2), dims="tzyx")
    with session_of(movie) as s:
        volume = np.zeros((3, 30, 40), np.uint8)
        volume[2, 4:6, 4:6] = 1
        import_labels(s, 0, volume, time=1)
        assert s.labels(0)[1, 2, 4, 4] == 1 and s.labels(0).sum() == 4
        # A 4D .npy cannot tell its dims: read with the image's (t, z, y, x).
        path = export_labels(s, 0, tmp_path / "all.npy")
        s.undo()
        import_labels(s, 0, path)
        assert s.labels(0).sum() == 4
        for ext in ("tif", "zarr", "npy"):
            out = export_labels(s, 0, tmp_path / f"t1.{ext}", time=1)
            assert_array_equal(np.asarray(brushlab.imread(out).values), s.labels(0)[1])
        png = export_labels(s, 0, tmp_path / "plane.png", plane=(1, 2))
        assert_array_equal(brushlab.imread(png).values, s.labels(0)[1, 2])
        with pytest.raises(LabelError, match="time"):
            import_labels(s, 0, volume, time=5)
        mask = np.zeros((30, 40), bool)
        mask[0, :5] = True
        import_masks(s, 0, {2: mask}, plane=(0, 0))
        assert (s.labels(0)[0, 0, 0, :5] == 2).all()


def test_export_masks_per_class(tmp_path):
    with session_of(halves(), classes=["bg", "cell nucleus"]) as s:
        s.paint(0, [(5, 5)], 1, 1)
        s.paint(0, [(20, 30)], 2, 2)
        files = export_masks(s, 0, tmp_path)
        assert sorted(p.name for p in files.values()) == [
            "image_0_bg.png",
            "image_0_cell_nucleus.png",
        ]
        cell = brushlab.imread(files["cell nucleus"]).values
        assert set(np.unique(cell)) == {0, 255}
        assert_array_equal(cell == 255, s.labels(0) == 2)
    volume = np.stack([halves()] * 2)
    with session_of(brushlab.as_image(volume, dims="zyx")) as s:
        s.paint(0, [(5, 5)], 1, 1, plane=1)
        files = export_masks(s, 0, tmp_path, classes=[1])
        back = brushlab.imread(files["class 1"])
        assert back.dims == ("z", "y", "x") and back.values[1, 5, 5] == 255


def test_segmentation_to_labels_every_plane():
    volume = brushlab.as_image(np.stack([halves()] * 3), dims="zyx")
    with session_of(volume) as s:
        s.paint(0, [(5, 3), (25, 3)], 1, 2, plane=0)
        s.paint(0, [(5, 35), (25, 35)], 2, 2, plane=0)
        s.train()
        edits = segmentation_to_labels(s, 0)
        assert len(edits) == 3
        assert (s.labels(0) > 0).all()
        assert (s.labels(0)[:, :, :15] == 1).mean() > 0.9
        for _ in edits:
            s.undo()
        assert (s.labels(0)[1:] == 0).all()
