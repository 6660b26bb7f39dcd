"""The one validated zip reader and hashed container (brushlab._core.container) and its helpers."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from brushlab._core.container import NpyContainerWriter, Policy, SafeZip, ZipLimits
from brushlab._core.safe_paths import (
    member_name,
    open_regular_file,
    read_regular_file,
    resolve_inside,
)
from brushlab._core.safe_yaml import load_yaml
from brushlab._core.threads import check_n_jobs, max_jobs, resolve_n_jobs
from brushlab.errors import BrushlabError, ClassifierError, ProjectError

POLICY = Policy(ProjectError, "test container", "test file", "write it again")


def _zip(path: Path, members: dict[str, bytes], *, level: int = 6) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _entry(array: np.ndarray) -> dict:
    data = _npy(array)
    return {"dtype": array.dtype.str, "shape": list(array.shape), "sha256": _sha(data)}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- arrays round trip, and files written the old way still read --------------------------
@pytest.mark.parametrize(
    "array",
    [
        np.arange(12.0).reshape(3, 4),
        np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4)),
        np.arange(5, dtype=">u4"),
        np.array(3.5),
        np.zeros((0, 4), np.float32),
        np.array(["a", "bcd"]),
        np.array([True, False]),
        np.array([1 + 2j]),
    ],
    ids=["f8", "fortran", "big-endian", "0-d", "empty", "str", "bool", "complex"],
)
def test_arrays_read_back_exactly(tmp_path, array):
    path = tmp_path / "c.zip"
    with NpyContainerWriter.create(path, POLICY) as writer:
        entry = writer.add_array("a.npy", array)
    assert entry == _entry(array)  # same bytes as np.save: old readers read new files
    with SafeZip.open(path, POLICY) as archive:
        got = archive.read_array("a.npy", entry)
    assert got.dtype == array.dtype and got.shape == array.shape
    np.testing.assert_array_equal(got, array)


def test_file_written_by_plain_zipfile_and_np_save_reads(tmp_path):
    """The pre-container writers: writestr of np.save bytes (model files)."""
    array = np.linspace(0, 1, 100)
    path = _zip(tmp_path / "old.zip", {"w.npy": _npy(array)}, level=1)
    with SafeZip.open(path, POLICY) as archive:
        np.testing.assert_array_equal(archive.read_array("w.npy", _entry(array)), array)


def test_reading_an_array_holds_one_copy_in_memory(tmp_path):
    array = np.random.default_rng(0).random(4 * 2**20)  # 32 MiB
    path = tmp_path / "big.zip"
    with NpyContainerWriter.create(path, POLICY) as writer:
        entry = writer.add_array("a.npy", array, compress=False)
    del array
    tracemalloc.start()
    try:
        with SafeZip.open(path, POLICY) as archive:
            got = archive.read_array("a.npy", entry)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got.nbytes == 32 * 2**20
    assert peak < 1.2 * got.nbytes, peak  # whole-member reads needed 3 copies


@pytest.mark.parametrize(
    "change, says",
    [
        ({"sha256": "0" * 64}, "sha256"),
        ({"dtype": "<f4"}, "holds float64"),
        ({"shape": [5]}, r"the document says float64 \(5,\)"),
        ({"dtype": "|O"}, "Python objects"),
        ({"shape": [2**40]}, "implausibly large"),
        ({"shape": "x"}, "describes array"),
    ],
)
def test_array_not_matching_its_entry_is_refused(tmp_path, change, says):
    array = np.arange(4.0)
    path = _zip(tmp_path / "c.zip", {"a.npy": _npy(array)})
    with SafeZip.open(path, POLICY) as archive, pytest.raises(ProjectError, match=says):
        archive.read_array("a.npy", {**_entry(array), **change})


def test_pickled_member_is_refused_from_its_header(tmp_path):
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (63 - len(header) % 64) + b"\n"
    payload = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\x80\x04N."
    path = _zip(tmp_path / "c.zip", {"a.npy": payload})
    entry = {"dtype": "<f8", "shape": [1], "sha256": _sha(payload)}
    with SafeZip.open(path, POLICY) as archive, pytest.raises(ProjectError, match="unpickling"):
        archive.read_array("a.npy", entry)


# -- the central directory is checked before anything is inflated ---------------------------
@pytest.mark.parametrize("name", ["../evil.npy", "/abs.npy", "a/../../b", "c:/x", "a\\b"])
def test_member_names_leaving_the_archive_are_refused(tmp_path, name):
    path = tmp_path / "c.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo(name), b"x")
    with pytest.raises(ProjectError, match=f"entry {name!r}".replace("\\", "\\\\")):
        SafeZip.open(path, POLICY)


@pytest.mark.parametrize(
    "limits, says",
    [
        (ZipLimits(max_members=2), "3 entries"),
        (ZipLimits(max_member_bytes=1000), "inflates to 4000 bytes"),
        (ZipLimits(max_total_bytes=5000), "in all"),
        (ZipLimits(max_ratio=10, ratio_free_bytes=100), "zip bomb"),
    ],
)
def test_limits(tmp_path, limits, says):
    path = _zip(tmp_path / "c.zip", {f"{i}.bin": bytes(4000) for i in range(3)})
    with pytest.raises(ProjectError, match=says):
        SafeZip.open(path, Policy(ProjectError, "c", "c", "fix", limits))
    SafeZip.open(path, POLICY).close()  # the defaults accept it


def test_member_past_the_end_of_the_file_is_refused(tmp_path):
    path = _zip(tmp_path / "c.zip", {"a.bin": os.urandom(5000)})
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("a.bin")
    central = data.rindex(b"PK\x01\x02")
    data[central + 20 : central + 24] = struct.pack("<I", 10**7)  # compressed size
    path.write_bytes(bytes(data))
    with pytest.raises(ProjectError, match="past the end"):
        SafeZip.open(path, POLICY)
    assert info.compress_size < 10**7


def test_lying_sizes_never_read_more_than_declared(tmp_path):
    """A member that inflates to more than its declared size stops at that size (CRC fails)."""
    path = _zip(tmp_path / "c.zip", {"a.bin": bytes(2**20)})
    data = bytearray(path.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    data[central + 24 : central + 28] = struct.pack("<I", 100)  # uncompressed size
    path.write_bytes(bytes(data))
    with SafeZip.open(path, POLICY) as archive:
        assert archive.size("a.bin") == 100
        with pytest.raises(ProjectError, match="damaged.*a.bin"):
            archive.read("a.bin", max_bytes=1000)


def test_read_checks_size_before_and_sha_after(tmp_path):
    path = _zip(tmp_path / "c.zip", {"a.bin": b"hello"})
    with SafeZip.open(path, POLICY) as archive:
        assert archive.read("a.bin", max_bytes=5, sha256=_sha(b"hello")) == b"hello"
        with pytest.raises(ProjectError, match="more than the 4 expected"):
            archive.read("a.bin", max_bytes=4)
        with pytest.raises(ProjectError, match="checksum"):
            archive.read("a.bin", max_bytes=5, sha256="0" * 64)
        with pytest.raises(ProjectError, match="missing"):
            archive.read("b.bin", max_bytes=5)
        sink = io.BytesIO()
        assert archive.copy_to("a.bin", sink) == _sha(b"hello") and sink.getvalue() == b"hello"


def test_not_a_zip_says_what_it_looks_like(tmp_path):
    path = tmp_path / "c.zip"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(ProjectError, match="not a zip container; it looks like an HDF5 file"):
        SafeZip.open(path, POLICY)


def test_writer_is_atomic(tmp_path):
    path = tmp_path / "c.zip"
    path.write_bytes(b"previous")
    with pytest.raises(RuntimeError), NpyContainerWriter.create(path, POLICY) as writer:
        writer.add_array("a.npy", np.arange(3))
        raise RuntimeError("interrupted")
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["c.zip"]
    with NpyContainerWriter.create(path, POLICY) as writer:
        writer.add_json("doc.json", {"a": 1})
    with SafeZip.open(path, POLICY) as archive:
        assert archive.read_json("doc.json", max_bytes=100) == {"a": 1}


# -- regular files and paths -----------------------------------------------------------------
def test_only_regular_files_are_opened(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(BrushlabError, match="FIFO"):
        open_regular_file(fifo)
    link = tmp_path / "zero.bin"
    link.symlink_to("/dev/zero")
    with pytest.raises(BrushlabError, match=r"character device \(a symlink to /dev/zero\)"):
        open_regular_file(link)
    with pytest.raises(BrushlabError, match="is a folder"):
        open_regular_file(tmp_path)
    with pytest.raises(BrushlabError, match="not found"):
        open_regular_file(tmp_path / "missing")


def test_read_regular_file_caps_size(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * 100)
    data, digest = read_regular_file(path, max_bytes=100)
    assert data == b"x" * 100 and digest == _sha(data)
    with pytest.raises(BrushlabError, match="more than the 99"):
        read_regular_file(path, max_bytes=99)


@pytest.mark.parametrize(
    "rel, expected",
    [
        ("a/b", "a/b"),
        ("./a/./b", "a/b"),
        ("a/", "a/"),
        ("..", None),
        ("a/../b", None),
        ("/etc/passwd", None),
        ("C:/x", None),
        ("", None),
    ],
)
def test_member_name(rel, expected):
    if expected is None:
        with pytest.raises(ValueError):
            member_name(rel)
    else:
        assert member_name(rel) == expected


def test_resolve_inside_refuses_symlinks_that_lead_out(tmp_path):
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "inside.txt").write_text("x")
    (root / "out").symlink_to(tmp_path)
    assert resolve_inside(root, "inside.txt") == (root / "inside.txt").resolve()
    with pytest.raises(ValueError, match="outside"):
        resolve_inside(root, "out/secret.txt")


# -- yaml ------------------------------------------------------------------------------------
def test_yaml_plain_aliases_are_fine():
    assert load_yaml("a: &x [1, 2]\nb: *x\n", where="y") == {"a": [1, 2], "b": [1, 2]}


def test_yaml_billion_laughs_is_refused_before_construction():
    levels = ["a: &a [" + ", ".join(["lol"] * 9) + "]"]
    for prev, name in zip("abcdefgh", "bcdefghi"):
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    with pytest.raises(BrushlabError, match="alias bomb"):
        load_yaml("\n".join(levels), where="laughs.yaml")


def test_yaml_recursive_alias_and_alias_count_and_size():
    with pytest.raises(BrushlabError, match="refers to itself"):
        load_yaml("a: &a [1, *a]\n", where="y")
    many = "a: &a 1\nb: [" + ", ".join(["*a"] * 50) + "]\n"
    with pytest.raises(BrushlabError, match="aliases 50 times"):
        load_yaml(many, where="y", max_aliases=10)
    with pytest.raises(BrushlabError, match="more than the 10"):
        load_yaml("a: 12345678901", where="y", max_bytes=10)
    with pytest.raises(BrushlabError, match="not valid YAML"):
        load_yaml("a: [", where="y")
    with pytest.raises(BrushlabError, match="not valid YAML"):
        load_yaml("!!python/object:os.system {}", where="y")


# -- n_jobs ----------------------------------------------------------------------------------
def test_n_jobs_bounds():
    cores = os.cpu_count() or 1
    assert check_n_jobs(None) is None and check_n_jobs(0) is None
    assert check_n_jobs(max_jobs()) == max_jobs()
    assert resolve_n_jobs(-1) == cores and resolve_n_jobs(2) == 2
    for bad in (max_jobs() + 1, 100000, -cores - 1, 1.5, "4", True):
        with pytest.raises(ClassifierError, match="n_jobs"):
            check_n_jobs(bad)
    assert check_n_jobs(np.int64(3)) == 3
    assert json.dumps(check_n_jobs(4)) == "4"


def test_a_zip_version_zipfile_cannot_read_is_a_clear_error(tmp_path):
    """zipfile raises NotImplementedError for "zip file version 6.5" (found by test_fuzz)."""
    path = tmp_path / "c.bin"
    with NpyContainerWriter.create(path, POLICY) as writer:
        entry = writer.add_array("a.npy", np.arange(4))
    data = bytearray(path.read_bytes())
    # central directory: bytes 6-7 = the version needed to extract
    at = data.rfind(b"PK\x01\x02")
    data[at + 6:at + 8] = struct.pack("<H", 65)
    path.write_bytes(bytes(data))
    with pytest.raises(ProjectError, match="zip file version 6.5"):
        with SafeZip.open(path, POLICY) as archive:
            archive.read_array("a.npy", entry)
