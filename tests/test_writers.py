"""Tests of brushlab.io._writers: atomic writes that brushlab.imread (and ome-zarr) read back."""

from __future__ import annotations

import doctest
import errno
import json
import os

import h5py
import imageio.v3
import numpy as np
import pytest
import tifffile
import xarray as xr
import zarr

from brushlab._core.atomic import atomic_path
from brushlab.errors import ImageError, ImageWriteError
from brushlab.io import _writers as writers
from brushlab.io._image import imread, spacing_of
from brushlab.io._ngff import NGFF_VERSION
from brushlab.io._writers import write_image

RNG = np.random.default_rng(42)


def _data(shape, dtype):
    if np.dtype(dtype) == bool:
        return RNG.random(shape) > 0.5
    return (RNG.random(shape) * 100).astype(dtype)


def _readable(path, kind):
    return f"{path}/data" if kind == "h5" else path


# -- round trips --------------------------------------------------------------------------

FULL = [  # formats that keep dims, dtype, spacing and unit
    ("tif", "uint8"), ("tif", "uint16"), ("tif", "float32"),  # ImageJ
    ("tif", "bool"), ("tif", "int16"), ("tif", "int32"), ("tif", "float64"),  # OME
    ("tif", "int64"), ("tif", "uint64"), ("tif", "float16"),  # tifffile's shaped TIFF
    ("h5", "uint8"), ("h5", "int64"), ("h5", "bool"), ("h5", "float64"),
    ("zarr", "uint16"), ("zarr", "int64"), ("zarr", "bool"), ("zarr", "float32"),
]
SHAPES = [("yx", (5, 6)), ("zyx", (3, 5, 6)), ("cyx", (2, 5, 6)), ("tzcyx", (2, 3, 2, 5, 6)),
          ("cyx", (1, 5, 6)), ("zyx", (1, 5, 6))]


@pytest.mark.parametrize(("suffix", "dtype"), FULL)
@pytest.mark.parametrize(("dims", "shape"), SHAPES)
def test_round_trip_keeps_everything(tmp_path, suffix, dtype, dims, shape):
    data = _data(shape, dtype)
    spacing = {"z": 2.0, "y": 0.5, "x": 0.3} if "z" in dims else {"y": 0.5, "x": 0.3}
    path = write_image(tmp_path / f"image.{suffix}", data, dims=dims, spacing=spacing,
                       unit="micrometer")
    assert path == tmp_path / f"image.{suffix}" and path.exists()
    image = imread(_readable(path, suffix))
    expected = xr.DataArray(data, dims=tuple(dims)).transpose(*image.dims)
    assert set(image.dims) == set(dims) and image.dtype == data.dtype
    np.testing.assert_array_equal(image.values, expected.values)
    assert spacing_of(image) == pytest.approx(spacing)
    assert image.attrs["unit"] == "micrometer"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("suffix", ["tif", "h5", "zarr"])
def test_unknown_spacing_stays_unknown(tmp_path, suffix):
    path = write_image(tmp_path / f"plain.{suffix}", _data((3, 5, 6), "float32"))
    image = imread(_readable(path, suffix))
    assert image.dims == ("z", "y", "x")
    assert spacing_of(image) == {"z": 1.0, "y": 1.0, "x": 1.0} and image.attrs["unit"] == "pixel"


@pytest.mark.parametrize(("shape", "dtype"), [((5, 6), "uint8"), ((5, 6), "uint16"),
                                              ((5, 6), "bool"), ((5, 6, 3), "uint8"),
                                              ((5, 6, 4), "uint8")])
def test_png_round_trip(tmp_path, shape, dtype):
    data = _data(shape, dtype)
    image = imread(write_image(tmp_path / "picture.png", data))
    assert image.dtype == data.dtype and image.shape == shape
    np.testing.assert_array_equal(image.values, data)


