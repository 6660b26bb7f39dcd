"""Tests of brushlab.io.open_image and imread's checks before reading: one reader per format,
lazy opening, the memory budget, and the messages of hostile or careless inputs."""

from __future__ import annotations

import doctest
import pickle

import dask.array as da
import h5py
import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
import xarray as xr
import zarr

import brushlab
from brushlab.errors import ImageError
from brushlab.io import _budget, _formats, _lazy, open_image
from brushlab.io._formats._base import StoredArray
from brushlab.io._lazy import open_source

RNG = np.random.default_rng(7)
VOLUME = (RNG.random((6, 40, 50)) * 1000).astype(np.uint16)


def _files(tmp_path):
    """The same volume in every format that reads by region, with spacing where it can."""
    h5 = tmp_path / "v.h5"
    with h5py.File(h5, "w") as handle:
        handle.create_dataset("raw", data=VOLUME, chunks=(2, 16, 16)).attrs["dims"] = "zyx"
    np.save(tmp_path / "v.npy", VOLUME)
    return {
        "zarr": brushlab.write_image(tmp_path / "v.zarr", VOLUME, dims="zyx",
                                     spacing={"z": 2.0}, unit="um"),
        "tiff": brushlab.write_image(tmp_path / "v.tif", VOLUME, dims="zyx",
                                     spacing={"z": 2.0}, unit="um"),
        "h5": f"{h5}/raw",
        "npy": tmp_path / "v.npy",
    }


@pytest.mark.parametrize("kind", ["zarr", "tiff", "h5", "npy"])
def test_open_image_is_lazy_and_equals_imread(tmp_path, kind, monkeypatch):
    path = _files(tmp_path)[kind]
    reads = []
    for cls in StoredArray.__subclasses__():
        original = cls._region

        def recording(self, index, _original=original):
            reads.append(index)
            return _original(self, index)

        monkeypatch.setattr(cls, "_region", recording)
    image = open_image(path, chunks={"z": 1, "y": 8, "x": 10})
    assert isinstance(image.data, da.Array) and reads == []  # nothing read yet
    assert image.data.chunks[:2] == ((1,) * 6, (8,) * 5)
    eager = brushlab.imread(path)
    reads.clear()
    assert image.dims == eager.dims == ("z", "y", "x")
    assert image.attrs == eager.attrs
    crop = image.isel(z=slice(1, 3), y=slice(5, 9)).values
    np.testing.assert_array_equal(crop, VOLUME[1:3, 5:9])
    assert reads and all(  # only the blocks around the crop, never the whole volume
        np.prod([len(range(*s.indices(n))) for s, n in zip(index, VOLUME.shape)]) < VOLUME.size
        for index in reads)
    np.testing.assert_array_equal(image.values, VOLUME)


def test_open_image_keeps_arrays_and_dask_lazy():
    lazy = da.from_array(VOLUME, chunks=(2, 20, 25))
    image = open_image(lazy, dims="zyx")
    assert image.data is not None and isinstance(image.data, da.Array)
    assert image.data.chunks == lazy.chunks
    assert isinstance(open_image(VOLUME).data, da.Array)
    wrapped = open_image(xr.DataArray(lazy, dims=("z", "y", "x"), attrs={"spacing": {"z": 3.0}}))
    assert wrapped.attrs["spacing"]["z"] == 3.0 and isinstance(wrapped.data, da.Array)


def test_one_reader_serves_imread_open_image_and_blockwise(tmp_path):
    path = _files(tmp_path)["zarr"]
    source = open_source(path)
    assert source.reader is not None and source.reader.array == _formats.open_file(str(path)).array
    block = pickle.loads(pickle.dumps(source.reader)).read(0, {"z": slice(0, 2),
                                                               "y": slice(3, 7)})
    np.testing.assert_array_equal(block, VOLUME[None, 0:2, 3:7])  # (C, z, y, x)
    assert not hasattr(_lazy, "_open_tiff") and not hasattr(_lazy, "_open_h5")


