"""Classifier model files: forests stored as plain arrays plus JSON, never as pickles.

A model file is one zip container holding ``metadata.json``::

    {"format": "brushlab-classifier", "format_version": 1,
     "arrays": {name: {"dtype": ..., "shape": [...], "sha256": ...}, ...},
     "metadata": {...the caller's JSON metadata...}}

and one ``<name>.npy`` member per array, written with ``np.save(allow_pickle=False)``;
``sha256`` is the checksum of that member's bytes. Reading never unpickles: an object dtype
is refused before any array data is parsed, and ``np.load`` always gets ``allow_pickle=False``.
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
import sklearn
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier
from sklearn.tree._tree import NODE_DTYPE, Tree

from brushlab.errors import ModelFileError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "forest_to_arrays",
    "forest_from_arrays",
    "write_model_file",
    "read_model_file",
]

FORMAT_NAME = "brushlab-classifier"
FORMAT_VERSION = 1

_METADATA = "metadata.json"
_ARRAY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")  # becomes a zip member name
_ARRAY_KINDS = "biufcSU"  # plain data: no Python objects, no structured records
_MAX_METADATA_BYTES = 64 * 2**20
_NPY_HEADER_SLACK = 2**16  # a .npy member is its raw data plus a header smaller than this
_NPY_HEADERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}
_FORESTS: dict[str, tuple[type, type]] = {
    "RandomForestClassifier": (RandomForestClassifier, DecisionTreeClassifier),
    "ExtraTreesClassifier": (ExtraTreesClassifier, ExtraTreeClassifier),
}
_SAVEABLE = (
    "only a fitted single-output scikit-learn RandomForestClassifier or ExtraTreesClassifier "
    "can be saved to a brushlab model file"
)
_RESAVE = "re-save the classifier with brushlab"
# File arrays carry the names of sklearn's Tree properties; NODE_DTYPE names two differently.
_ARRAY_OF_FIELD = {"left_child": "children_left", "right_child": "children_right"}
# Node fields a file may lack (a scikit-learn without them wrote it), with the value that
# reproduces that scikit-learn's predictions: a NaN went to the right child.
_FIELD_DEFAULTS = {"missing_go_to_left": 0}
_SESSION_PARAMS = ("n_jobs", "verbose", "warm_start")  # settings of a session, not the model
_MAGIC = {  # what a file that is not a zip container seems to be
    b"\x80": "a Python pickle (pickle/joblib files can run code when loaded: never load them)",
    b"\x93NUMPY": "a single NumPy .npy array",
    b"\x89HDF": "an HDF5 file",
    b"II*\x00": "a TIFF image",
    b"MM\x00*": "a TIFF image",
    b"\x89PNG": "a PNG image",
}


def _plain(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.generic | np.ndarray) else value


def _encode_params(forest: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in forest.get_params(deep=False).items():
        if name == "random_state" and not isinstance(value, int | np.integer):
            value = None  # a RandomState object is training state, not part of the model
        elif name == "oob_score":
            value = bool(value)  # a scorer callable is code, not data
        elif name == "class_weight" and isinstance(value, Mapping | list):
            weights = value[0] if isinstance(value, list) else value  # single output: one dict
            value = [[_plain(label), float(w)] for label, w in weights.items()]
        value = _plain(value)
        if name not in _SESSION_PARAMS and isinstance(value, str | int | float | list | None):
            out[name] = value
    out["n_estimators"] = len(forest.estimators_)
    return out


def forest_to_arrays(forest: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Convert a fitted random forest into plain numeric arrays and JSON metadata.

    Parameters
    ----------
    forest : RandomForestClassifier or ExtraTreesClassifier
        A fitted, single-output scikit-learn forest classifier.

    Returns
    -------
    arrays : dict of str to ndarray
        The node fields of all trees concatenated (``children_left``, ``children_right``,
        ``feature``, ``threshold``, ``impurity``, ``n_node_samples``,
        ``weighted_n_node_samples``, ``missing_go_to_left``), ``value`` of shape
        (total nodes, n_classes) and ``node_offsets``: tree ``t`` owns the nodes
        ``node_offsets[t]:node_offsets[t + 1]``; child indices are local to their tree.
    meta : dict
        JSON-able: estimator kind, classes, sizes, depth per tree, constructor parameters.

    Raises
    ------
    ModelFileError
        If ``forest`` is not a fitted single-output forest classifier.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> X, y = np.random.default_rng(0).random((40, 3)), np.arange(40) % 2
    >>> forest = RandomForestClassifier(n_estimators=4).fit(X, y)
    >>> arrays, meta = forest_to_arrays(forest)
    >>> meta["estimator"], arrays["node_offsets"].shape
    ('RandomForestClassifier', (5,))
    """
    kind = next((k for k, (cls, _) in _FORESTS.items() if isinstance(forest, cls)), None)
    if kind is None:
        raise ModelFileError(f"cannot save a {type(forest).__name__}: {_SAVEABLE}")
    if not getattr(forest, "estimators_", None):
        raise ModelFileError(f"cannot save an unfitted {kind}: call fit() first; {_SAVEABLE}")
    if forest.n_outputs_ != 1:
        raise ModelFileError(f"cannot save a multi-output {kind}: {_SAVEABLE}")
    classes = np.asarray(forest.classes_)
    if classes.dtype.kind not in "biufU" and not all(isinstance(c, str) for c in classes):
        raise ModelFileError(f"cannot save class labels of dtype {classes.dtype}: use numbers/str")
    states = [estimator.tree_.__getstate__() for estimator in forest.estimators_]
    n_classes = int(forest.n_classes_)
    offsets = np.zeros(len(states) + 1, dtype=np.int64)
    np.cumsum([state["node_count"] for state in states], out=offsets[1:])
    arrays = {"node_offsets": offsets}
    for field in states[0]["nodes"].dtype.names:
        column = np.concatenate([state["nodes"][field] for state in states])
        arrays[_ARRAY_OF_FIELD.get(field, field)] = column
    values = [state["values"].reshape(-1, n_classes) for state in states]
    arrays["value"] = np.concatenate(values).astype(np.float64)
    if [int(n) for n in re.findall(r"\d+", sklearn.__version__)[:2]] < [1, 4]:
        value = arrays["value"]  # before 1.4, trees held class counts; since, fractions
        arrays["value"] = value / np.maximum(value.sum(axis=1, keepdims=True), 1e-300)
    meta: dict[str, Any] = {
        "estimator": kind,
        "sklearn_version": sklearn.__version__,
        "n_features_in_": int(forest.n_features_in_),
        "n_classes_": n_classes,
        "classes_": classes.tolist(),
        "classes_dtype": classes.dtype.str,
        "n_outputs_": 1,
        "max_features_": int(forest.estimators_[0].max_features_),
        "tree_max_depth": [int(state["max_depth"]) for state in states],
        "params": _encode_params(forest),
    }
    if hasattr(forest, "feature_names_in_"):
        meta["feature_names_in_"] = [str(name) for name in forest.feature_names_in_]
    return arrays, meta


