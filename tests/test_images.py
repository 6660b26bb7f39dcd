"""Tests of brushlab.io._image: reading files and arrays into named-dims images."""

from __future__ import annotations

import doctest
import json

import h5py
import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
import xarray as xr
import zarr

from brushlab.errors import ImageError
from brushlab.io import _image as images
from brushlab.io._image import DIMS, as_image, imread, spacing_of

from .realdata import shared_data

# -- dims inference and validation ---------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "dims"),
    [
        ((5, 6), ("y", "x")),
        ((5, 6, 3), ("y", "x", "c")),
        ((5, 6, 4), ("y", "x", "c")),
        ((7, 5, 6), ("z", "y", "x")),
        ((3, 5, 6), ("z", "y", "x")),  # last axis 6: a stack, not colours
        ((7, 5, 6, 2), ("z", "y", "x", "c")),
        ((2, 7, 5, 6, 3), ("t", "z", "y", "x", "c")),
    ],
)
def test_dims_are_inferred_from_the_shape(shape, dims):
    image = as_image(np.zeros(shape, dtype=np.uint8))
    assert image.dims == dims
    assert image.shape == shape
    assert image.attrs["spacing"] == {d: 1.0 for d in ("z", "y", "x") if d in dims}
    assert image.attrs["unit"] == "pixel"
    assert image.attrs["source"] == "array"


@pytest.mark.parametrize(("shape", "hint"), [((2, 7, 5, 6), "dims='tzyx'"),
                                             ((2, 3, 7, 5, 6), "dims='tczyx'")])
def test_ambiguous_shapes_ask_for_dims(shape, hint):
    with pytest.raises(ImageError, match="cannot tell the dims") as info:
        as_image(np.zeros(shape))
    assert hint in str(info.value)
    assert str(shape) in str(info.value)


@pytest.mark.parametrize("shape", [(5,), (1, 2, 3, 4, 5, 2)])
def test_too_few_or_too_many_dims(shape):
    with pytest.raises(ImageError, match="2 to 5 dims") as info:
        as_image(np.zeros(shape))
    assert "squeeze" in str(info.value)


def test_dims_override_reorders_to_canonical():
    data = np.arange(3 * 5 * 6).reshape(3, 5, 6)
    image = as_image(data, "cyx")
    assert image.dims == ("y", "x", "c")
    np.testing.assert_array_equal(image.values, np.moveaxis(data, 0, -1))
    assert as_image(data, ["C", "Y", "X"]).dims == ("y", "x", "c")
    assert imread(np.zeros((2, 3, 4, 5, 6)), dims="tczyx").sizes == {
        "t": 2, "z": 4, "y": 5, "x": 6, "c": 3}


def test_explicit_singleton_channel_is_kept():
    image = as_image(np.zeros((1, 5, 6)), dims="cyx")
    assert image.sizes == {"y": 5, "x": 6, "c": 1}


@pytest.mark.parametrize(
    ("dims", "message"),
    [
        ("zyq", "unknown names"),
        ("yy", "name an axis twice"),
        ("zyx", "name 3 axes but the image has 2"),
        ("zc", "lack 'y' or 'x'"),
        (("time", "y"), "unknown names"),
    ],
)
def test_bad_dims_are_rejected_with_the_fix(dims, message):
    with pytest.raises(ImageError, match=message) as info:
        as_image(np.zeros((5, 6)), dims)
    assert "(5, 6)" in str(info.value) and "dims=" in str(info.value)


def test_numpy_data_is_kept_as_is():
    data = np.zeros((4, 5, 6), dtype=np.int16)
    image = as_image(data)
    assert type(image.data) is np.ndarray and image.dtype == np.int16
    assert np.shares_memory(image.data, data)


def test_array_likes_become_numpy():
    image = as_image([[1, 2], [3, 4]])
    assert isinstance(image.data, np.ndarray) and image.dims == ("y", "x")


@pytest.mark.parametrize("data", [np.array([["a", "b"], ["c", "d"]]),
                                  np.empty((2, 2), dtype=object),
                                  np.zeros((2, 2), dtype=complex)])
def test_non_numeric_dtypes_are_rejected(data):
    with pytest.raises(ImageError, match="bool, integer or float") as info:
        as_image(data)
    assert "astype" in str(info.value) or "dtype=np.float32" in str(info.value)


def test_empty_image_is_rejected():
    with pytest.raises(ImageError, match="empty"):
        as_image(np.zeros((0, 6)))


# -- DataArrays ------------------------------------------------------------------------


