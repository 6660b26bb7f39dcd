"""brushlab.datasets: cached files are used (and checked) without any network access."""

from __future__ import annotations

import shutil
import socket
import zipfile
from pathlib import Path

import numpy as np
import pytest

from brushlab import datasets
from brushlab.datasets import (
    DatasetError,
    _fetch,  # noqa: F401  (monkeypatched below)
)

from .conftest import shared_data


class NetworkUsed(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Fail any attempt to resolve a name or open a connection; count the attempts."""
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise NetworkUsed(f"network access attempted: {args[:2]}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


@pytest.fixture
def shared(monkeypatch, no_network):
    root = shared_data()
    for sub in ("isbi2012", "bbbc039"):
        shared_data(sub)
    monkeypatch.setenv("BRUSHLAB_DATA", str(root))
    return root


def test_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BRUSHLAB_DATA", str(tmp_path))
    assert datasets.data_dir() == tmp_path
    monkeypatch.delenv("BRUSHLAB_DATA")
    assert datasets.data_dir().name == "brushlab"


def test_registry_matches_every_shared_file(shared):
    import pooch

    names = sorted(
        f"{p.parent.name}/{p.name}"
        for sub in ("isbi2012", "bbbc039")
        for p in (shared / sub).iterdir()
        if p.name.startswith(("image_", "label_", "mask_"))
    )
    assert names == sorted(datasets.REGISTRY)
    for name in names:
        assert pooch.file_hash(str(shared / name), alg="sha256") == datasets.REGISTRY[name], name


def test_isbi2012_from_the_cache(shared, no_network):
    import imageio.v3 as iio

    image, truth = datasets.isbi2012(slices=[5, 0])
    assert image.shape == truth.shape == (2, 512, 512)
    assert image.dtype == truth.dtype == np.uint8
    assert sorted(np.unique(truth).tolist()) == [1, 2]
    raw = iio.imread(shared / "isbi2012" / "label_05.png")
    np.testing.assert_array_equal(truth[0] == 1, raw == 0)  # 0 = membrane in the file
    np.testing.assert_array_equal(image[1], iio.imread(shared / "isbi2012" / "image_00.png"))
    one, _ = datasets.isbi2012(slices=0)
    np.testing.assert_array_equal(one[0], image[1])
    assert no_network == []


def test_isbi2012_all_slices_is_a_volume(shared, no_network):
    image, truth = datasets.isbi2012()
    assert image.shape == (20, 512, 512)
    assert 0.15 < float((truth == 1).mean()) < 0.3
    assert no_network == []


def test_bbbc039_from_the_cache(shared, no_network):
    import imageio.v3 as iio

    images, labels = datasets.bbbc039(n=2)
    assert images.shape == labels.shape == (2, 520, 696)
    assert images.dtype == np.uint16 and labels.dtype == np.int32
    assert int(images.max()) <= 4095
    for i, k in enumerate(list(datasets.BBBC039_INDICES)[:2]):
        ref = iio.imread(shared / "bbbc039" / f"labels_{k:02d}.png")
        np.testing.assert_array_equal(labels[i], ref)
    assert no_network == []


def test_bad_arguments(shared):
    with pytest.raises(DatasetError, match="slices are 0..19"):
        datasets.isbi2012(slices=[25])
    with pytest.raises(DatasetError, match="n must be"):
        datasets.bbbc039(n=0)


def test_a_damaged_cached_file_is_refused(shared, tmp_path, monkeypatch, no_network):
    (tmp_path / "isbi2012").mkdir()
    for name in ("image_00.png", "label_00.png"):
        shutil.copy(shared / "isbi2012" / name, tmp_path / "isbi2012" / name)
    target = tmp_path / "isbi2012" / "image_00.png"
    data = bytearray(target.read_bytes())
    data[-20] ^= 0xFF
    target.write_bytes(bytes(data))
    monkeypatch.setenv("BRUSHLAB_DATA", str(tmp_path))
    with pytest.raises(DatasetError, match="sha256"):
        datasets.isbi2012(slices=[0])
    assert no_network == []


def test_an_empty_cache_offline_raises_a_clear_error(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("BRUSHLAB_DATA", str(tmp_path))
    with pytest.raises(DatasetError, match="download=False"):
        datasets.bbbc039(n=1, download=False)
    with pytest.raises(DatasetError, match="download=False"):
        datasets.isbi2012(slices=[0], download=False)
    assert no_network == []
    with pytest.raises(DatasetError, match="BRUSHLAB_DATA"):
        datasets.isbi2012(slices=[0])
    assert no_network, "the download should have been attempted (and refused)"


def test_bbbc039_extracts_and_checks_archive_members(shared, tmp_path, monkeypatch):
    """The official archives' members land under the short names, checked by sha256."""
    stems = datasets.BBBC039_INDICES
    archives = tmp_path / "served"
    archives.mkdir()
    with zipfile.ZipFile(archives / "images.zip", "w") as zf:
        for k in list(stems)[:2]:
            zf.write(shared / "bbbc039" / f"image_{k:02d}.tif", f"images/{stems[k]}.tif")
    with zipfile.ZipFile(archives / "masks.zip", "w") as zf:
        for k in list(stems)[:2]:
            zf.write(shared / "bbbc039" / f"mask_{k:02d}.png", f"masks/{stems[k]}.png")
    fetched: list[str] = []

    def fake_download(url: str, known: str, folder: Path, name: str) -> Path:
        fetched.append(url)
        return archives / name

    cache = tmp_path / "cache"
    monkeypatch.setenv("BRUSHLAB_DATA", str(cache))
    monkeypatch.setattr(datasets._fetch, "_download", fake_download)
    images, labels = datasets.bbbc039(n=2)
    assert sorted(u.rsplit("/", 1)[1] for u in fetched) == ["images.zip", "masks.zip"]
    assert all(u.startswith("https://data.broadinstitute.org/bbbc/BBBC039/") for u in fetched)
    assert (cache / "bbbc039" / "image_00.tif").is_file()
    ref_images, ref_labels = _bbbc039_at(shared, 2, monkeypatch)
    np.testing.assert_array_equal(images, ref_images)
    np.testing.assert_array_equal(labels, ref_labels)


def _bbbc039_at(root: Path, n: int, monkeypatch) -> tuple[np.ndarray, np.ndarray]:
    monkeypatch.setenv("BRUSHLAB_DATA", str(root))
    return datasets.bbbc039(n=n)


def test_bbbc039_refuses_a_member_with_another_hash(shared, tmp_path, monkeypatch):
    stems = datasets.BBBC039_INDICES
    with zipfile.ZipFile(tmp_path / "images.zip", "w") as zf:
        zf.writestr(f"images/{stems[0]}.tif", b"not the original file")
    with zipfile.ZipFile(tmp_path / "masks.zip", "w") as zf:
        zf.write(shared / "bbbc039" / "mask_00.png", f"masks/{stems[0]}.png")
    monkeypatch.setenv("BRUSHLAB_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(
        datasets._fetch, "_download", lambda url, known, folder, name: tmp_path / name
    )
    with pytest.raises(DatasetError, match="sha256"):
        datasets.bbbc039(n=1)
    assert not (tmp_path / "cache" / "bbbc039" / "image_00.tif").exists()


def test_isbi2012_reads_the_official_tiff_stacks(shared, tmp_path, monkeypatch):
    """Without the PNG slices, the challenge's train-volume/train-labels TIFFs are read."""
    import tifffile

    volume, truth = datasets.isbi2012(slices=range(3))
    folder = tmp_path / "isbi2012"
    folder.mkdir()
    tifffile.imwrite(folder / "train-volume.tif", volume, photometric="minisblack")
    tifffile.imwrite(folder / "train-labels.tif", np.where(truth == 1, 0, 255).astype(np.uint8),
                     photometric="minisblack")
    monkeypatch.setenv("BRUSHLAB_DATA", str(tmp_path))
    urls: list[str] = []

    def fake_download(url: str, known: str, folder: Path, name: str) -> Path:
        urls.append(url)
        assert known.startswith("md5:")
        return folder / name

    monkeypatch.setattr(datasets._fetch, "_download", fake_download)
    image2, truth2 = datasets.isbi2012(slices=[2, 1])
    assert [u.rsplit("/", 1)[1] for u in urls] == ["train-volume.tif", "train-labels.tif"]
    assert all(u.startswith("http://brainiac2.mit.edu/isbi_challenge/") for u in urls)
    np.testing.assert_array_equal(image2, volume[[2, 1]])
    np.testing.assert_array_equal(truth2, truth[[2, 1]])


def test_bundled_images_work_offline(no_network):
    assert datasets.cell().shape == (660, 550)
    assert datasets.coins().shape == (303, 384)
    assert datasets.immunohistochemistry().shape == (512, 512, 3)
    assert no_network == []