def _bad(what: str) -> ModelFileError:
    return ModelFileError(f"the classifier in this model file is damaged: {what}; {_RESAVE}")


def _entry(meta: Mapping[str, Any], key: str, kind: type) -> Any:
    value = meta.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _bad(f"metadata entry {key!r} is {value!r}")
    return value


def _array(arrays: Mapping[str, np.ndarray], name: str, kinds: str, shape: tuple | None) -> Any:
    if name not in arrays:
        raise _bad(f"it has no {name!r} array")
    array = np.asarray(arrays[name])
    if array.dtype.kind not in kinds or array.shape != (shape or array.shape[:1]):
        raise _bad(f"array {name!r} has dtype {array.dtype} and shape {array.shape}")
    return array


def _node_fields(
    arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], n_features: int, n_classes: int
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Return offsets, NODE_DTYPE fields and values, checked so that predict stays in bounds."""
    offsets = _array(arrays, "node_offsets", "iu", None).astype(np.int64)
    sizes = np.diff(offsets)
    if offsets.size < 2 or offsets[0] != 0 or np.any(sizes < 1):
        raise _bad("'node_offsets' does not split the nodes into non-empty trees")
    total = int(offsets[-1])
    fields = {}
    for field in NODE_DTYPE.names:
        name = _ARRAY_OF_FIELD.get(field, field)
        kinds = "f" if NODE_DTYPE[field].kind == "f" else "iu"
        if name in arrays:
            fields[field] = _array(arrays, name, kinds, (total,))
        elif field in _FIELD_DEFAULTS:
            fields[field] = np.full(total, _FIELD_DEFAULTS[field], dtype=NODE_DTYPE[field])
        else:
            raise ModelFileError(
                f"the installed scikit-learn {sklearn.__version__} needs the tree node field "
                f"{field!r}, which this model file (written with scikit-learn "
                f"{meta.get('sklearn_version')}) lacks; install that scikit-learn version to "
                f"load it, or {_RESAVE} and this scikit-learn"
            )
    value = _array(arrays, "value", "f", (total, n_classes))
    # Each split must point forward inside its own tree and name a real feature: predict
    # follows these indices in compiled code, where a bad one reads outside the node array.
    tree_of = np.repeat(np.arange(sizes.size), sizes)
    local, size = np.arange(total) - offsets[tree_of], sizes[tree_of]
    left, right, feature = fields["left_child"], fields["right_child"], fields["feature"]
    inside = (left > local) & (left < size) & (right > local) & (right < size)
    valid = np.where(left != -1, inside & (feature >= 0) & (feature < n_features), right == -1)
    if not valid.all():
        raise _bad(f"tree node {int(np.argmin(valid))} links to a missing node or feature")
    return offsets, fields, value


def forest_from_arrays(
    arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]
) -> RandomForestClassifier | ExtraTreesClassifier:
    """Rebuild a fitted forest from :func:`forest_to_arrays` output, without pickle.

    Parameters
    ----------
    arrays : mapping of str to ndarray
        The arrays from :func:`forest_to_arrays` (or from :func:`read_model_file`).
    meta : mapping
        The metadata from :func:`forest_to_arrays`.

    Returns
    -------
    RandomForestClassifier or ExtraTreesClassifier
        A fitted forest whose ``predict_proba`` equals the saved one's bit for bit. Training
        state (out-of-bag scores, per-tree random states, n_jobs) is not restored.

    Raises
    ------
    ModelFileError
        If the arrays or metadata are incomplete, inconsistent or of an unknown kind.
    """
    kind = meta.get("estimator")
    if kind not in _FORESTS:
        raise ModelFileError(
            f"the model file holds a {kind!r} classifier, which this brushlab cannot load (it "
            f"loads {' and '.join(_FORESTS)}); upgrade brushlab if a newer one wrote the file"
        )
    forest_cls, tree_cls = _FORESTS[kind]
    if _entry(meta, "n_outputs_", int) != 1:
        raise _bad("it claims several outputs, which brushlab never saves")
    n_features, n_classes = _entry(meta, "n_features_in_", int), _entry(meta, "n_classes_", int)
    labels = _entry(meta, "classes_", list)
    try:
        classes = np.asarray(labels, dtype=np.dtype(_entry(meta, "classes_dtype", str)))
    except (TypeError, ValueError) as exc:
        raise _bad(f"its class labels cannot be read ({exc})") from exc
    plain = all(isinstance(label, str | int | float) for label in labels)
    if n_features < 1 or n_classes < 1 or classes.shape != (n_classes,) or not plain:
        raise _bad(f"{n_features} features, {n_classes} classes, labels {labels!r}")
    offsets, fields, value = _node_fields(arrays, meta, n_features, n_classes)
    depths, max_features = _entry(meta, "tree_max_depth", list), _entry(meta, "max_features_", int)
    if len(depths) != offsets.size - 1 or not all(isinstance(d, int) and d >= 0 for d in depths):
        raise _bad("'tree_max_depth' does not hold one depth per tree")
    params = dict(_entry(meta, "params", dict))
    if isinstance(params.get("class_weight"), list):
        try:
            params["class_weight"] = {label: weight for label, weight in params["class_weight"]}
        except (TypeError, ValueError) as exc:
            raise _bad("its class_weight is not a list of [label, weight] pairs") from exc
    known = forest_cls().get_params(deep=False)
    forest = forest_cls(**{name: v for name, v in params.items() if name in known})
    forest.n_estimators = len(depths)
    tree_params = {name: getattr(forest, name) for name in forest.estimator_params}
    forest.estimator_ = tree_cls(**tree_params)
    forest.estimators_ = []
    for t, depth in enumerate(depths):
        start, stop = int(offsets[t]), int(offsets[t + 1])
        nodes = np.zeros(stop - start, dtype=NODE_DTYPE)
        for field, column in fields.items():
            nodes[field] = column[start:stop]
        values = np.ascontiguousarray(value[start:stop], dtype=np.float64)
        tree = Tree(n_features, np.array([n_classes], dtype=np.intp), 1)
        state = {"max_depth": depth, "node_count": stop - start, "nodes": nodes}
        tree.__setstate__({**state, "values": values.reshape(stop - start, 1, n_classes)})
        estimator = tree_cls(**tree_params)
        estimator.tree_, estimator.max_features_ = tree, max_features
        estimator.n_features_in_, estimator.n_outputs_ = n_features, 1
        # A forest trains its trees on class indices 0..K-1, then maps them to classes_.
        estimator.classes_ = np.arange(n_classes, dtype=np.float64)
        estimator.n_classes_ = np.int64(n_classes)
        forest.estimators_.append(estimator)
    forest.classes_, forest.n_classes_, forest.n_outputs_ = classes, n_classes, 1
    forest.n_features_in_ = n_features
    if isinstance(meta.get("feature_names_in_"), list):
        forest.feature_names_in_ = np.asarray(meta["feature_names_in_"], dtype=object)
    return forest


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
