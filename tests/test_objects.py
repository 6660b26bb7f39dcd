"""brushlab.objects: post-processing, CRF and instances (2D, 3D, xarray, bad input)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import brushlab
from brushlab import objects
from brushlab.errors import BrushlabError, ImageError, LabelError


def _discs(shape=(40, 60), centres=((20, 18), (20, 40)), radius=12):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    mask = np.zeros(shape, bool)
    for cy, cx in centres:
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
    return mask


def _balls(spacing, shape=(20, 60, 60), centres=((30, 20, 30), (30, 42, 30)), radius=12.0):
    """Balls of ``radius`` in physical units, sampled with anisotropic ``spacing``."""
    zz, yy, xx = np.meshgrid(
        *[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij"
    )
    mask = np.zeros(shape, bool)
    for cz, cy, cx in centres:
        mask |= (zz - cz) ** 2 + (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
    return mask


# -- instances ------------------------------------------------------------------------


def test_touching_discs_split_only_when_asked():
    mask = _discs()
    assert int(brushlab.instances(mask, separate=False).max()) == 1
    labels = brushlab.instances(mask)
    assert labels.dtype == np.int32 and int(labels.max()) == 2
    assert labels[20, 10] != labels[20, 50] and labels[0, 0] == 0
    assert set(np.unique(labels[mask])) == {1, 2}  # every mask pixel belongs to an object


def test_round_object_is_not_cut():
    yy, xx = np.mgrid[:50, :50]
    blob = ((yy - 25) / 20) ** 2 + ((xx - 25) / 12) ** 2 < 1
    assert int(brushlab.instances(blob).max()) == 1


def test_class_image_components_per_class_and_foreground():
    seg = np.zeros((10, 10), np.uint8)
    seg[2:5, 2:5] = 2
    seg[2:5, 5:8] = 3  # touches class 2: still a separate object
    labels = brushlab.instances(seg, separate=False)
    assert int(labels.max()) == 2 and labels[3, 3] != labels[3, 6]
    only = brushlab.instances(seg, separate=False, foreground=3)
    assert int(only.max()) == 1 and only[3, 3] == 0


def test_3d_anisotropic_spacing_is_respected():
    spacing = (3.0, 1.0, 1.0)
    mask = _balls(spacing)
    image = xr.DataArray(mask, dims=("z", "y", "x"), attrs={"spacing": dict(zip("zyx", spacing))})
    labels = brushlab.instances(image)
    assert isinstance(labels, xr.DataArray) and labels.dims == ("z", "y", "x")
    assert labels.attrs["spacing"] == {"z": 3.0, "y": 1.0, "x": 1.0}
    assert int(labels.max()) == 2
    table = brushlab.measure(labels)
    assert table.attrs["spacing"]["z"] == 3.0
    # each half is about a ball of radius 12 (the overlap lens goes to one side or the other)
    assert table["volume"].sum() == pytest.approx(mask.sum() * 3.0)
    assert table["volume"].min() > 0.75 * 4 / 3 * np.pi * 12**3
    # the same array with the spacing passed explicitly gives the same labels
    assert np.array_equal(brushlab.instances(mask, spacing=spacing), labels.values)


def test_empty_mask_gives_no_objects_everywhere():
    empty = np.zeros((16, 16), bool)
    labels = brushlab.instances(empty)
    assert labels.shape == (16, 16) and not labels.any()
    assert not objects.fill_holes(empty).any()
    assert not objects.remove_small_objects(empty, 5).any()
    table = brushlab.measure(labels, np.ones((16, 16)))
    assert len(table) == 0 and "area" in table.columns
    m = brushlab.metrics.matching(labels, labels)  # no objects: no hit, and StarDist's f1 0
    assert (m["tp"], m["fp"], m["fn"], m["f1"]) == (0, 0, 0, 0.0)


def test_single_object_touching_every_border():
    full = np.ones((12, 15), bool)
    labels = brushlab.instances(full)
    assert np.all(labels == 1)
    assert np.array_equal(objects.fill_holes(full), full)
    table = brushlab.measure(labels)
    assert table.loc[1, "n_pixels"] == 180 and table.loc[1, "bbox_x_stop"] == 15
    assert objects.object_at(labels, (0, 0)) == 1 and objects.object_at(labels, (20, 0)) == 0


def test_boundary_watershed_2d_and_3d():
    boundary = np.zeros((40, 40), np.float32)
    boundary[:, 19:21] = 1.0
    boundary[19:21, :20] = 1.0
    regions = brushlab.instances(boundary, method="watershed", seed_h=2)
    assert sorted(np.unique(regions)) == [1, 2, 3]  # every pixel is assigned
    assert len({regions[5, 5], regions[35, 5], regions[20, 35]}) == 3
    stack = np.repeat(boundary[None], 4, axis=0)
    regions3 = brushlab.instances(stack, method="watershed", seed_h=2, spacing=(5.0, 1.0, 1.0))
    assert int(regions3.max()) == 3 and np.all(regions3 == regions3[0])


def test_boundary_watershed_min_size_merges_small_regions():
    boundary = np.zeros((40, 40), np.float32)
    boundary[:, 19:21] = 1.0
    boundary[2:6, 2:6] = 0.0
    boundary[1, 1:7] = boundary[6, 1:7] = boundary[1:7, 1] = boundary[1:7, 6] = 1.0
    many = brushlab.instances(boundary, method="watershed", seed_h=0.5, sigma=0, seed_sigma=0)
    few = brushlab.instances(boundary, method="watershed", seed_h=0.5, sigma=0, seed_sigma=0,
                               min_size=100)
    assert int(few.max()) == 2 < int(many.max())


@pytest.mark.parametrize(
    ("data", "kwargs", "match"),
    [
        (np.zeros((4, 4), np.float32), {}, "integer or bool"),
        (np.zeros((2, 3, 4, 4), bool), {}, "4 dims"),
        (np.zeros((4, 4), bool), {"method": "magic"}, "method"),
        (np.full((4, 4), 2.0, np.float32), {"method": "watershed"}, r"\[0, 1\]"),
        (np.zeros((4, 4), np.uint8), {"method": "watershed"}, "boundary probability"),
        (np.ones((4, 4), np.float32), {"method": "watershed"}, "all boundary"),
        (-np.ones((4, 4), np.int32), {}, "negative"),
        (np.zeros((4, 4), bool), {"spacing": (1.0, 2.0, 3.0)}, "spacing"),
        (np.zeros((4, 4), bool), {"spacing": (0.0, 1.0)}, "positive"),
    ],
)
def test_bad_input_raises_brushlab_errors(data, kwargs, match):
    with pytest.raises(BrushlabError, match=match):
        brushlab.instances(data, **kwargs)


def test_xarray_with_time_asks_to_select():
    movie = xr.DataArray(np.zeros((2, 8, 8), bool), dims=("t", "y", "x"))
    with pytest.raises(LabelError, match="isel"):
        brushlab.instances(movie)


# -- post-processing ------------------------------------------------------------------


def test_fill_holes_masks_and_labels():
    labels = np.zeros((12, 20), np.int32)
    labels[1:8, 1:8] = 4
    labels[3, 3] = 0  # hole in object 4: filled with 4
    labels[1:8, 10:13] = 5
    labels[1:8, 13:16] = 6
    labels[4, 12:14] = 0  # hole between objects 5 and 6: stays
    filled = objects.fill_holes(labels)
    assert filled[3, 3] == 4 and filled[4, 12] == 0 and filled.dtype == labels.dtype
    mask = labels > 0
    mask[2:6, 2:6] = False  # a 16-pixel hole
    assert objects.fill_holes(mask)[3, 3]
    assert not objects.fill_holes(mask, max_size=10)[3, 3]
    assert objects.fill_holes(mask, max_size=4, spacing=0.5)[3, 3]  # 16 px of 0.25


def test_remove_small_objects_physical_and_label_gaps():
    labels = np.zeros((10, 10), np.int32)
    labels[0:2, 0:2] = 3  # 4 px
    labels[5:10, 5:10] = 10  # 25 px
    kept = objects.remove_small_objects(labels, 5)
    assert sorted(np.unique(kept)) == [0, 10]  # ids are kept, gaps and all
    assert sorted(np.unique(objects.remove_small_objects(labels, 5, spacing=2.0))) == [0, 3, 10]
    with pytest.raises(LabelError):
        objects.remove_small_objects(labels, -1)


def _result(p, dims=("y", "x")):
    return xr.Dataset(
        {"probabilities": (("class", *dims), np.stack([1 - p, p]).astype(np.float32))},
        coords={"class": ["background", "cell"]},
    )


def test_min_confidence_unassigns_unsure_pixels():
    p = np.array([[0.9, 0.55, 0.1]], np.float32)
    result = _result(p)
    result["segmentation"] = (("y", "x"), np.array([[2, 2, 1]], np.uint8))
    out = objects.min_confidence(result, 0.6)  # confidence from the probabilities
    assert out.segmentation.values.tolist() == [[2, 0, 1]]
    assert result.segmentation.values.tolist() == [[2, 2, 1]]  # input untouched
    with pytest.raises(BrushlabError):
        objects.min_confidence(result, 1.5)
    with pytest.raises(BrushlabError):
        objects.min_confidence(result.segmentation, 0.5)


def test_crf_removes_specks_and_follows_edges(rng):
    image = np.zeros((48, 64), np.float32)
    image[:, 32:] = 1.0
    image += rng.normal(0, 0.05, image.shape).astype(np.float32)
    p = np.where(image > 0.5, 0.75, 0.25).astype(np.float32)
    flips = rng.random(image.shape) < 0.08
    p[flips] = 1 - p[flips]  # 8 % of the pixels say the wrong class
    truth = (image > 0.5) + 1
    result = _result(p)
    noisy = (np.argmax(result.probabilities.values, axis=0) + 1) != truth
    smoothed = objects.crf_smooth(result, image)
    wrong = smoothed.segmentation.values != truth
    assert noisy.mean() > 0.05 and wrong.mean() < 0.01
    assert np.allclose(smoothed.probabilities.sum("class"), 1, atol=1e-5)
    assert set(smoothed.data_vars) == {"probabilities", "segmentation"}
    assert smoothed.attrs["crf"]["iterations"] == 5


def test_crf_3d_anisotropic_and_multichannel(rng):
    image = np.zeros((6, 24, 24, 2), np.float32)
    image[:, :, 12:, 0] = 1.0
    image[..., 1] = rng.random(image.shape[:3])
    p = np.where(image[..., 0] > 0.5, 0.7, 0.3).astype(np.float32)
    p[3, 5, 5] = 0.9
    img = brushlab.as_image(image)
    img.attrs["spacing"] = {"z": 4.0, "y": 1.0, "x": 1.0}
    result = _result(p, ("z", "y", "x"))
    out = objects.crf_smooth(result, img)
    assert out.segmentation.values[3, 5, 5] == 1 and out.segmentation.values[3, 5, 20] == 2


def test_crf_rejects_an_image_of_another_shape():
    result = _result(np.full((8, 8), 0.5, np.float32))
    with pytest.raises(ImageError, match="pass the image that was predicted"):
        objects.crf_smooth(result, np.zeros((8, 9)))
    with pytest.raises(BrushlabError):
        objects.crf_smooth(xr.Dataset(), np.zeros((8, 8)))
    with pytest.raises(BrushlabError, match="unary_weight must be > 0"):
        objects.crf_smooth(result, np.zeros((8, 8)), unary_weight=0)


def test_crf_unary_weight_lets_the_kernels_overrule_a_confident_speck():
    image = np.zeros((32, 32), np.float32)
    image[:, 16:] = 1
    p = np.where(image > 0, 0.8, 0.2).astype(np.float32)
    p[8:10, 4:6] = 0.99  # a confident speck on the dark side
    speck = _result(p)
    assert objects.crf_smooth(speck, image).segmentation.values[8, 4] == 2
    assert objects.crf_smooth(speck, image, unary_weight=0.2).segmentation.values[8, 4] == 1


def test_composable_pipeline_on_a_prediction(smooth_image):
    labels = np.zeros(smooth_image.shape, np.uint8)
    labels[5, 5:20] = 1
    high = np.argwhere(smooth_image > np.percentile(smooth_image, 95))
    labels[tuple(high[:20].T)] = 2
    clf = brushlab.PixelClassifier(n_trees=10, random_state=0).fit(smooth_image, labels)
    result = objects.crf_smooth(clf.predict(smooth_image), smooth_image)
    result = objects.min_confidence(result, 0.6)
    mask = objects.fill_holes(result.segmentation == 2)
    labels_out = brushlab.instances(objects.remove_small_objects(mask, 10))
    assert isinstance(labels_out, xr.DataArray) and labels_out.dims == ("y", "x")
    assert int(labels_out.max()) >= 1


# -- GPU: the same code on cupy, numpy results are the reference ----------------------


@pytest.mark.gpu
def test_instances_and_crf_on_cupy_match_numpy():
    import cupy

    mask = _discs()
    ours = brushlab.instances(cupy.asarray(mask))
    assert isinstance(ours, cupy.ndarray)
    assert np.array_equal(ours.get(), brushlab.instances(mask))
    p = np.where(mask, 0.7, 0.3).astype(np.float32)
    cpu = objects.crf_smooth(_result(p), mask.astype(np.float32))
    gpu = objects.crf_smooth(_result(cupy.asarray(p)), cupy.asarray(mask, dtype=cupy.float32))
    assert np.array_equal(cupy.asnumpy(gpu.segmentation.data), cpu.segmentation.values)
    holes = mask.copy()
    holes[20, 18] = False
    assert bool(objects.fill_holes(cupy.asarray(holes))[20, 18])
