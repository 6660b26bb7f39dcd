"""The project container: one zip of ``project.json`` plus ``.npy`` arrays, checked on read.

Both halves are the shared hashed container of :mod:`brushlab._core.container`: writing
streams each array into its zip member while hashing it (no second copy in memory) and
replaces the destination only once the whole file is on disk; reading opens regular
files only, refuses zip bombs from the central directory, and checks every member
against the dtype, shape and sha256 that ``project.json`` lists while reading it in
chunks. Nothing is unpickled (object dtypes are refused from the header).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from brushlab._core.container import NpyContainerWriter, Policy, SafeZip
from brushlab.errors import ProjectError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "DOCUMENT",
    "POLICY",
    "ProjectWriter",
    "ProjectReader",
    "upgrade",
]

FORMAT_NAME = "brushlab-project"
FORMAT_VERSION = 1
DOCUMENT = "project.json"
CLASSIFIER_MEMBER = "classifier.brushlab"
_MAX_DOCUMENT_BYTES = 64 * 2**20
_MAX_FILE_MEMBER_BYTES = 8 * 2**30  # the embedded model file
_PLAIN_KINDS = "biuf"  # pixels and labels: numbers and booleans only
_FIX = "open an intact copy (an autosave or a backup) instead"
#: How project files are read (embedded images may be large; bombs are refused by ratio).
POLICY = Policy(ProjectError, noun="readable brushlab project", short="project file", fix=_FIX)
# Version N -> N + 1 migrations of project.json, applied in order before parsing.
# Rule: a new version only adds fields or renames them; the step from N to N + 1
# fills what version N lacks, so every older project opens. Newer files are refused.
_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class ProjectWriter:
    """Write arrays and a JSON document into a new project zip at a temporary path.

    Use as a context manager through :meth:`create`: the destination is replaced
    only when the block completes; on any error the old file stays untouched.
    """

    def __init__(self, writer: NpyContainerWriter) -> None:
        self._writer = writer
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
        with NpyContainerWriter.create(target, POLICY, date_time=(1980, 1, 1, 0, 0, 0)) as w:
            yield cls(w)

    def add_array(self, name: str, array: np.ndarray, *, compress: bool = True) -> str:
        """Stream ``array`` into member ``name`` (``.npy``) and record its checksum."""
        array = np.ascontiguousarray(array)
        if array.dtype.kind not in _PLAIN_KINDS:
            raise ProjectError(
                f"cannot save array {name!r} of dtype {array.dtype}: projects hold numbers only"
            )
        self.manifest[name] = self._writer.add_array(name, array, compress=compress)
        return name

    def add_file(self, name: str, source: str | os.PathLike[str]) -> str:
        """Copy a file (a model file) into member ``name``, uncompressed, with its checksum."""
        self.manifest[name] = self._writer.add_file(name, source)
        return name

    def finish(self, document: Mapping[str, Any]) -> None:
        """Write ``project.json`` (the document plus the array manifest) last."""
        full = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **document}
        full["members"] = self.manifest
        self._writer.add_json(DOCUMENT, full)


class ProjectReader:
    """Read and check the members of a project zip opened by :meth:`open`."""

    def __init__(self, archive: SafeZip, document: dict[str, Any]) -> None:
        self._archive = archive
        self.path = archive.path
        self.document = document
        members = document.get("members")
        if not isinstance(members, dict):
            raise damaged(self.path, f"{DOCUMENT} lacks its 'members' table")
        self.members: dict[str, Any] = members

    @classmethod
    @contextlib.contextmanager
    def open(cls, path: str | os.PathLike[str]) -> Iterator[ProjectReader]:
        """Open and validate the container and its document (not yet the arrays)."""
        with SafeZip.open(path, POLICY) as archive:
            yield cls(archive, _read_document(archive))

    def array(self, name: str) -> np.ndarray:
        """Read member ``name`` as an array, checking size, header and checksum as it reads."""
        entry = self.members.get(name)
        if not isinstance(entry, dict):
            raise damaged(self.path, f"{DOCUMENT} does not list array {name!r}")
        return self._archive.read_array(name, entry, kinds=_PLAIN_KINDS, document=DOCUMENT)

    def file_bytes(self, name: str) -> bytes:
        """Bytes of a copied file member (the classifier), checked against its sha256."""
        entry = self.members.get(name)
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise damaged(self.path, f"{DOCUMENT} does not list member {name!r}")
        try:
            size = int(entry.get("bytes", 0))
        except (TypeError, ValueError):
            raise damaged(self.path, f"member {name!r} is described badly") from None
        if self._archive.size(name) != size or size > _MAX_FILE_MEMBER_BYTES:
            raise damaged(self.path, f"member {name!r} is not the size {DOCUMENT} says")
        return self._archive.read(name, max_bytes=size, sha256=entry["sha256"])


def damaged(path: Path, what: str) -> ProjectError:
    """Build the error for a project whose zip reads but whose content is inconsistent."""
    return ProjectError(
        f"{path} is damaged: {what}. Open an intact copy (an autosave or a backup) instead"
    )


def _read_document(archive: SafeZip) -> dict[str, Any]:
    path = archive.path
    if DOCUMENT not in archive:
        other = "a brushlab model file" if "metadata.json" in archive else "a zip file"
        hint = "; load it with brushlab.load_classifier()" if "model" in other else ""
        raise ProjectError(f"{path} is {other}, not a brushlab project (no {DOCUMENT}){hint}")
    if archive.size(DOCUMENT) > _MAX_DOCUMENT_BYTES:
        raise damaged(path, f"its {DOCUMENT} is implausibly large")
    document = archive.read_json(DOCUMENT, max_bytes=_MAX_DOCUMENT_BYTES)
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