def test_tiff_singleton_and_squeezed_axes(tmp_path):
    data = VOLUME[:2]
    written = brushlab.write_image(tmp_path / "t.tif", data[:, None], dims="zcyx")
    image = open_image(written)
    assert image.sizes == {"z": 2, "y": 40, "x": 50, "c": 1}
    np.testing.assert_array_equal(image.values[..., 0], data)
    path = tmp_path / "q.tif"
    tifffile.imwrite(path, data[None], metadata={"axes": "QYXS"[:0] or "IZYX"})
    assert open_image(path).sizes == {"z": 2, "y": 40, "x": 50}


def test_channel_names_from_omero(tmp_path):
    image = xr.DataArray(VOLUME[:2].astype(np.float32), dims=("c", "y", "x"),
                         coords={"c": ["membrane", "cell"]})
    path = brushlab.write_image(tmp_path / "named.zarr", image)
    for read in (brushlab.imread(path), open_image(path)):
        assert list(read.coords["c"].values) == ["membrane", "cell"]
    assert "c" not in brushlab.imread(path, dims="cyx").coords  # dims given: names not trusted


# -- size budget before any allocation -------------------------------------------------------

HUGE = (100_000, 100_000)


def _declared_only(tmp_path, kind, shape=HUGE):
    """A file declaring ``shape`` with no pixel written: small on disk."""
    if kind == "h5":
        with h5py.File(tmp_path / "huge.h5", "w") as handle:
            handle.create_dataset("data", shape=shape, dtype="float64",
                                  chunks=tuple(min(n, 1000) for n in shape))
        return f"{tmp_path}/huge.h5/data"
    path = tmp_path / "huge.zarr"
    zarr.create_array(str(path), shape=shape, dtype="float64",
                      chunks=tuple(min(n, 1000) for n in shape))
    return path


@pytest.mark.parametrize("kind", ["h5", "zarr"])
def test_declared_size_over_budget_is_refused_before_reading(tmp_path, kind, monkeypatch):
    path = _declared_only(tmp_path, kind)
    monkeypatch.setattr(StoredArray, "read", lambda self: pytest.fail("read a huge array"))
    monkeypatch.setattr(_budget, "available_memory", lambda: 8 * 2**30)
    with pytest.raises(ImageError, match="100000 x 100000 float64") as info:
        brushlab.imread(path)
    message = str(info.value)
    assert "74.5 GiB" in message and "4.0 GiB" in message
    assert "open_image" in message and "predict_blockwise" in message
    assert "max_bytes" in message and "BRUSHLAB_MAX_IMAGE_BYTES" in message
    image = open_image(path)  # the way out the message names works, lazily
    assert image.shape == HUGE and float(image[:3, :3].sum()) == 0.0


@pytest.mark.parametrize("kind", ["h5", "zarr"])
def test_budget_from_keyword_and_environment(tmp_path, kind, monkeypatch):
    path = _declared_only(tmp_path, kind, shape=(100, 100))  # 80,000 bytes
    assert brushlab.imread(path, max_bytes=80_000).shape == (100, 100)
    with pytest.raises(ImageError, match="100 x 100 float64 image of 78.1 KiB"):
        brushlab.imread(path, max_bytes=79_999)
    monkeypatch.setenv("BRUSHLAB_MAX_IMAGE_BYTES", "1000")
    with pytest.raises(ImageError, match="1000 bytes brushlab may read"):
        brushlab.imread(path)
    assert brushlab.imread(path, max_bytes=10**6).shape == (100, 100)  # the keyword wins
    monkeypatch.setenv("BRUSHLAB_MAX_IMAGE_BYTES", "lots")
    with pytest.raises(ImageError, match="BRUSHLAB_MAX_IMAGE_BYTES='lots' is not a number"):
        brushlab.imread(path)
    with pytest.raises(ImageError, match="max_bytes=-1 must be a positive"):
        brushlab.imread(path, max_bytes=-1)