def test_dataarray_is_transposed_and_attrs_filled():
    data = xr.DataArray(np.zeros((3, 5, 6)), dims=("c", "y", "x"), attrs={"name": "nuclei"})
    image = as_image(data)
    assert image.dims == ("y", "x", "c")
    assert image.attrs == {"name": "nuclei", "spacing": {"y": 1.0, "x": 1.0},
                           "unit": "pixel", "source": "array"}
    assert data.attrs == {"name": "nuclei"}  # the input is not modified


def test_dataarray_attrs_and_coords_are_kept():
    data = xr.DataArray(np.zeros((4, 5)), dims=("y", "x"),
                        attrs={"spacing": {"y": 0.5, "x": 0.25}, "unit": "µm", "source": "a.tif"})
    image = as_image(data)
    assert spacing_of(image) == {"y": 0.5, "x": 0.25}
    assert image.attrs["unit"] == "micrometer" and image.attrs["source"] == "a.tif"
    coords = xr.DataArray(np.zeros((5, 4)), dims=("x", "y"), coords={"x": np.arange(5) * 2.0})
    image = as_image(coords)
    assert image.dims == ("y", "x") and image.x.values.tolist() == [0, 2, 4, 6, 8]


def test_dataarray_with_foreign_dims_needs_dims():
    data = xr.DataArray(np.zeros((3, 5, 6)), dims=("plane", "row", "col"))
    with pytest.raises(ImageError, match="unknown names") as info:
        as_image(data)
    assert "plane" in str(info.value) and "dims=" in str(info.value)
    assert as_image(data, dims="zyx").dims == ("z", "y", "x")


def test_bad_spacing_in_attrs_is_rejected():
    data = xr.DataArray(np.zeros((4, 5)), dims=("y", "x"), attrs={"spacing": {"x": -1}})
    with pytest.raises(ImageError, match="positive finite"):
        as_image(data)


def test_spacing_of_defaults_to_one():
    image = xr.DataArray(np.zeros((2, 4, 5)), dims=("z", "y", "x"), attrs={"spacing": {"x": 3}})
    assert spacing_of(image) == {"z": 1.0, "y": 1.0, "x": 3.0}
    assert DIMS == ("t", "z", "y", "x", "c")


def test_docstring_examples_run():
    results = doctest.testmod(images)
    assert results.failed == 0 and results.attempted > 0


# -- files -----------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "dims"), [((5, 6), ("y", "x")), ((5, 6, 2), ("y", "x", "c")),
                                             ((5, 6, 3), ("y", "x", "c"))])
def test_png_dims_come_from_the_format(tmp_path, shape, dims):
    data = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    path = tmp_path / "picture.png"
    iio.imwrite(path, data)
    image = imread(path)
    assert image.dims == dims and image.attrs["source"] == str(path)
    np.testing.assert_array_equal(image.values, data)


def test_jpeg(tmp_path):
    path = tmp_path / "photo.jpg"
    iio.imwrite(path, np.full((16, 16, 3), 128, dtype=np.uint8))
    image = imread(str(path))
    assert image.dims == ("y", "x", "c") and image.dtype == np.uint8


def test_imagej_tiff_spacing(tmp_path):
    path = tmp_path / "stack.tif"
    data = np.zeros((3, 2, 5, 6), dtype=np.uint16)
    tifffile.imwrite(path, data, imagej=True, resolution=(2.0, 4.0),
                     metadata={"axes": "ZCYX", "spacing": 3.0, "unit": "micron"})
    image = imread(path)
    assert image.sizes == {"z": 3, "y": 5, "x": 6, "c": 2}
    assert spacing_of(image) == {"z": 3.0, "y": 0.25, "x": 0.5}
    assert image.attrs["unit"] == "micrometer"


def test_ome_tiff_spacing_in_mixed_units(tmp_path):
    path = tmp_path / "stack.ome.tif"
    tifffile.imwrite(path, np.zeros((2, 4, 5, 6), dtype=np.int32), ome=True, metadata={
        "axes": "TZYX", "PhysicalSizeX": 0.5, "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": 500.0, "PhysicalSizeYUnit": "nm", "PhysicalSizeZ": 2.0})
    image = imread(path)
    assert image.dims == ("t", "z", "y", "x")
    assert spacing_of(image) == pytest.approx({"z": 2.0, "y": 0.5, "x": 0.5})
    assert image.attrs["unit"] == "micrometer"