@pytest.mark.parametrize(("shape", "dims"), [((5, 6), "yx"), ((3, 5, 6), "zyx"),
                                             ((5, 6, 3), "yxc"), ((2, 3, 5, 6, 2), "tzyxc")])
def test_npy_round_trip(tmp_path, shape, dims):
    data = _data(shape, "int32")
    image = imread(write_image(tmp_path / "array.npy", data))
    assert image.dims == tuple(dims)
    np.testing.assert_array_equal(image.values, data)


def test_dataarray_gives_dims_spacing_and_unit(tmp_path):
    data = xr.DataArray(_data((2, 5, 6), "uint16"), dims=("c", "y", "x"),
                        attrs={"spacing": {"y": 0.2, "x": 0.1}, "unit": "nm"})
    image = imread(write_image(tmp_path / "image.tif", data))
    assert image.sizes == {"y": 5, "x": 6, "c": 2}
    assert spacing_of(image) == pytest.approx({"y": 0.2, "x": 0.1})
    assert image.attrs["unit"] == "nanometer"
    override = imread(write_image(tmp_path / "other.zarr", data, spacing={"x": 5.0}, unit="um"))
    assert spacing_of(override) == {"y": 0.2, "x": 5.0} and override.attrs["unit"] == "micrometer"


def test_explicit_format_and_aliases(tmp_path):
    data = _data((5, 6), "uint8")
    for name, kind in [("a.bin", "npy"), ("b.dat", "TIF"), ("c.raw", "hdf5")]:
        path = write_image(tmp_path / name, data, format=kind)
        assert path.exists()
    np.testing.assert_array_equal(np.load(tmp_path / "a.bin"), data)
    with h5py.File(tmp_path / "c.raw", "r") as handle:
        np.testing.assert_array_equal(handle["data"][()], data)
    assert tifffile.imread(tmp_path / "b.dat").shape == (5, 6)


def test_hdf5_dataset_path_keeps_other_datasets(tmp_path):
    path = tmp_path / "project.h5"
    write_image(path, _data((5, 6), "uint8"))
    written = write_image(f"{path}/labels/run1", _data((3, 5, 6), "uint16"), dims="zyx")
    assert written == path
    assert imread(f"{path}/data").dims == ("y", "x")
    assert imread(f"{path}/labels/run1").dims == ("z", "y", "x")
    replaced = _data((4, 4), "float32")
    write_image(f"{path}/data", replaced)
    np.testing.assert_array_equal(imread(f"{path}/data").values, replaced)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project.h5"]


def test_hdf5_group_is_not_overwritten(tmp_path):
    path = tmp_path / "project.h5"
    write_image(f"{path}/labels/run1", _data((5, 6), "uint8"))
    with pytest.raises(ImageError, match="holds a group 'labels'") as info:
        write_image(f"{path}/labels", _data((5, 6), "uint8"))
    assert "'labels/image'" in str(info.value)
    assert imread(f"{path}/labels/run1").shape == (5, 6)
    assert [p.name for p in tmp_path.iterdir()] == ["project.h5"]


def test_zarr_replaces_an_existing_folder(tmp_path):
    path = tmp_path / "image.zarr"
    write_image(path, _data((3, 5, 6), "uint8"))
    write_image(path, _data((5, 6), "float32"))
    image = imread(path)
    assert image.dims == ("y", "x") and image.dtype == np.float32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.zarr"]


# -- errors -------------------------------------------------------------------------------


def test_unknown_format_lists_supported(tmp_path):
    with pytest.raises(ImageError, match="unknown image format 'jpeg2000'") as info:
        write_image(tmp_path / "a.jp2", _data((5, 6), "uint8"), format="jpeg2000")
    assert "tiff, png, npy, h5, zarr" in str(info.value)
    with pytest.raises(ImageError, match="extension '.jp2'") as info:
        write_image(tmp_path / "a.jp2", _data((5, 6), "uint8"))
    assert ".tif" in str(info.value) and "format=" in str(info.value)


