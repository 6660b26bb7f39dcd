"""Classifier model files: forests stored as plain arrays plus JSON, never as pickles.

A model file is one zip container holding ``metadata.json``::

    {"format": "brushlab-classifier", "format_version": 2,
     "arrays": {name: {"dtype": ..., "shape": [...], "sha256": ...}, ...},
     "metadata": {...the caller's JSON metadata...}}

and one ``<name>.npy`` member per array, written with ``np.save(allow_pickle=False)``;
``sha256`` is the checksum of that member's bytes. Reading never unpickles: an object dtype
is refused before any array data is parsed, and ``np.load`` always gets ``allow_pickle=False``.

The forest <-> arrays conversion lives in :mod:`brushlab.classifier.forest_arrays`; its two
are re-exported here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from brushlab._core.container import NpyContainerWriter, Policy, SafeZip, ZipLimits
from brushlab.classifier.forest_arrays import _RESAVE, forest_from_arrays, forest_to_arrays
from brushlab.errors import ModelFileError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "POLICY",
    "forest_to_arrays",
    "forest_from_arrays",
    "write_model_file",
    "read_model_file",
    "read_model_metadata",
]

FORMAT_NAME = "brushlab-classifier"
FORMAT_VERSION = 2  # 2: boosted trees (metadata "boosted_trees"); 1: forests only

_METADATA = "metadata.json"
_ARRAY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")  # becomes a zip member name
_ARRAY_KINDS = "biufcSU"  # plain data: no Python objects, no structured records
_MAX_METADATA_BYTES = 64 * 2**20
#: How model files are read: a forest of 1000 deep trees is a few GiB at most.
POLICY = Policy(
    ModelFileError,
    noun="brushlab model file",
    short="model file",
    fix=_RESAVE,
    limits=ZipLimits(max_members=10_000, max_member_bytes=4 * 2**30, max_total_bytes=8 * 2**30),
)


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

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "tiny.brushlab"
    >>> _ = write_model_file(path, {"w": np.arange(3.0)}, {"note": "demo"})
    >>> arrays, meta = read_model_file(path)
    >>> arrays["w"].tolist(), meta
    ([0.0, 1.0, 2.0], {'note': 'demo'})
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
    with NpyContainerWriter.create(path, POLICY) as writer:
        manifest = {name: writer.add_array(f"{name}.npy", a) for name, a in checked.items()}
        document = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION}
        document.update(arrays=manifest, metadata=dict(metadata))
        writer.add_json(_METADATA, document)
    return path


def _document(archive: SafeZip) -> dict[str, Any]:
    path, names = archive.path, archive.names()
    if _METADATA not in archive:
        npz = bool(names) and all(name.endswith(".npy") for name in names)
        raise ModelFileError(
            f"{path} is {'a NumPy .npz archive' if npz else 'a zip file'} that is not a brushlab "
            f"classifier (it has no {_METADATA}); open a model file saved by brushlab"
        )
    if archive.size(_METADATA) > _MAX_METADATA_BYTES:
        raise POLICY.damaged(path, f"its {_METADATA} is implausibly large")
    document = archive.read_json(_METADATA, max_bytes=_MAX_METADATA_BYTES)
    found = document.get("format") if isinstance(document, dict) else None
    if found != FORMAT_NAME:
        raise ModelFileError(
            f"{path} is {f'a {found!r} file' if isinstance(found, str) else 'a zip file'}, not a "
            f"brushlab classifier ({_METADATA} has format {found!r}, expected {FORMAT_NAME!r}); "
            "open a model file saved by brushlab"
        )
    version = document.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise POLICY.damaged(path, f"its format_version is {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer brushlab (format {version}); this brushlab reads "
            f"format {FORMAT_VERSION} and older: upgrade brushlab to read it"
        )
    manifest, metadata = document.get("arrays"), document.get("metadata", {})
    if not isinstance(manifest, dict) or not isinstance(metadata, dict):
        raise POLICY.damaged(path, f"its {_METADATA} lacks the 'arrays' or 'metadata' mapping")
    return document


def _read_array(archive: SafeZip, name: Any, entry: Any) -> np.ndarray:
    if not isinstance(name, str) or not _ARRAY_NAME.match(name):
        raise POLICY.damaged(archive.path, f"{_METADATA} lists an invalid array {name!r}")
    if f"{name}.npy" not in archive:
        raise POLICY.damaged(
            archive.path, f"array {name!r} listed in {_METADATA} is missing ({name}.npy)"
        )
    return archive.read_array(
        f"{name}.npy", entry, kinds=_ARRAY_KINDS, label=name, document=_METADATA
    )


def read_model_file(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and validate a model file written by :func:`write_model_file`.

    Parameters
    ----------
    path : str or path-like
        The model file (a regular file: pipes and devices are refused).

    Returns
    -------
    arrays : dict of str to ndarray
        The arrays, each checked against its dtype, shape and sha256 in ``metadata.json``.
    metadata : dict
        The caller's metadata as written.

    Raises
    ------
    ModelFileError
        If the file is missing, not a regular file, not a zip container, damaged, a zip
        bomb, foreign, from a newer brushlab, or holds an array that would need pickle
        (such arrays are never unpickled).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "m.brushlab"
    >>> _ = write_model_file(path, {"a": np.ones(2, np.uint8)}, {})
    >>> read_model_file(path)[0]["a"].tolist()
    [1, 1]
    """
    with SafeZip.open(path, POLICY) as archive:
        document = _document(archive)
        arrays = {
            name: _read_array(archive, name, entry) for name, entry in document["arrays"].items()
        }
        return arrays, document.get("metadata", {})


def read_model_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a model file's metadata only, without reading its arrays.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "m.brushlab"
    >>> _ = write_model_file(path, {"a": np.ones(2)}, {"kind": "demo"})
    >>> read_model_metadata(path)
    {'kind': 'demo'}
    """
    with SafeZip.open(path, POLICY) as archive:
        return dict(_document(archive).get("metadata", {}))