def test_default_budget_is_a_part_of_available_memory():
    assert 0 < _budget.read_budget() <= _budget.available_memory()


def test_png_header_declaring_a_huge_image_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "small.png"
    iio.imwrite(path, np.zeros((64, 64), np.uint8))
    with pytest.raises(ImageError, match="64 x 64 uint8"):
        brushlab.imread(path, max_bytes=1000)


# -- messages that said the wrong thing --------------------------------------------------------


def test_zero_byte_png_says_empty_not_plugins(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match="empty file") as info:
        brushlab.imread(path)
    assert "pyav" not in str(info.value) and "pip install" not in str(info.value)


def test_foreign_bytes_in_a_png_do_not_suggest_plugins(tmp_path):
    path = tmp_path / "fake.png"
    path.write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(ImageError, match="is not a PNG file") as info:
        brushlab.imread(path)
    assert "pyav" not in str(info.value) and "pip install" not in str(info.value)
    jpeg = tmp_path / "photo.png"
    iio.imwrite(tmp_path / "photo.jpg", np.zeros((8, 8), np.uint8))
    jpeg.write_bytes((tmp_path / "photo.jpg").read_bytes())
    with pytest.raises(ImageError, match="it is a JPEG: rename it"):
        brushlab.imread(jpeg)


@pytest.mark.parametrize("empty", ["", "   "])
def test_empty_path_is_not_called_a_zarr_store(empty):
    with pytest.raises(ImageError, match="the path is empty") as info:
        brushlab.imread(empty)
    assert "Zarr" not in str(info.value)
    with pytest.raises(ImageError, match="the path is empty"):
        open_image(empty)


@pytest.mark.parametrize("dims", [5, 2.5, None.__class__, b"yx"])
def test_dims_of_the_wrong_type_raise_image_error(tmp_path, dims):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros((4, 5)))
    for call in (brushlab.imread, open_image, brushlab.as_image):
        source = np.zeros((4, 5)) if call is brushlab.as_image else path
        with pytest.raises(ImageError, match=r"is not a string or a sequence of names"):
            call(source, dims=dims)


def test_hdf5_pixels_outside_the_file_are_refused(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(bytes(range(64)))
    path = tmp_path / "bait.h5"
    with h5py.File(tmp_path / "other.h5", "w") as other:
        other["data"] = np.ones((4, 4))
    with h5py.File(path, "w") as handle:
        handle.create_dataset("external", shape=(8, 8), dtype="uint8",
                              external=[(str(secret), 0, 64)])
        handle["group/linked"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/data")
        layout = h5py.VirtualLayout(shape=(4, 4), dtype="float64")
        layout[:] = h5py.VirtualSource(str(tmp_path / "other.h5"), "data", shape=(4, 4))
        handle.create_virtual_dataset("virtual", layout)
        handle["inside"] = np.zeros((4, 4))
    for key, what in (("external", "external raw storage"), ("group/linked", "external link"),
                      ("virtual", "virtual dataset")):
        for call in (brushlab.imread, open_image):
            with pytest.raises(ImageError, match=what) as info:
                call(f"{path}/{key}")
            assert "copy the pixels in" in str(info.value)
    assert brushlab.imread(f"{path}/inside").shape == (4, 4)


def test_fifo_is_refused_without_blocking(tmp_path):
    import os

    fifo = tmp_path / "pipe.tif"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match="not a regular file"):
        brushlab.imread(fifo)


def test_truncated_npy_is_refused(tmp_path):
    path = tmp_path / "cut.npy"
    np.save(path, VOLUME)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ImageError, match="could not read .* as NPY"):
        brushlab.imread(path)


def test_docstring_examples_run():
    from brushlab.io import _dims, _ngff

    for module in (_budget, _formats, _lazy, _dims, _ngff):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__