@pytest.mark.parametrize(("shape", "dtype", "dims", "message"), [
    ((5, 6), "float32", None, "cannot hold float32"),
    ((5, 6, 3), "uint16", "yxc", "cannot hold uint16 pixels with channels"),
    ((3, 5, 6), "uint8", "zyx", "grey"),
    ((5, 6, 2), "uint8", "yxc", "3 or 4 channels"),
])
def test_png_refuses_what_it_cannot_hold(tmp_path, shape, dtype, dims, message):
    with pytest.raises(ImageError, match=message) as info:
        write_image(tmp_path / "out.png", _data(shape, dtype), dims=dims)
    assert "format='tiff'" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_bad_spacing_and_data(tmp_path):
    data = _data((5, 6), "uint8")
    with pytest.raises(ImageError, match=r"spacing names \['z'\]"):
        write_image(tmp_path / "a.tif", data, spacing={"z": 2.0})
    with pytest.raises(ImageError, match="positive finite"):
        write_image(tmp_path / "a.tif", data, spacing={"x": 0.0})
    with pytest.raises(ImageError, match="needs pixels"):
        write_image(tmp_path / "a.tif", str(tmp_path / "b.tif"))
    with pytest.raises(ImageError, match="bool, integer or float"):
        write_image(tmp_path / "a.npy", np.array([["a"]]))
    with pytest.raises(ImageError, match="does not exist; create it first"):
        write_image(tmp_path / "missing" / "a.tif", data)
    assert list(tmp_path.iterdir()) == []


def test_existing_non_hdf5_target_is_not_touched(tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("not hdf5")
    with pytest.raises(ImageError, match="not a readable HDF5 file"):
        write_image(path, _data((5, 6), "uint8"))
    assert path.read_text() == "not hdf5"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.h5"]


# -- atomicity ----------------------------------------------------------------------------


def test_atomic_path_success_and_failure(tmp_path):
    target = tmp_path / "result.txt"
    with atomic_path(target) as temp:
        assert temp.parent == tmp_path and temp.suffix == ".txt" and temp != target
        temp.write_text("new")
    assert target.read_text() == "new"
    with pytest.raises(RuntimeError), atomic_path(target) as temp:
        temp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["result.txt"]


def test_atomic_path_replaces_folders(tmp_path):
    target = tmp_path / "out.zarr"
    (target / "old").mkdir(parents=True)
    with atomic_path(target) as temp:
        (temp / "new").mkdir(parents=True)
    assert [p.name for p in target.iterdir()] == ["new"]
    with pytest.raises(RuntimeError), atomic_path(target) as temp:
        (temp / "broken").mkdir(parents=True)
        raise RuntimeError("crash")
    assert [p.name for p in target.iterdir()] == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]


def _half_then_fail(original):
    def write(*args, **kwargs):
        original(*args, **kwargs)
        raise OSError("disk full")
    return write


def _break_writer(monkeypatch, kind):
    if kind == "tif":
        monkeypatch.setattr(tifffile, "imwrite", _half_then_fail(tifffile.imwrite))
    elif kind == "png":
        monkeypatch.setattr(imageio.v3, "imwrite", _half_then_fail(imageio.v3.imwrite))
    elif kind == "npy":
        monkeypatch.setattr(np, "save", _half_then_fail(np.save))
    elif kind == "h5":
        monkeypatch.setattr(h5py.Group, "create_dataset",
                            _half_then_fail(h5py.Group.create_dataset))
    else:
        def create_array(*args, **kwargs):
            array = original(*args, **kwargs)
            array[...] = 0
            raise OSError("disk full")
        original = zarr.Group.create_array
        monkeypatch.setattr(zarr.Group, "create_array", create_array)


