"""Writing half of the hashed zip-of-``.npy`` container (see :mod:`brushlab._core.container`)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import time
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from brushlab._core.atomic import atomic_path
from brushlab._core.safe_paths import member_name

if TYPE_CHECKING:
    from brushlab._core.container import Policy

__all__ = ["NpyContainerWriter"]

CHUNK = 2**20


class _HashingWriter(io.RawIOBase):
    """File-like wrapper that hashes and counts what passes through to ``target``."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.target.write(view)
        self.sha256.update(view)
        self.size += view.nbytes
        return view.nbytes


class NpyContainerWriter:
    """Write ``.npy`` members (streamed and hashed) and JSON documents into a new zip.

    Use :meth:`create`: the file replaces its destination atomically when the block
    ends; on any error the old file stays untouched and no temporary file remains.

    Examples
    --------
    >>> import tempfile
    >>> from brushlab._core.container import Policy, SafeZip
    >>> from brushlab.errors import ProjectError
    >>> path = Path(tempfile.mkdtemp()) / "c.zip"
    >>> policy = Policy(ProjectError, "container", "container", "write it again")
    >>> with NpyContainerWriter.create(path, policy) as writer:
    ...     entry = writer.add_array("a.npy", np.arange(3))
    ...     writer.add_json("doc.json", {"a": entry})
    >>> with SafeZip.open(path, policy) as archive:
    ...     doc = archive.read_json("doc.json", max_bytes=2**20)
    ...     archive.read_array("a.npy", doc["a"]).tolist()
    [0, 1, 2]
    """

    def __init__(self, archive: zipfile.ZipFile, policy: Policy) -> None:
        self._archive = archive
        self.policy = policy

    @classmethod
    @contextlib.contextmanager
    def create(
        cls, path: str | os.PathLike[str], policy: Policy, *, date_time: Any = None
    ) -> Iterator[NpyContainerWriter]:
        """Open a writer whose file replaces ``path`` atomically when the block ends."""
        target = Path(path)
        if not target.parent.is_dir():
            raise policy.error(
                f"cannot write {target}: folder {target.parent} does not exist; create it"
            )
        if target.is_dir():
            raise policy.error(f"cannot write {target}: it is a folder")
        mode = target.stat().st_mode & 0o777 if target.is_file() else 0o644
        with atomic_path(target) as temp:
            with open(temp, "wb") as handle:
                # Level 1: a third of level 6's time, labels still shrink 100x.
                with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
                    writer = cls(zf, policy)
                    writer._date_time = date_time
                    yield writer
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, mode)

    _date_time: Any = None

    def _info(self, name: str, compress: bool) -> zipfile.ZipInfo:
        member_name(name)
        info = zipfile.ZipInfo(name, date_time=self._date_time or _now())
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o600 << 16
        return info

    def add_array(self, name: str, array: np.ndarray, *, compress: bool = True) -> dict[str, Any]:
        """Stream ``array`` into member ``name``; return its ``{"dtype", "shape", "sha256"}``."""
        array = np.asarray(array)
        if array.dtype.hasobject:
            raise self.policy.error(f"cannot save array {name!r}: it holds Python objects")
        with self._archive.open(self._info(name, compress), "w", force_zip64=True) as member:
            writer = _HashingWriter(member)
            np.lib.format.write_array(writer, array, allow_pickle=False)
        return {
            "dtype": array.dtype.str,
            "shape": list(array.shape),
            "sha256": writer.sha256.hexdigest(),
        }

    def add_file(
        self, name: str, source: str | os.PathLike[str], *, compress: bool = False
    ) -> dict[str, Any]:
        """Copy a file into member ``name`` in chunks; return ``{"bytes", "sha256"}``."""
        with open(source, "rb") as handle:
            with self._archive.open(self._info(name, compress), "w", force_zip64=True) as member:
                writer = _HashingWriter(member)
                while chunk := handle.read(CHUNK):
                    writer.write(chunk)
        return {"bytes": writer.size, "sha256": writer.sha256.hexdigest()}

    def add_json(self, name: str, document: Mapping[str, Any]) -> None:
        """Write ``document`` as indented JSON (no NaN) into member ``name``."""
        data = json.dumps(document, indent=1, allow_nan=False).encode("utf-8")
        self._archive.writestr(self._info(name, True), data)


def _now() -> tuple[int, int, int, int, int, int]:
    return time.localtime()[:6]  # type: ignore[return-value]
