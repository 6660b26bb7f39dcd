"""Classifier model files: forests stored as plain arrays plus JSON, never as pickles.

A model file is one zip container holding ``metadata.json``::

    {"format": "brushlab-classifier", "format_version": 2,
     "arrays": {name: {"dtype": ..., "shape": [...], "sha256": ...}, ...},
     "metadata": {...the caller's JSON metadata...}}

and one ``<name>.npy`` member per array, written with ``np.save(allow_pickle=False)``;
``sha256`` is the checksum of that member's bytes. Reading never unpickles: an object dtype
is refused before any array data is parsed, and ``np.load`` always gets ``allow_pickle=False``.

The forest <-> arrays conversion lives in :mod:`brushlab.forest_arrays`; its two functions
are re-exported here. Boosted trees are stored as arrays too (:mod:`brushlab.boosted_arrays`).
Format 2 adds them; a format-1 file (forests only) reads as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from brushlab.errors import ModelFileError

from .forest_arrays import _RESAVE, forest_from_arrays, forest_to_arrays

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "forest_to_arrays",
    "forest_from_arrays",
    "write_model_file",
    "read_model_file",
]

FORMAT_NAME = "brushlab-classifier"
FORMAT_VERSION = 2  # 2: boosted trees (metadata "boosted_trees"); 1: forests only

_METADATA = "metadata.json"
_ARRAY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")  # becomes a zip member name
_ARRAY_KINDS = "biufcSU"  # plain data: no Python objects, no structured records
_MAX_METADATA_BYTES = 64 * 2**20
_NPY_HEADER_SLACK = 2**16  # a .npy member is its raw data plus a header smaller than this
_NPY_HEADERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}
_MAGIC = {  # what a file that is not a zip container seems to be
    b"\x80": "a Python pickle (pickle/joblib files can run code when loaded: never load them)",
    b"\x93NUMPY": "a single NumPy .npy array",
    b"\x89HDF": "an HDF5 file",
    b"II*\x00": "a TIFF image",
    b"MM\x00*": "a TIFF image",
    b"\x89PNG": "a PNG image",
}


def write_model_file(
    path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any]
) -> Path:
    """Write arrays and JSON metadata to a model file, atomically.

    Parameters
    ----------
    path : str or path-like
        Destination. It is replaced only once the new file is complete: on any error an
        existing file there is left untouched and no temporary file remains.
    arrays : mapping of str to ndarray
        Plain numeric or string arrays, named with letters, digits, ``_``, ``.`` and ``-``.
    metadata : mapping
        JSON-serializable metadata, stored under ``"metadata"`` in ``metadata.json``.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    ModelFileError
        If an array holds Python objects, a name is unusable, the metadata is not JSON or
        the destination folder does not exist.
    """
    path = Path(path)
    checked = {}
    for name, array in arrays.items():
        if not isinstance(name, str) or not _ARRAY_NAME.match(name):
            raise ModelFileError(
                f"cannot save an array named {name!r}: use 1 to 128 letters, digits, '_', '.' "
                "or '-', not starting with '.' or '-'"
            )
        array = np.asarray(array)
        if array.dtype.hasobject or array.dtype.kind not in _ARRAY_KINDS:
            raise ModelFileError(
                f"cannot save array {name!r} of dtype {array.dtype}: model files hold plain "
                "numeric or string arrays only, never Python objects (they would need pickle); "
                "convert it, e.g. with np.asarray(x, dtype=float), or put it in the metadata"
            )
        checked[name] = array
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(
            f"cannot save the metadata: it is not plain JSON ({exc}); use dicts with str keys, "
            "lists, str, int, finite float, bool and None"
        ) from exc
    if not path.parent.is_dir():
        raise ModelFileError(f"cannot write {path}: folder {path.parent} does not exist; create it")
    mode = path.stat().st_mode & 0o777 if path.is_file() else 0o644
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            # Level 1: a third of level 6's time for a 100-tree forest, 20% larger.
            with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
                manifest = {}
                for name, array in checked.items():
                    buffer = io.BytesIO()
                    np.save(buffer, array, allow_pickle=False)
                    archive.writestr(f"{name}.npy", buffer.getvalue())
                    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
                    shape = list(array.shape)
                    manifest[name] = {"dtype": array.dtype.str, "shape": shape, "sha256": digest}
                document = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION}
                document.update(arrays=manifest, metadata=dict(metadata))
                archive.writestr(_METADATA, json.dumps(document, indent=1, allow_nan=False))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)  # mkstemp creates it readable by its owner only
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return path


def _damaged(path: Path, what: str) -> ModelFileError:
    return ModelFileError(f"{path} is damaged: {what}; {_RESAVE}")


def _read_array(archive: zipfile.ZipFile, path: Path, name: Any, entry: Any) -> np.ndarray:
    try:
        dtype, shape = np.dtype(entry["dtype"]), tuple(int(n) for n in entry["shape"])
        digest = str(entry["sha256"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _damaged(path, f"{_METADATA} describes array {name!r} badly ({exc!r})") from exc
    if not isinstance(name, str) or not _ARRAY_NAME.match(name) or min(shape, default=0) < 0:
        raise _damaged(path, f"{_METADATA} lists an invalid array {name!r} of shape {shape}")
    refused = ModelFileError(
        f"{path}: array {name!r} is stored as Python objects, which only unpickling can load, "
        "and unpickling can run arbitrary code, so brushlab refuses it. The file was not written "
        f"by brushlab or was tampered with: do not use it; {_RESAVE}"
    )
    if dtype.hasobject:
        raise refused
    if f"{name}.npy" not in archive.namelist():
        raise _damaged(path, f"array {name!r} listed in {_METADATA} is missing ({name}.npy)")
    info = archive.getinfo(f"{name}.npy")
    nbytes = dtype.itemsize * math.prod(shape)
    if info.file_size > nbytes + _NPY_HEADER_SLACK:
        raise _damaged(path, f"array {name!r} is {info.file_size} bytes, too many for its shape")
    data = archive.read(info)
    if hashlib.sha256(data).hexdigest() != digest:
        raise _damaged(path, f"array {name!r} does not match its sha256 checksum in {_METADATA}")
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version not in _NPY_HEADERS:
            raise ValueError(f".npy format version {version} is not one brushlab writes")
        header_shape, _, header_dtype = _NPY_HEADERS[version](stream)
    except (ValueError, EOFError) as exc:
        raise _damaged(path, f"array {name!r} is not a readable .npy array ({exc})") from exc
    if header_dtype.hasobject:
        raise refused
    if header_dtype != dtype or tuple(header_shape) != shape or len(data) < nbytes:
        found = f"{header_dtype} {tuple(header_shape)}"
        raise _damaged(path, f"array {name!r} holds {found}, {_METADATA} says {dtype} {shape}")
    stream.seek(0)
    try:
        return np.load(stream, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        raise _damaged(path, f"array {name!r} cannot be read ({exc})") from exc


def _read_container(archive: zipfile.ZipFile, path: Path) -> tuple[dict[str, np.ndarray], dict]:
    names = archive.namelist()
    if _METADATA not in names:
        npz = bool(names) and all(name.endswith(".npy") for name in names)
        raise ModelFileError(
            f"{path} is {'a NumPy .npz archive' if npz else 'a zip file'} that is not a brushlab "
            f"classifier (it has no {_METADATA}); open a model file saved by brushlab"
        )
    if archive.getinfo(_METADATA).file_size > _MAX_METADATA_BYTES:
        raise _damaged(path, f"its {_METADATA} is implausibly large")
    try:
        document = json.loads(archive.read(_METADATA).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _damaged(path, f"its {_METADATA} is not valid JSON ({exc})") from exc
    found = document.get("format") if isinstance(document, dict) else None
    if found != FORMAT_NAME:
        raise ModelFileError(
            f"{path} is {f'a {found!r} file' if isinstance(found, str) else 'a zip file'}, not a "
            f"brushlab classifier ({_METADATA} has format {found!r}, expected {FORMAT_NAME!r}); "
            "open a model file saved by brushlab"
        )
    version = document.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _damaged(path, f"its format_version is {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer brushlab (format {version}); this brushlab reads "
            f"format {FORMAT_VERSION} and older: upgrade brushlab to read it"
        )
    manifest, metadata = document.get("arrays"), document.get("metadata", {})
    if not isinstance(manifest, dict) or not isinstance(metadata, dict):
        raise _damaged(path, f"its {_METADATA} lacks the 'arrays' or 'metadata' mapping")
    arrays = {name: _read_array(archive, path, name, entry) for name, entry in manifest.items()}
    return arrays, metadata


def read_model_file(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and validate a model file written by :func:`write_model_file`.

    Parameters
    ----------
    path : str or path-like
        The model file.

    Returns
    -------
    arrays : dict of str to ndarray
        The arrays, each checked against its dtype, shape and sha256 in ``metadata.json``.
    metadata : dict
        The caller's metadata as written.

    Raises
    ------
    ModelFileError
        If the file is missing, not a zip container, damaged, foreign, from a newer brushlab,
        or holds an array that would need pickle (such arrays are never unpickled).
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file not found: {path}; check the path (cwd: {Path.cwd()})")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file; pass the file inside it")
    start = b""
    try:
        with open(path, "rb") as handle:
            start = handle.read(8)
            handle.seek(0)
            with zipfile.ZipFile(handle) as archive:
                return _read_container(archive, path)
    except PermissionError as exc:
        raise ModelFileError(
            f"cannot read {path}: permission denied; check its permissions"
        ) from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as exc:
        if start.startswith(b"PK"):
            raise ModelFileError(
                f"{path} is damaged or not a brushlab model file: its zip container cannot be "
                f"read ({exc}); the file may be truncated or corrupted: {_RESAVE}"
            ) from exc
        seems = next((f"; it looks like {w}" for m, w in _MAGIC.items() if start.startswith(m)), "")
        raise ModelFileError(
            f"{path} is damaged or not a brushlab model file (not a zip container{seems}); "
            f"open a model file saved by brushlab, or {_RESAVE}"
        ) from exc