@pytest.mark.parametrize("kind", ["tif", "png", "npy", "h5", "zarr"])
def test_failed_write_leaves_nothing(tmp_path, monkeypatch, kind):
    _break_writer(monkeypatch, kind)
    with pytest.raises(OSError, match="disk full"):
        write_image(tmp_path / f"out.{kind}", _data((5, 6), "uint8"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["tif", "png", "npy", "h5", "zarr"])
def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch, kind):
    old = _data((5, 6), "uint8")
    path = write_image(tmp_path / f"out.{kind}", old)
    _break_writer(monkeypatch, kind)
    with pytest.raises(OSError, match="disk full"):
        write_image(path, _data((7, 8), "uint8"))
    np.testing.assert_array_equal(imread(_readable(path, kind)).values, old)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.gpu
def test_cupy_data_is_written(tmp_path):
    cupy = pytest.importorskip("cupy", reason="needs cupy and a CUDA GPU")
    data = cupy.arange(30, dtype=cupy.uint16).reshape(5, 6)
    image = imread(write_image(tmp_path / "gpu.tif", data))
    np.testing.assert_array_equal(image.values, cupy.asnumpy(data))


def test_docstring_examples_run():
    results = doctest.testmod(writers)
    assert results.failed == 0 and results.attempted > 0


# -- Zarr is NGFF (OME-Zarr 0.5), read by an independent reader ------------------------------


def _ome_zarr_node(path):
    pytest.importorskip("ome_zarr", reason="the independent OME-Zarr reader is in brushlab[test]")
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    return next(iter(Reader(parse_url(str(path)))()))


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ome_zarr")
def test_zarr_is_ngff_that_ome_zarr_reads(tmp_path):
    data = xr.DataArray(_data((2, 3, 2, 5, 6), "uint16"), dims=("t", "z", "c", "y", "x"),
                        coords={"c": ["dapi", "actin"]})
    path = write_image(tmp_path / "movie.zarr", data, spacing={"z": 2.0, "y": 0.5, "x": 0.25},
                       unit="um")
    node = _ome_zarr_node(path)
    unit = {"unit": "micrometer"}
    assert node.metadata["axes"] == [
        {"name": "t", "type": "time"}, {"name": "c", "type": "channel"},
        {"name": "z", "type": "space", **unit}, {"name": "y", "type": "space", **unit},
        {"name": "x", "type": "space", **unit}]
    assert node.metadata["coordinateTransformations"] == [
        [{"type": "scale", "scale": [1.0, 1.0, 2.0, 0.5, 0.25]}]]
    assert node.metadata["channel_names"] == ["dapi", "actin"]
    assert len(node.data) == 1  # single scale
    np.testing.assert_array_equal(np.asarray(node.data[0]),
                                  data.transpose("t", "c", "z", "y", "x").values)
    back = imread(path)  # and brushlab reads it back whole
    assert back.dims == ("t", "z", "y", "x", "c")
    assert spacing_of(back) == {"z": 2.0, "y": 0.5, "x": 0.25}
    assert back.attrs["unit"] == "micrometer"
    assert list(back.coords["c"].values) == ["dapi", "actin"]
    np.testing.assert_array_equal(back.values, data.transpose(*back.dims).values)


def test_zarr_layout_is_the_blockwise_convention(tmp_path):
    path = write_image(tmp_path / "plain.zarr", _data((5, 6), "float32"))
    meta = json.loads((path / "zarr.json").read_text())
    assert meta["zarr_format"] == 3 and meta["node_type"] == "group"
    ome = meta["attributes"]["ome"]
    assert ome["version"] == NGFF_VERSION and set(meta["attributes"]) == {"ome"}
    assert ome["multiscales"][0]["axes"] == [{"name": "y", "type": "space"},
                                             {"name": "x", "type": "space"}]  # pixel: no unit
    assert "omero" not in ome  # no channel names, no omero
    level = json.loads((path / "0" / "zarr.json").read_text())
    assert level["dimension_names"] == ["y", "x"]


