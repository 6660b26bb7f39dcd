"""One validated zip reader and one hashed zip-of-``.npy`` container, for every file from outside.

Model files, projects and BioImage Model Zoo packages are zip archives that come from
other people. Everything brushlab reads from such an archive goes through
:class:`SafeZip`, which

- opens regular files only (a FIFO, a device or a symlink to ``/dev/zero`` is refused
  after ``os.stat``, and opened with ``O_NONBLOCK`` so nothing can block);
- checks the central directory before any member is decompressed: member count, names
  (no absolute paths, no ``..``), encryption and method, every member inside the file,
  per-member and total uncompressed sizes, and the compression ratio of large members
  (a 2 MB zip that inflates to 2 GiB is refused without inflating it);
- reads members in chunks, hashed as they go, never past their declared size.

:class:`NpyContainerWriter` and :meth:`SafeZip.read_array` are the two halves of the
hashed container: a JSON document lists each ``.npy`` member's dtype, shape and
sha256; arrays are streamed into the zip while hashed, and read back into one
preallocated array after the header was checked against the document (object dtypes
are refused: nothing is ever unpickled).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np

from brushlab._core.safe_paths import member_name, open_regular_file
from brushlab.errors import BrushlabError

__all__ = ["ZipLimits", "Policy", "SafeZip", "NpyContainerWriter"]

CHUNK = 2**20
NPY_HEADER_SLACK = 2**16  # a .npy member is its raw data plus a header smaller than this
_NPY_HEADERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}
_MAGIC = {  # what a file that is not a zip seems to be
    b"\x80": "a Python pickle (pickle/joblib files can run code when loaded: never load them)",
    b"\x93NUMPY": "a single NumPy .npy array",
    b"\x89HDF": "an HDF5 file",
    b"II*\x00": "a TIFF image",
    b"MM\x00*": "a TIFF image",
    b"\x89PNG": "a PNG image",
}
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError)


@dataclass(frozen=True)
class ZipLimits:
    """Caps checked on a zip's central directory before any member is inflated.

    Parameters
    ----------
    max_members : int
        Entries in the archive.
    max_member_bytes, max_total_bytes : int
        Uncompressed size of one member, and of all of them.
    max_ratio : float
        Uncompressed / compressed size allowed for members (and the whole archive) larger
        than ``ratio_free_bytes``. brushlab writes with deflate level 1, which never
        exceeds about 230:1; a deflate bomb reaches 1030:1.
    ratio_free_bytes : int
        Members this small may have any ratio (they cannot exhaust memory).

    Examples
    --------
    >>> ZipLimits().max_ratio
    300.0
    >>> ZipLimits(max_member_bytes=2**20).max_member_bytes
    1048576
    """

    max_members: int = 100_000
    max_member_bytes: int = 16 * 2**30
    max_total_bytes: int = 64 * 2**30
    max_ratio: float = 300.0
    ratio_free_bytes: int = 16 * 2**20


@dataclass(frozen=True)
class Policy:
    """How errors about one kind of container read: the error class, the noun and the fix.

    Parameters
    ----------
    error : type of BrushlabError
        Raised for every problem (``ModelFileError``, ``ProjectError``...).
    noun : str
        What a good file is, as in "... is damaged or not a {noun}".
    short : str
        Short name, as in "{short} not found".
    fix : str
        What to do about a damaged file.
    limits : ZipLimits
        Caps for this kind of archive.

    Examples
    --------
    >>> from brushlab.errors import ProjectError
    >>> policy = Policy(ProjectError, "brushlab project", "project file", "open a backup")
    >>> str(policy.damaged(Path("a.blproj"), "no labels"))
    'a.blproj is damaged: no labels; open a backup'
    """

    error: type[BrushlabError]
    noun: str
    short: str
    fix: str
    limits: ZipLimits = field(default_factory=ZipLimits)

    def damaged(self, path: Path, what: str) -> BrushlabError:
        """Return the error for a readable file whose content is inconsistent."""
        return self.error(f"{path} is damaged: {what}; {self.fix}")

    def with_limits(self, **changes: Any) -> Policy:
        """Return a copy with some limits changed (e.g. ``max_member_bytes=...``)."""
        return replace(self, limits=replace(self.limits, **changes))


class _HashingReader(io.RawIOBase):
    """Reads a member in chunks, hashing and counting, and never past ``size`` bytes."""

    def __init__(self, source: IO[bytes], size: int, fail: Any) -> None:
        self._source, self._left, self._fail = source, size, fail
        self.sha256 = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._left)
        if want <= 0:
            return 0
        try:
            data = self._source.read(want)
        except _READ_ERRORS as exc:
            raise self._fail(f"it cannot be read ({exc})") from exc
        n = len(data)
        view[:n] = data
        self.sha256.update(data)
        self.count += n
        self._left -= n
        return n

    def read_exact(self, out: memoryview) -> None:
        """Fill ``out`` completely (a short member is damaged)."""
        done = 0
        while done < len(out):
            n = self.readinto(out[done : done + CHUNK])
            if n == 0:
                raise self._fail(f"it ends after {self.count} bytes")
            done += n

    def finish(self) -> str:
        """Read to the end (so the zip's CRC is checked) and return the sha256 hex digest."""
        sink = bytearray(2**16)  # normally nothing is left: the CRC check needs one more read
        while self.readinto(sink):
            pass
        try:  # nothing may follow the declared size
            extra = self._source.read(1)
        except _READ_ERRORS as exc:
            raise self._fail(f"it cannot be read ({exc})") from exc
        if extra:
            raise self._fail("it holds more bytes than its zip entry declares")
        return self.sha256.hexdigest()


class SafeZip:
    """A zip archive opened for reading after its central directory passed every check.

    Use :meth:`open`; members are read with :meth:`read`, :meth:`read_array`,
    :meth:`read_json` and :meth:`copy_to`.

    Examples
    --------
    >>> import tempfile, zipfile
    >>> from brushlab.errors import ProjectError
    >>> path = Path(tempfile.mkdtemp()) / "a.zip"
    >>> with zipfile.ZipFile(path, "w") as archive:
    ...     archive.writestr("hello.txt", "hi")
    >>> policy = Policy(ProjectError, "zip", "zip", "fix it")
    >>> with SafeZip.open(path, policy) as archive:
    ...     archive.names(), archive.read("hello.txt", max_bytes=10)
    (['hello.txt'], b'hi')
    """

    def __init__(
        self, archive: zipfile.ZipFile, path: Path, policy: Policy, handle: IO[bytes] | None = None
    ) -> None:
        self._archive = archive
        self._handle = handle
        self.path = path
        self.policy = policy
        self._infos: dict[str, zipfile.ZipInfo] = {}
        try:
            self._check_directory()
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, path: str | os.PathLike[str], policy: Policy) -> SafeZip:
        """Open ``path`` (a regular file) and check its central directory.

        Use the result in a ``with`` block (or call :meth:`close`).

        Raises
        ------
        BrushlabError
            ``policy.error`` when the file is missing, not regular, not a zip, or any
            check fails.
        """
        path = Path(path)
        handle = open_regular_file(path, error=policy.error, what=policy.short)
        try:
            start = handle.read(8)
            handle.seek(0)
            try:
                archive = zipfile.ZipFile(handle)
            except (*_READ_ERRORS, ValueError) as exc:  # NotImplementedError: "zip version 6.5"
                raise cls._unreadable(path, policy, start, exc) from exc
        except BaseException:
            handle.close()
            raise
        return cls(archive, path, policy, handle)

    def close(self) -> None:
        """Close the archive and its file."""
        self._archive.close()
        if self._handle is not None:
            self._handle.close()

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _unreadable(path: Path, policy: Policy, start: bytes, exc: Exception) -> BrushlabError:
        if start.startswith(b"PK"):
            what = f"damaged (truncated?): its zip container cannot be read ({exc})"
        else:
            seems = next((w for m, w in _MAGIC.items() if start.startswith(m)), None)
            what = "not a zip container" + (f"; it looks like {seems}" if seems else "")
        return policy.error(f"{path} is damaged or not a {policy.noun} ({what}); {policy.fix}")

    def _check_directory(self) -> None:
        limits, infos = self.policy.limits, self._archive.infolist()
        if len(infos) > limits.max_members:
            raise self._bad(f"it has {len(infos)} entries, more than {limits.max_members}")
        end = self._archive.fp.seek(0, os.SEEK_END) if self._archive.fp else 0
        total = packed = 0
        for info in infos:
            name = info.filename
            try:
                member_name(name)
            except ValueError as exc:
                raise self._bad(f"entry {name!r} {exc}") from None
            if name in self._infos:
                raise self._bad(f"entry {name!r} appears twice")
            if info.flag_bits & 0x1:
                raise self._bad(f"entry {name!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise self._bad(f"entry {name!r} uses compression method {info.compress_type}")
            if info.header_offset + info.compress_size > end:
                raise self._bad(f"entry {name!r} extends past the end of the file (truncated?)")
            if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
                raise self._bad(f"entry {name!r} is stored but declares two different sizes")
            if info.file_size > limits.max_member_bytes:
                raise self._bad(
                    f"entry {name!r} inflates to {info.file_size} bytes, more than the "
                    f"{limits.max_member_bytes} allowed"
                )
            self._check_ratio(info.file_size, info.compress_size, f"entry {name!r}")
            total, packed = total + info.file_size, packed + info.compress_size
            self._infos[name] = info
        if total > limits.max_total_bytes:
            raise self._bad(
                f"its entries inflate to {total} bytes in all, more than the "
                f"{limits.max_total_bytes} allowed"
            )
        self._check_ratio(total, packed, "the archive")

    def _check_ratio(self, size: int, packed: int, what: str) -> None:
        limits = self.policy.limits
        if size > limits.ratio_free_bytes and size > limits.max_ratio * max(packed, 1):
            raise self._bad(
                f"{what} inflates {packed} bytes to {size} ({size / max(packed, 1):.0f}:1, more "
                f"than {limits.max_ratio:.0f}:1): it looks like a zip bomb"
            )

    def _bad(self, what: str) -> BrushlabError:
        return self.policy.damaged(self.path, what)

    # -- members ------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Member names, in archive order."""
        return list(self._infos)

    def __contains__(self, name: object) -> bool:
        return name in self._infos

    def size(self, name: str) -> int:
        """Return the declared uncompressed size of member ``name``."""
        return self._info(name).file_size

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = self._infos.get(name)
        if info is None:
            raise self._bad(f"member {name!r} is missing")
        return info

    @contextlib.contextmanager
    def _stream(self, name: str) -> Iterator[_HashingReader]:
        info = self._info(name)

        def fail(what: str) -> BrushlabError:
            return self._bad(f"member {name!r}: {what}")

        try:
            member = self._archive.open(info)
        except _READ_ERRORS as exc:
            raise fail(f"it cannot be opened ({exc})") from exc
        with member:
            yield _HashingReader(member, info.file_size, fail)

    def read(self, name: str, *, max_bytes: int, sha256: str | None = None) -> bytes:
        """Bytes of member ``name``, refused unread when larger than ``max_bytes``.

        Parameters
        ----------
        name : str
            Member name.
        max_bytes : int
            Largest size accepted (checked on the declared size, before reading).
        sha256 : str, optional
            Expected hex digest; a mismatch is an error.

        Returns
        -------
        bytes
        """
        size = self.size(name)
        if size > max_bytes:
            raise self._bad(f"member {name!r} is {size} bytes, more than the {max_bytes} expected")
        out = bytearray(size)
        with self._stream(name) as stream:
            stream.read_exact(memoryview(out))
            digest = stream.finish()
        if sha256 is not None and digest != sha256:
            raise self._bad(f"member {name!r} does not match its sha256 checksum")
        return bytes(out)

    def read_json(self, name: str, *, max_bytes: int) -> Any:
        """Parse member ``name`` as UTF-8 JSON (not valid JSON: the file is damaged)."""
        data = self.read(name, max_bytes=max_bytes)
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise self._bad(f"its {name} is not valid JSON ({exc})") from exc

    def copy_to(self, name: str, target: BinaryIO, *, sha256: str | None = None) -> str:
        """Stream member ``name`` into ``target`` in chunks; return its sha256 hex digest."""
        buffer = bytearray(CHUNK)
        with self._stream(name) as stream:
            while n := stream.readinto(buffer):
                target.write(memoryview(buffer)[:n])
            digest = stream.finish()
        if sha256 is not None and digest != sha256:
            raise self._bad(f"member {name!r} does not match its sha256 checksum")
        return digest

    def read_array(
        self,
        name: str,
        entry: Any,
        *,
        kinds: str = "biufcSU",
        label: str | None = None,
        document: str = "the document",
    ) -> np.ndarray:
        """Read a ``.npy`` member listed as ``entry = {"dtype", "shape", "sha256"}``.

        The declared size, the ``.npy`` header and the sha256 are all checked against
        ``entry`` (the header before any data is read); the data goes straight into one
        preallocated array. Object dtypes are refused, never unpickled.

        Parameters
        ----------
        name : str
            Member name.
        entry : mapping
            The document's description of the member.
        kinds : str
            Accepted dtype kinds (``np.dtype.kind``).
        label : str, optional
            How messages call the array (default: the member name).
        document : str
            How messages call the document that lists it ("metadata.json").

        Returns
        -------
        numpy.ndarray
        """
        label = label or name
        dtype, shape, digest = self._parse_entry(label, entry, kinds, document)
        nbytes = dtype.itemsize * math.prod(shape)
        info = self._info(name)
        if info.file_size > nbytes + NPY_HEADER_SLACK:
            raise self._bad(f"array {label!r} is {info.file_size} bytes, too many for its shape")
        with self._stream(name) as stream:
            try:
                version = np.lib.format.read_magic(stream)
                if version not in _NPY_HEADERS:
                    raise ValueError(f".npy format version {version} is not one brushlab writes")
                found_shape, fortran, found_dtype = _NPY_HEADERS[version](stream)
            except (ValueError, EOFError, TypeError, SyntaxError) as exc:
                raise self._bad(f"array {label!r} is not a readable .npy array ({exc})") from exc
            if found_dtype.hasobject:
                raise self._pickled(label)
            if found_dtype != dtype or tuple(found_shape) != shape:
                found = f"{found_dtype} {tuple(found_shape)}"
                raise self._bad(f"array {label!r} holds {found}, {document} says {dtype} {shape}")
            if stream.count + nbytes != info.file_size:
                raise self._bad(f"array {label!r} is {info.file_size} bytes, not its shape's")
            flat = np.empty(nbytes, np.uint8)
            stream.read_exact(flat.data)
            if stream.finish() != digest:
                raise self._bad(f"array {label!r} does not match its sha256 checksum")
        if dtype.itemsize == 0:
            return np.empty(shape, dtype)
        return flat.view(dtype).reshape(shape, order="F" if fortran else "C")

    def _parse_entry(
        self, label: str, entry: Any, kinds: str, document: str
    ) -> tuple[np.dtype, tuple, str]:
        try:
            dtype = np.dtype(entry["dtype"])
            shape = tuple(int(n) for n in entry["shape"])
            digest = str(entry["sha256"])
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad(f"{document} describes array {label!r} badly ({exc!r})") from exc
        if dtype.hasobject:
            raise self._pickled(label)
        if dtype.kind not in kinds or min(shape, default=0) < 0 or len(shape) > 32:
            raise self._bad(f"array {label!r} has dtype {dtype} / shape {shape}")
        if dtype.itemsize * math.prod(shape) > self.policy.limits.max_member_bytes:
            raise self._bad(f"array {label!r} of shape {shape} is implausibly large")
        return dtype, shape, digest

    def _pickled(self, label: str) -> BrushlabError:
        return self.policy.error(
            f"{self.path} is damaged or tampered with: array {label!r} is stored as Python "
            "objects, which only unpickling "
            "can load, and unpickling can run arbitrary code, so brushlab refuses it. The file "
            f"was not written by brushlab or was tampered with: do not use it; {self.policy.fix}"
        )


# The writer lives in its own module (size); it is part of this container's API.
from brushlab._core._container_writer import NpyContainerWriter  # noqa: E402
