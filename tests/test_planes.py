"""A classifier trained on 2D planes predicts stacks plane by plane, time series frame by frame.

The reference is independent of the stack code path: each plane predicted alone as a 2D
image. Results must match it bit for bit, in memory, blockwise, in the Session and the CLI.
"""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import xarray as xr
import zarr

import brushlab
from brushlab.cli._main import main
from brushlab.errors import ClassifierError
from brushlab.features import FeatureSet
from brushlab.io._writers import write_image

ALL = ("probabilities", "segmentation", "uncertainty", "confidence")
FEATURES = FeatureSet({"gaussian_smoothing": [1.0, 2.0], "hessian_of_gaussian_eigenvalues": [1.0],
                       "structure_tensor_eigenvalues": [1.0]})
SPACING = {"z": 2.0, "y": 0.5, "x": 0.5}


def _stack() -> xr.DataArray:
    """Four 48x56 planes of scikit-image's coins (real pixels), each from another place."""
    coins = skimage.data.coins()
    planes = [coins[40 + 30 * i: 88 + 30 * i, 20 + 25 * i: 76 + 25 * i] for i in range(4)]
    image = brushlab.as_image(np.stack(planes).astype(np.float32), dims="zyx")
    image.attrs["spacing"] = dict(SPACING)
    image.attrs["unit"] = "micrometer"
    return image


@pytest.fixture(scope="module")
def stack() -> xr.DataArray:
    return _stack()


@pytest.fixture(scope="module")
def clf2d(stack) -> brushlab.PixelClassifier:
    plane = stack.isel(z=1)
    labels = np.zeros(plane.shape, np.uint8)
    labels[plane.values < 90] = 1
    labels[plane.values > 150] = 2
    labels[:, ::3] = 0  # sparse, as scribbles are
    return brushlab.PixelClassifier(FEATURES, n_trees=8, random_state=0, n_jobs=2).fit(
        plane, labels)


def _per_plane(clf, image: xr.DataArray, dim: str) -> xr.Dataset:
    """The reference: every plane predicted alone, then stacked along ``dim``."""
    results = [clf.predict(image.isel({dim: i}), outputs=ALL) for i in range(image.sizes[dim])]
    return xr.concat(results, dim=dim, combine_attrs="drop_conflicts")


def _assert_same(result: xr.Dataset, reference: xr.Dataset) -> None:
    for name in ALL:
        assert set(result[name].dims) == set(reference[name].dims), name
        expected = reference[name].transpose(*result[name].dims)
        np.testing.assert_array_equal(result[name].values, expected.values, err_msg=name)


def test_2d_model_predicts_a_stack_plane_by_plane(clf2d, stack):
    result = clf2d.predict(stack, outputs=ALL)
    _assert_same(result, _per_plane(clf2d, stack, "z"))
    assert result.segmentation.dims == ("z", "y", "x")
    assert result.attrs["spacing"] == SPACING  # z spacing kept
    assert result.attrs["unit"] == "micrometer"
    assert len(np.unique(result.segmentation.values)) == 2


def test_any_tile_gives_the_same_stack(clf2d, stack):
    reference = clf2d.predict(stack, outputs=ALL)
    _assert_same(clf2d.predict(stack, outputs=ALL, tile_shape=(20, 24)), reference)  # 2D tile
    _assert_same(clf2d.predict(stack, outputs=ALL, tile_shape=(3, 17, 40)), reference)


def test_2d_model_on_a_time_series_of_stacks(clf2d, stack):
    movie = brushlab.as_image(
        xr.concat([stack, stack[::-1] * 0.9], dim="t").transpose("t", "z", "y", "x"))
    result = clf2d.predict(movie, outputs=ALL)
    assert result.segmentation.dims == ("t", "z", "y", "x")
    for t in range(2):
        _assert_same(result.isel(t=t), _per_plane(clf2d, movie.isel(t=t), "z"))


def test_2d_model_on_a_time_series_frame_by_frame(clf2d, stack):
    frames = brushlab.as_image(stack.values, dims="tyx")
    result = clf2d.predict(frames, outputs=ALL)
    _assert_same(result, _per_plane(clf2d, frames, "t"))


def test_3d_model_unchanged_and_refuses_2d(stack):
    labels = np.zeros(stack.shape, np.uint8)
    labels[:, 5, 5:20] = 1
    labels[:, 30, 10:40] = 2
    clf3d = brushlab.PixelClassifier(FEATURES, n_trees=4, random_state=0).fit(stack, labels)
    assert clf3d.spatial_ndim == 3
    whole = clf3d.predict(stack)  # 3D features: z halo, not plane by plane
    assert clf3d.features.halo([2.0, 0.5, 0.5])[0] > 0
    assert whole.segmentation.dims == ("z", "y", "x")
    with pytest.raises(ClassifierError, match="trained on 3D images but this image is 2D"):
        clf3d.predict(stack.isel(z=0))


def test_blockwise_equals_in_memory(clf2d, stack, tmp_path):
    expected = clf2d.predict(stack, outputs=ALL)
    out = brushlab.predict_blockwise(clf2d, stack, tmp_path / "p.zarr", chunks=(3, 20, 24),
                                     outputs=ALL, progress=False)
    root = zarr.open_group(str(out), mode="r")
    level0 = root["0"][...]
    assert level0.shape == (4, *stack.shape)
    np.testing.assert_array_equal(level0[:2], expected.probabilities.values)
    np.testing.assert_array_equal(level0[2], expected.uncertainty.values)
    np.testing.assert_array_equal(level0[3], expected.confidence.values)
    np.testing.assert_array_equal(root["labels/segmentation/0"][...],
                                  expected.segmentation.values)
    assert brushlab.io.spacing_of(brushlab.imread(out)) == SPACING  # z spacing kept


def test_session_predicts_a_plane_with_a_2d_model(clf2d, stack):
    session = brushlab.Session(stack, features=FEATURES)
    for z in (0, 3):
        alone = clf2d.predict(stack.isel(z=z), outputs=ALL)
        got = session.predict_region(0, plane=z, classifier=clf2d)
        np.testing.assert_array_equal(got.probabilities.values, alone.probabilities.values)
        np.testing.assert_array_equal(got.segmentation.values, alone.segmentation.values)
        region = session.predict_region(0, (slice(8, 40), slice(10, 50)), plane=z, level=1,
                                        classifier=clf2d)
        np.testing.assert_array_equal(region.probabilities.values,
                                      alone.probabilities.values[:, 8:40:2, 10:50:2])


def test_cli_predicts_a_stack_with_a_2d_model(clf2d, stack, tmp_path):
    model = clf2d.save(tmp_path / "model.brushlab")
    write_image(tmp_path / "stack.tif", stack)
    out = tmp_path / "out"
    code = main(["predict", str(model), str(tmp_path / "stack.tif"), "-o", str(out),
                 "--export", "segmentation,probabilities", "--tile", "24", "-q"])
    assert code == 0
    seg = brushlab.imread(out / "stack_segmentation.tif")
    expected = clf2d.predict(stack)
    assert seg.dims == ("z", "y", "x")
    np.testing.assert_array_equal(seg.values, expected.segmentation.values)
    assert seg.attrs["spacing"] == pytest.approx(SPACING)
    proba = brushlab.imread(out / "stack_probabilities.tif")
    np.testing.assert_array_equal(np.moveaxis(proba.values, -1, 0),
                                  expected.probabilities.values)