def test_zarr_written_by_the_old_writer_still_reads(tmp_path):
    path = tmp_path / "old.zarr"  # what write_image wrote before NGFF: a bare array with attrs
    old = _data((3, 5, 6), "uint16")
    array = zarr.open_array(str(path), mode="w", shape=old.shape, dtype=old.dtype)
    array[...] = old
    array.attrs.update({"dims": ["z", "y", "x"], "spacing": {"z": 3.0, "y": 1.0, "x": 1.0},
                        "unit": "micrometer"})
    image = imread(path)
    assert image.dims == ("z", "y", "x") and spacing_of(image)["z"] == 3.0
    np.testing.assert_array_equal(image.values, old)


# -- read-only folders and full disks say so ------------------------------------------------------


def _raise(code):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    return fail


def _break_with(monkeypatch, kind, error):
    """Make the writer of ``kind`` fail the way the OS fails it (as root, chmod cannot)."""
    if kind == "tif":
        monkeypatch.setattr(tifffile, "imwrite", error)
    elif kind == "png":
        monkeypatch.setattr(imageio.v3, "imwrite", error)
    elif kind == "npy":
        monkeypatch.setattr(np, "save", error)
    elif kind == "h5":
        monkeypatch.setattr(h5py, "File", error)
    else:
        monkeypatch.setattr(zarr, "open_group", error)


@pytest.mark.parametrize("kind", ["tif", "png", "npy", "h5", "zarr"])
@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_read_only_folder_says_read_only(tmp_path, monkeypatch, kind, code):
    old = _data((5, 6), "uint8")
    path = write_image(tmp_path / f"out.{kind}", old)
    _break_with(monkeypatch, kind, _raise(code))
    with pytest.raises(ImageWriteError, match="is read-only or you may not write there") as info:
        write_image(path, _data((7, 8), "uint8"))
    message = str(info.value)
    assert "HDF5" not in message and "another folder" in message and "unchanged" in message
    assert isinstance(info.value, OSError) and info.value.errno == code
    monkeypatch.undo()
    np.testing.assert_array_equal(imread(_readable(path, kind)).values, old)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("kind", ["tif", "png", "npy", "h5", "zarr"])
def test_full_disk_says_the_disk_is_full(tmp_path, monkeypatch, kind):
    _break_with(monkeypatch, kind, _raise(errno.ENOSPC))
    with pytest.raises(ImageWriteError, match="the disk is full") as info:
        write_image(tmp_path / f"new.{kind}", _data((5, 6), "uint8"))
    assert "free some space" in str(info.value) and info.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_numpy_short_write_is_a_full_disk(tmp_path, monkeypatch):
    def short(*args, **kwargs):  # what ndarray.tofile says on a full disk: no errno
        raise OSError("65536 requested and 932 written")

    monkeypatch.setattr(tifffile, "imwrite", short)
    with pytest.raises(ImageWriteError, match="the disk is full"):
        write_image(tmp_path / "a.tif", _data((5, 6), "uint8"))


def test_npy_writes_through_python_so_errors_keep_their_errno(tmp_path, monkeypatch):
    written = []

    class Full:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            written.append(len(data))
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writers, "_Stream", Full)
    with pytest.raises(ImageWriteError, match="the disk is full"):
        write_image(tmp_path / "a.npy", _data((50, 60), "float64"))
    assert written and list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    np.testing.assert_array_equal(np.load(write_image(tmp_path / "b.npy", np.eye(3))), np.eye(3))


def test_other_os_errors_pass_through(tmp_path, monkeypatch):
    monkeypatch.setattr(tifffile, "imwrite", _raise(errno.EIO))
    with pytest.raises(OSError) as info:
        write_image(tmp_path / "a.tif", _data((5, 6), "uint8"))
    assert not isinstance(info.value, ImageWriteError) and info.value.errno == errno.EIO
