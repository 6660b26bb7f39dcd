"""The project container: one zip of ``project.json`` plus ``.npy`` arrays, checked on read.

Writing streams each array into its zip member while hashing it (no second copy in
memory) and replaces the destination only once the whole file is on disk. Reading
checks every member against the dtype, shape and sha256 that ``project.json`` lists
before NumPy parses it, and never unpickles (``allow_pickle=False``; object dtypes
are refused from the header).
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
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from brushlab._core.atomic import atomic_path
from brushlab.errors import ProjectError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "DOCUMENT",
    "ProjectWriter",
    "ProjectReader",
    "upgrade",
]

FORMAT_NAME = "brushlab-project"
FORMAT_VERSION = 1
DOCUMENT = "project.json"
CLASSIFIER_MEMBER = "classifier.brushlab"
_MAX_DOCUMENT_BYTES = 64 * 2**20
_PLAIN_KINDS = "biuf"  # pixels and labels: numbers and booleans only
_NPY_HEADER_SLACK = 2**16
_READ_HEADER = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}
# Version N -> N + 1 migrations of project.json, applied in order before parsing.
# Rule: a new version only adds fields or renames them; the step from N to N + 1
# fills what version N lacks, so every older project opens. Newer files are refused.
_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


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


class ProjectWriter:
    """Write arrays and a JSON document into a new project zip at a temporary path.

    Use as a context manager through :meth:`create`: the destination is replaced
    only when the block completes; on any error the old file stays untouched.
    """

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._archive = archive
        self.manifest: dict[str, dict[str, Any]] = {}

    @classmethod
    @contextlib.contextmanager
    def create(cls, path: str | os.PathLike[str]) -> Iterator[ProjectWriter]:
        """Open a writer whose file replaces ``path`` atomically when the block ends."""
        target = Path(path)
        if not target.parent.is_dir():
            raise ProjectError(
                f"cannot save the project to {target}: folder {target.parent} does not exist"
            )
        if target.is_dir():
            raise ProjectError(f"cannot save the project to {target}: it is a folder")
        mode = target.stat().st_mode & 0o777 if target.is_file() else 0o644
        with atomic_path(target) as temp:
            with open(temp, "wb") as handle:
                # Level 1: labels (mostly zeros) shrink 100x; noisy pixels barely compress.
                with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
                    yield cls(zf)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, mode)

    def add_array(self, name: str, array: np.ndarray, *, compress: bool = True) -> str:
        """Stream ``array`` into member ``name`` (``.npy``) and record its checksum."""
        array = np.ascontiguousarray(array)
        if array.dtype.kind not in _PLAIN_KINDS:
            raise ProjectError(
                f"cannot save array {name!r} of dtype {array.dtype}: projects hold numbers only"
            )
        kind = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = kind
        with self._archive.open(info, "w", force_zip64=True) as member:
            writer = _HashingWriter(member)
            np.lib.format.write_array(writer, array, allow_pickle=False)
        self.manifest[name] = {
            "dtype": array.dtype.str,
            "shape": list(array.shape),
            "sha256": writer.sha256.hexdigest(),
        }
        return name

    def add_file(self, name: str, source: str | os.PathLike[str]) -> str:
        """Copy a file (a model file) into member ``name``, uncompressed, with its checksum."""
        data = Path(source).read_bytes()
        self._archive.writestr(name, data, compress_type=zipfile.ZIP_STORED)
        self.manifest[name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        return name

    def finish(self, document: Mapping[str, Any]) -> None:
        """Write ``project.json`` (the document plus the array manifest) last."""
        full = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **document}
        full["members"] = self.manifest
        self._archive.writestr(DOCUMENT, json.dumps(full, indent=1, allow_nan=False))


class ProjectReader:
    """Read and check the members of a project zip opened by :meth:`open`."""

    def __init__(self, archive: zipfile.ZipFile, path: Path, document: dict[str, Any]) -> None:
        self._archive = archive
        self.path = path
        self.document = document
        members = document.get("members")
        if not isinstance(members, dict):
            raise damaged(path, f"{DOCUMENT} lacks its 'members' table")
        self.members: dict[str, Any] = members

    @classmethod
    @contextlib.contextmanager
    def open(cls, path: str | os.PathLike[str]) -> Iterator[ProjectReader]:
        """Open and validate the container and its document (not yet the arrays)."""
        path = Path(path)
        if not path.exists():
            raise ProjectError(
                f"project file not found: {path}; check the path (cwd: {Path.cwd()})"
            )
        if path.is_dir():
            raise ProjectError(f"{path} is a folder, not a brushlab project file")
        with open(path, "rb") as handle:
            start = handle.read(8)
            handle.seek(0)
            try:
                archive = zipfile.ZipFile(handle)
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
                what = "damaged (truncated?)" if start.startswith(b"PK") else "not a zip container"
                raise ProjectError(
                    f"{path} is not a readable brushlab project: {what} ({exc}). Open an "
                    "intact copy (an autosave or a backup); ilastik projects open with "
                    "brushlab.import_ilastik()"
                ) from exc
            with archive:
                yield cls(archive, path, _read_document(archive, path))

    def array(self, name: str) -> np.ndarray:
        """Read member ``name`` as an array, after checking size, checksum and header."""
        entry = self.members.get(name)
        if not isinstance(entry, dict):
            raise damaged(self.path, f"{DOCUMENT} does not list array {name!r}")
        try:
            dtype, shape = np.dtype(entry["dtype"]), tuple(int(n) for n in entry["shape"])
            digest = str(entry["sha256"])
        except (KeyError, TypeError, ValueError) as exc:
            raise damaged(self.path, f"array {name!r} is described badly ({exc!r})") from exc
        if dtype.kind not in _PLAIN_KINDS or min(shape, default=0) < 0:
            raise damaged(self.path, f"array {name!r} has dtype {dtype} / shape {shape}")
        data = self._member(name, dtype.itemsize * math.prod(shape) + _NPY_HEADER_SLACK)
        if hashlib.sha256(data).hexdigest() != digest:
            raise damaged(self.path, f"array {name!r} does not match its sha256 checksum")
        stream = io.BytesIO(data)
        try:
            version = np.lib.format.read_magic(stream)
            found_shape, _, found_dtype = _READ_HEADER[version](stream)
            if found_dtype != dtype or tuple(found_shape) != shape:
                raise ValueError(f"it holds {found_dtype} {tuple(found_shape)}")
            stream.seek(0)
            return np.load(stream, allow_pickle=False)
        except (KeyError, ValueError, EOFError, OSError) as exc:
            raise damaged(self.path, f"array {name!r} cannot be read ({exc})") from exc

    def file_bytes(self, name: str) -> bytes:
        """Bytes of a copied file member (the classifier), checked against its sha256."""
        entry = self.members.get(name)
        if not isinstance(entry, dict) or "sha256" not in entry:
            raise damaged(self.path, f"{DOCUMENT} does not list member {name!r}")
        data = self._member(name, int(entry.get("bytes", 0)))
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise damaged(self.path, f"member {name!r} does not match its sha256 checksum")
        return data

    def _member(self, name: str, max_bytes: int) -> bytes:
        try:
            info = self._archive.getinfo(name)
        except KeyError:
            raise damaged(self.path, f"member {name!r} is missing") from None
        if info.file_size > max_bytes:
            raise damaged(self.path, f"member {name!r} is larger than {DOCUMENT} says")
        try:
            return self._archive.read(info)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
            raise damaged(self.path, f"member {name!r} cannot be read ({exc})") from exc


def damaged(path: Path, what: str) -> ProjectError:
    """Build the error for a project whose zip reads but whose content is inconsistent."""
    return ProjectError(
        f"{path} is damaged: {what}. Open an intact copy (an autosave or a backup) instead"
    )


def _read_document(archive: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    if DOCUMENT not in archive.namelist():
        other = "a brushlab model file" if "metadata.json" in archive.namelist() else "a zip file"
        hint = "; load it with brushlab.load_classifier()" if "model" in other else ""
        raise ProjectError(f"{path} is {other}, not a brushlab project (no {DOCUMENT}){hint}")
    info = archive.getinfo(DOCUMENT)
    if info.file_size > _MAX_DOCUMENT_BYTES:
        raise damaged(path, f"its {DOCUMENT} is implausibly large")
    try:
        document = json.loads(archive.read(info).decode("utf-8"))
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise damaged(path, f"its {DOCUMENT} cannot be read ({exc})") from exc
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise damaged(path, f"its {DOCUMENT} is not valid JSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        found = document.get("format") if isinstance(document, dict) else None
        raise ProjectError(
            f"{path} is not a brushlab project ({DOCUMENT} has format {found!r}, "
            f"expected {FORMAT_NAME!r})"
        )
    return upgrade(document, path)


def upgrade(document: dict[str, Any], path: Path) -> dict[str, Any]:
    """Bring a document of an older format version to :data:`FORMAT_VERSION`.

    Raises
    ------
    ProjectError
        If the version is not a positive integer, or newer than this brushlab reads.
    """
    version = document.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise damaged(path, f"its format_version is {version!r}")
    if version > FORMAT_VERSION:
        written = document.get("brushlab_version", "a newer version")
        raise ProjectError(
            f"{path} was saved by brushlab {written} in project format {version}; this brushlab "
            f"reads formats 1 to {FORMAT_VERSION}: upgrade brushlab "
            "(pip install -U brushlab) to open it"
        )
    while version < FORMAT_VERSION:
        document = _UPGRADES[version](document)
        version += 1
        document["format_version"] = version
    return document