def test_tiff_with_metric_resolution_unit(tmp_path):
    path = tmp_path / "scan.tif"
    tifffile.imwrite(path, np.zeros((5, 6), dtype=np.uint8), resolution=(10000.0, 5000.0),
                     resolutionunit="CENTIMETER")
    image = imread(path)
    assert spacing_of(image) == pytest.approx({"y": 2.0, "x": 1.0})
    assert image.attrs["unit"] == "micrometer"


def test_tiff_with_unknown_axes_needs_dims(tmp_path):
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as tif:
        for _ in range(3):
            tif.write(np.zeros((5, 6), dtype=np.uint8), contiguous=False, metadata=None)
    with pytest.raises(ImageError, match="do not map to t, z, y, x, c") as info:
        imread(path)
    assert "dims=" in str(info.value) and str(path) in str(info.value)
    assert imread(path, dims="zyx").sizes == {"z": 3, "y": 5, "x": 6}


def test_npy(tmp_path):
    path = tmp_path / "stack.npy"
    np.save(path, np.arange(60, dtype=np.float32).reshape(3, 4, 5))
    image = imread(path)
    assert image.dims == ("z", "y", "x") and image.dtype == np.float32
    assert imread(path, dims="cyx").dims == ("y", "x", "c")


def test_npy_with_objects_is_refused(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(ImageError, match="Python objects"):
        imread(path)


def test_plain_zarr_array_infers_dims(tmp_path):
    path = tmp_path / "plain.zarr"
    array = zarr.open_array(str(path), mode="w", shape=(4, 5, 6), dtype="uint8")
    array[...] = 7
    image = imread(path)
    assert image.dims == ("z", "y", "x") and int(image.max()) == 7


def test_zarr_v2_array_with_brushlab_attrs(tmp_path):
    path = tmp_path / "v2.zarr"
    array = zarr.open_array(str(path), mode="w", shape=(3, 5, 6), dtype="float32", zarr_format=2)
    array.attrs.update({"dims": ["c", "y", "x"], "spacing": {"y": 0.5, "x": 0.5}, "unit": "um"})
    image = imread(path)
    assert image.sizes == {"y": 5, "x": 6, "c": 3}
    assert spacing_of(image) == {"y": 0.5, "x": 0.5} and image.attrs["unit"] == "micrometer"


def test_zarr_dimension_names(tmp_path):
    path = tmp_path / "named.zarr"
    zarr.create_array(str(path), shape=(3, 5, 6), dtype="uint8", dimension_names=["c", "y", "x"])
    assert imread(path).dims == ("y", "x", "c")


def _ome_zarr(path, version):
    group = zarr.open_group(str(path), mode="w", zarr_format=3 if version == "0.5" else 2)
    group.create_array("0", shape=(2, 4, 5, 6), dtype="uint16")
    group.create_array("1", shape=(2, 2, 3, 3), dtype="uint16")
    multiscales = [{
        "version": version,
        "axes": [{"name": "c", "type": "channel"},
                 {"name": "z", "type": "space", "unit": "micrometer"},
                 {"name": "y", "type": "space", "unit": "micrometer"},
                 {"name": "x", "type": "space", "unit": "micrometer"}],
        "datasets": [
            {"path": "0", "coordinateTransformations": [{"type": "scale",
                                                         "scale": [1, 2.0, 0.5, 0.25]}]},
            {"path": "1", "coordinateTransformations": [{"type": "scale",
                                                         "scale": [1, 4.0, 1.0, 0.5]}]},
        ],
    }]
    if version == "0.5":
        group.attrs["ome"] = {"version": version, "multiscales": multiscales}
    else:
        group.attrs["multiscales"] = multiscales


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_reads_level_zero_with_scale(tmp_path, version):
    path = tmp_path / "image.ome.zarr"
    _ome_zarr(path, version)
    image = imread(path)
    assert image.sizes == {"z": 4, "y": 5, "x": 6, "c": 2} and image.dtype == np.uint16
    assert spacing_of(image) == {"z": 2.0, "y": 0.5, "x": 0.25}
    assert image.attrs["unit"] == "micrometer"


def test_zarr_group_without_multiscales_lists_arrays(tmp_path):
    path = tmp_path / "group.zarr"
    zarr.open_group(str(path), mode="w").create_array("raw", shape=(5, 6), dtype="uint8")
    with pytest.raises(ImageError, match="without OME-Zarr") as info:
        imread(path)
    assert str(path / "raw") in str(info.value)
    assert imread(path / "raw").dims == ("y", "x")


def test_folder_that_is_not_zarr(tmp_path):
    with pytest.raises(ImageError, match="not a Zarr store"):
        imread(tmp_path)


def test_hdf5_dims_attribute_and_axistags(tmp_path):
    path = tmp_path / "data.h5"
    axistags = {"axes": [{"key": "z", "typeFlags": 2, "resolution": 2.5, "description": ""},
                         {"key": "y", "typeFlags": 2, "resolution": 0, "description": ""},
                         {"key": "x", "typeFlags": 2, "resolution": 0, "description": ""},
                         {"key": "c", "typeFlags": 1, "resolution": 0, "description": ""}]}
    with h5py.File(path, "w") as handle:
        handle.create_dataset("group/raw", data=np.zeros((3, 4, 5), dtype=np.uint8))
        handle["group/raw"].attrs["dims"] = "cyx"
        handle.create_dataset("ilastik", data=np.zeros((4, 5, 6, 2), dtype=np.float32))
        handle["ilastik"].attrs["axistags"] = json.dumps(axistags)
    assert imread(f"{path}/group/raw").sizes == {"y": 4, "x": 5, "c": 3}
    image = imread(path / "ilastik")
    assert image.sizes == {"z": 4, "y": 5, "x": 6, "c": 2}
    assert spacing_of(image) == {"z": 2.5, "y": 1.0, "x": 1.0}
    assert imread(f"{path}/group/raw", dims="zyx").dims == ("z", "y", "x")


def test_hdf5_needs_a_dataset(tmp_path):
    path = tmp_path / "data.hdf5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("raw", data=np.zeros((5, 6)))
        handle.create_dataset("labels/a", data=np.zeros((5, 6)))
    with pytest.raises(ImageError, match="add the dataset") as info:
        imread(path)
    assert "raw, labels/a" in str(info.value) or "labels/a, raw" in str(info.value)
    for missing in ("nope", "labels"):
        with pytest.raises(ImageError, match=f"no dataset '{missing}'") as info:
            imread(f"{path}/{missing}")
        assert "raw" in str(info.value) and f"{path}/" in str(info.value)


# -- errors reading files ---------------------------------------------------------------


def test_missing_file_is_named(tmp_path):
    for missing in (tmp_path / "nope.tif", f"{tmp_path}/nope.h5/data"):
        with pytest.raises(ImageError, match="no file or folder") as info:
            imread(missing)
        assert "nope" in str(info.value)


def test_unknown_extension_lists_supported(tmp_path):
    path = tmp_path / "image.xyz"
    path.write_bytes(b"\0" * 16)
    with pytest.raises(ImageError, match="unknown extension '.xyz'") as info:
        imread(path)
    assert ".tif" in str(info.value) and ".zarr" in str(info.value)


@pytest.mark.parametrize(("name", "kind"), [("garbage.tif", "TIFF"), ("garbage.h5", "HDF5"),
                                            ("garbage.npy", "NPY")])
def test_corrupt_files(tmp_path, name, kind):
    path = tmp_path / name
    path.write_bytes(b"this is not an image at all" * 10)
    target = f"{path}/data" if kind == "HDF5" else path
    with pytest.raises(ImageError, match=f"could not read .* as {kind}") as info:
        imread(target)
    assert str(path) in str(info.value) and info.value.__cause__ is not None


def test_truncated_png(tmp_path):
    path = tmp_path / "cut.png"
    iio.imwrite(path, np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(ImageError, match="could not read .* as PNG") as info:
        imread(path)
    assert info.value.__cause__ is not None


def test_empty_file_content(tmp_path):
    path = tmp_path / "empty.npy"
    np.save(path, np.zeros((0, 5)))
    with pytest.raises(ImageError, match="empty"):
        imread(path)


@pytest.mark.gpu
def test_cupy_stays_on_the_gpu():
    cupy = pytest.importorskip("cupy", reason="needs cupy and a CUDA GPU")
    data = cupy.zeros((3, 5, 6), dtype=cupy.float32)
    image = as_image(data, dims="cyx")
    assert type(image.data).__module__.startswith("cupy") and image.dims == ("y", "x", "c")


# -- real data ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sizes", "dtype"),
    [
        ("isbi2012/image_00.png", {"y": 512, "x": 512}, np.uint8),
        ("bbbc039/image_00.tif", {"y": 520, "x": 696}, np.uint16),
        ("bbbc039/mask_00.png", {"y": 520, "x": 696, "c": 4}, np.uint8),
    ],
)
def test_real_files(name, sizes, dtype):
    path = shared_data(name)
    image = imread(path)
    assert dict(image.sizes) == sizes and image.dtype == dtype
    assert image.attrs["source"] == str(path)
    assert image.attrs["unit"] == "pixel"  # bbbc039's 72 dpi says nothing about the microscope
