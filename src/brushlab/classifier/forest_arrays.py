"""Scikit-learn forests as plain numeric arrays plus JSON metadata, and back, without pickle.

:func:`forest_to_arrays` flattens the trees of a fitted single-output ``RandomForestClassifier``
or ``ExtraTreesClassifier`` into one array per node field; :func:`forest_from_arrays` rebuilds
the forest, checking every node link first because ``predict`` follows them in compiled code.
:mod:`brushlab.classifier.modelfile` stores the result in a model file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import sklearn
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier
from sklearn.tree._tree import NODE_DTYPE, Tree

from brushlab.errors import ModelFileError

__all__ = ["forest_to_arrays", "forest_from_arrays", "check_model_fits"]

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
    # Leaf values are class fractions (counts before scikit-learn 1.4): a NaN or negative
    # one would come out of predict_proba as a NaN or negative probability.
    if not np.isfinite(value).all() or (value < 0).any():
        raise _bad("array 'value' holds NaN, infinite or negative class fractions")
    # Files hold fractions (older scikit-learn's counts are divided on writing): each leaf's
    # sum to 1, or predict_proba gives "probabilities" outside [0, 1].
    leaves = fields["left_child"] == -1
    if not np.allclose(value[leaves].sum(axis=1), 1.0, rtol=0, atol=1e-6):
        raise _bad("the class fractions of a leaf in array 'value' do not sum to 1")
    if np.isnan(fields["threshold"]).any():
        raise _bad("array 'threshold' holds NaN split thresholds")
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
        The arrays from :func:`forest_to_arrays` (or from
        :func:`brushlab.classifier.modelfile.read_model_file`).
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
    # Column j of predict_proba belongs to classes_[j], which scikit-learn keeps sorted and
    # unique: a file that reorders them would hand each class another one's probabilities.
    if classes.dtype.kind not in "biufU" or not np.all(classes[1:] > classes[:-1]):
        raise _bad(
            f"'classes_' {labels!r} are not unique and in increasing order, as scikit-learn "
            "keeps them (probabilities would go to the wrong classes)"
        )
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


def check_model_fits(
    model: Any, *, n_classes: int, n_features: int, where: Any = "the model file"
) -> None:
    """Check a loaded classifier against the metadata it was saved with.

    brushlab trains on class ids 1..K and reads column ``j`` of ``predict_proba`` as class
    ``classes_[j]``; the features come from the saved feature set. Any estimator with
    ``classes_`` and ``n_features_in_`` (a forest, a boosted model) is checked the same way.

    Parameters
    ----------
    model : fitted classifier
        With ``classes_`` and ``n_features_in_``.
    n_classes : int
        Number of class names in the metadata (K).
    n_features : int
        Features the saved feature set computes for the saved channels and dims.
    where : str or path
        The file, for messages.

    Raises
    ------
    ModelFileError
        Naming the field (``classes_`` or ``n_features_in_``) that does not fit.

    Examples
    --------
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> X, y = np.random.default_rng(0).random((20, 3)), np.arange(20) % 2 + 1
    >>> forest = RandomForestClassifier(n_estimators=2).fit(X, y)
    >>> check_model_fits(forest, n_classes=2, n_features=3)
    >>> check_model_fits(forest, n_classes=2, n_features=5)
    Traceback (most recent call last):
    ...
    brushlab.errors.ModelFileError: the model file is damaged: its 'n_features_in_' is 3 ...
    """
    classes = np.asarray(getattr(model, "classes_", []))
    ids = classes.astype(np.float64) if classes.dtype.kind in "biuf" else None
    fits = (
        ids is not None
        and ids.size >= 1
        and np.all(ids == np.round(ids))
        and np.all(ids[1:] > ids[:-1])
        and ids[0] >= 1
        and ids[-1] <= n_classes
    )
    if not fits:
        raise ModelFileError(
            f"{where} is damaged: its 'classes_' {classes.tolist()!r} are not increasing class "
            f"ids within 1..{n_classes} (one per class name), so its probabilities would go to "
            f"the wrong classes; {_RESAVE}"
        )
    found = getattr(model, "n_features_in_", None)
    if found != n_features:
        raise ModelFileError(
            f"{where} is damaged: its 'n_features_in_' is {found} but its feature set computes "
            f"{n_features} features for the saved channels and dims; {_RESAVE}"
        )
