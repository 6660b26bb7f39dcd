"""Boosted trees as plain numeric arrays: from a LightGBM dump, validated, and back to a booster.

:func:`booster_to_arrays` reads ``Booster.dump_model()`` once, at fit time, and flattens
its trees into one array per node field, in LightGBM's own layout: tree ``t`` owns the
internal (split) nodes ``split_offsets[t]:split_offsets[t + 1]`` and the leaves
``leaf_offsets[t]:leaf_offsets[t + 1]``; a child index ``c >= 0`` is a split node of the
same tree, ``c < 0`` is leaf ``~c`` (``-c - 1``). The raw score of output column ``j`` is
``base_score[j]`` plus the leaf values of the trees ``t`` with ``t % n_outputs == j``;
shrinkage (the learning rate) is already in the leaf values.

:func:`check_boosted_arrays` validates such arrays before anything reads them (a model
file is data from outside): every child index inside its tree and pointing forward (so a
traversal ends), every leaf reached exactly once, feature ids below the feature count,
finite thresholds, leaf values and gains. :func:`booster_from_arrays` then writes LightGBM's
model text *from the validated numbers* and loads it: prediction never parses a text
blob from a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from brushlab.errors import ModelFileError

__all__ = ["booster_to_arrays", "check_boosted_arrays", "booster_from_arrays", "ARRAY_NAMES"]

_RESAVE = "re-save the classifier with brushlab"
#: Node arrays of a boosted model, with the dtype each is stored as.
ARRAY_NAMES = {
    "split_offsets": np.int64,
    "leaf_offsets": np.int64,
    "split_feature": np.int32,
    "threshold": np.float64,
    "default_left": np.uint8,
    "left_child": np.int32,
    "right_child": np.int32,
    "split_gain": np.float64,
    "leaf_value": np.float64,
    "base_score": np.float64,
}


def _bad(what: str) -> ModelFileError:
    return ModelFileError(f"the boosted trees in this model file are damaged: {what}; {_RESAVE}")


def booster_to_arrays(booster: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Flatten a trained LightGBM booster's trees into plain arrays and JSON metadata.

    Parameters
    ----------
    booster : lightgbm.Booster
        Trained with numerical splits only and ``use_missing=False`` (brushlab's setting).

    Returns
    -------
    arrays : dict of str to ndarray
        See the module docstring (:data:`ARRAY_NAMES`).
    meta : dict
        ``n_features``, ``n_outputs`` (trees per iteration), ``n_trees``.

    Raises
    ------
    ValueError
        If the booster holds splits brushlab does not store (categorical, linear trees,
        missing-value branches).

    Examples
    --------
    >>> import lightgbm as lgb, numpy as np
    >>> x = np.random.default_rng(0).random((200, 3)); y = (x[:, 0] > 0.5).astype(int)
    >>> params = {"objective": "binary", "num_leaves": 4, "verbose": -1, "use_missing": False}
    >>> booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=3)
    >>> arrays, meta = booster_to_arrays(booster)
    >>> meta["n_trees"], arrays["leaf_offsets"].shape
    (3, (4,))
    """
    dump = booster.dump_model()
    n_outputs = int(dump["num_tree_per_iteration"])
    n_features = int(dump["max_feature_idx"]) + 1
    splits: dict[str, list[Any]] = {k: [] for k in ("f", "t", "d", "l", "r", "g")}
    leaves: list[float] = []
    split_offsets, leaf_offsets = [0], [0]
    for info in dump["tree_info"]:
        if int(info.get("num_cat", 0)) or info.get("is_linear"):
            raise ValueError("categorical or linear trees cannot be stored")
        n_leaves = int(info["num_leaves"])
        n_splits = n_leaves - 1
        tree: dict[str, list[Any]] = {k: [0] * n_splits for k in splits}
        values = [0.0] * n_leaves

        def child(node: dict[str, Any]) -> int:
            return int(node["split_index"]) if "split_index" in node else ~int(node["leaf_index"])

        stack = [info["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_index" not in node:
                values[int(node.get("leaf_index", 0))] = float(node["leaf_value"])
                continue
            if node["decision_type"] != "<=" or node["missing_type"] != "None":
                raise ValueError(f"split {node['decision_type']} / {node['missing_type']}")
            i = int(node["split_index"])
            tree["f"][i], tree["t"][i] = int(node["split_feature"]), float(node["threshold"])
            tree["d"][i], tree["g"][i] = int(bool(node["default_left"])), float(node["split_gain"])
            tree["l"][i], tree["r"][i] = child(node["left_child"]), child(node["right_child"])
            stack += [node["left_child"], node["right_child"]]
        for k in splits:
            splits[k] += tree[k]
        leaves += values
        split_offsets.append(split_offsets[-1] + n_splits)
        leaf_offsets.append(leaf_offsets[-1] + n_leaves)
    arrays: dict[str, np.ndarray] = {
        "split_offsets": np.asarray(split_offsets, np.int64),
        "leaf_offsets": np.asarray(leaf_offsets, np.int64),
        "split_feature": np.asarray(splits["f"], np.int32),
        "threshold": np.asarray(splits["t"], np.float64),
        "default_left": np.asarray(splits["d"], np.uint8),
        "left_child": np.asarray(splits["l"], np.int32),
        "right_child": np.asarray(splits["r"], np.int32),
        "split_gain": np.asarray(splits["g"], np.float64),
        "leaf_value": np.asarray(leaves, np.float64),
        "base_score": np.zeros(n_outputs, np.float64),  # LightGBM folds it into tree 0
    }
    meta: dict[str, Any] = {
        "n_features": n_features, "n_outputs": n_outputs, "n_trees": len(leaf_offsets) - 1
    }
    return arrays, meta


def _array(arrays: Mapping[str, np.ndarray], name: str, size: int | None) -> np.ndarray:
    if name not in arrays:
        raise _bad(f"it has no {name!r} array")
    array = np.asarray(arrays[name])
    kinds = "f" if np.dtype(ARRAY_NAMES[name]).kind == "f" else "iu"
    wrong_size = size is not None and array.size != size
    if array.ndim != 1 or array.dtype.kind not in kinds or wrong_size:
        raise _bad(f"array {name!r} has dtype {array.dtype} and shape {array.shape}")
    if kinds == "f" and not np.isfinite(array).all():
        raise _bad(f"array {name!r} holds non-finite values")
    return array.astype(ARRAY_NAMES[name], copy=False)


def _offsets(arrays: Mapping[str, np.ndarray], name: str, n_trees: int, least: int) -> np.ndarray:
    offsets = _array(arrays, name, n_trees + 1)
    if offsets[0] != 0 or np.any(np.diff(offsets) < least):
        raise _bad(f"{name!r} does not split the nodes into trees")
    return offsets


def check_boosted_arrays(
    arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """Validate boosted-tree arrays against their metadata; return them in canonical dtypes.

    Parameters
    ----------
    arrays : mapping of str to ndarray
        As :func:`booster_to_arrays` returns (or as read from a model file).
    meta : mapping
        ``n_features``, ``n_outputs``, ``n_trees`` as :func:`booster_to_arrays` returns.

    Returns
    -------
    dict of str to ndarray
        The arrays of :data:`ARRAY_NAMES`, each in its dtype.

    Raises
    ------
    ModelFileError
        If a size disagrees with the metadata, a child index leaves its tree or points
        backwards, a leaf is unreachable or shared, a feature id is out of range, or a
        threshold, leaf value or gain is not finite.
    """
    counts = {}
    for key in ("n_features", "n_outputs", "n_trees"):
        value = meta.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise _bad(f"metadata entry {key!r} is {value!r}")
        counts[key] = value
    n_trees, n_outputs = counts["n_trees"], counts["n_outputs"]
    if n_trees % n_outputs:
        raise _bad(f"{n_trees} trees do not divide into {n_outputs} outputs")
    split_offsets = _offsets(arrays, "split_offsets", n_trees, 0)
    leaf_offsets = _offsets(arrays, "leaf_offsets", n_trees, 1)
    if not np.array_equal(np.diff(leaf_offsets), np.diff(split_offsets) + 1):
        raise _bad("a tree does not have one leaf more than it has splits")
    n_splits, n_leaves = int(split_offsets[-1]), int(leaf_offsets[-1])
    out = {name: _array(arrays, name, n_splits) for name in
           ("split_feature", "threshold", "default_left", "left_child", "right_child",
            "split_gain")}
    out["leaf_value"] = _array(arrays, "leaf_value", n_leaves)
    out["base_score"] = _array(arrays, "base_score", n_outputs)
    out["split_offsets"], out["leaf_offsets"] = split_offsets, leaf_offsets
    feature = out["split_feature"]
    if n_splits and (feature.min() < 0 or feature.max() >= counts["n_features"]):
        raise _bad(f"a split reads a feature outside 0..{counts['n_features'] - 1}")
    if np.any(out["default_left"] > 1):
        raise _bad("'default_left' holds values other than 0 and 1")
    # Each split's children: a later split of the same tree, or one of its leaves, and
    # every split but the root and every leaf reached exactly once: the tree is a tree.
    sizes = np.diff(split_offsets)
    tree_of = np.repeat(np.arange(n_trees), sizes)
    local = np.arange(n_splits) - split_offsets[tree_of]
    children = np.stack([out["left_child"], out["right_child"]]).astype(np.int64)
    is_split = children >= 0
    leaf_size = np.diff(leaf_offsets)[tree_of]
    ok = np.where(is_split, (children > local) & (children < sizes[tree_of]),
                  ~children < leaf_size)
    if not ok.all():
        node = int(np.flatnonzero(~ok.all(axis=0))[0])
        raise _bad(f"split node {node} links to a missing node or leaf")
    global_split = np.where(is_split, children + split_offsets[tree_of], -1)[is_split]
    global_leaf = np.where(is_split, -1, ~children + leaf_offsets[tree_of])[~is_split]
    roots = np.ones(n_splits, bool)
    roots[global_split] = False
    single_leaf = np.flatnonzero(sizes == 0)
    if (
        np.bincount(global_split, minlength=n_splits).max(initial=1) > 1
        or not np.array_equal(np.flatnonzero(roots), split_offsets[:-1][sizes > 0])
        or not np.array_equal(
            np.sort(np.concatenate([global_leaf, leaf_offsets[single_leaf]])), np.arange(n_leaves)
        )
    ):
        raise _bad("its nodes do not form trees (a node is shared or unreachable)")
    return out


def _numbers(values: np.ndarray) -> str:
    if values.dtype.kind == "f":
        return " ".join(repr(float(v)) for v in values)  # repr round-trips a double exactly
    return " ".join(str(int(v)) for v in values)


def booster_from_arrays(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> Any:
    """Validate the arrays, then build a LightGBM booster that predicts raw scores from them.

    The model text LightGBM loads is written here from the validated numbers (nothing
    of a file's text reaches LightGBM). ``base_score`` is not part of the booster: add
    it to the raw scores.

    Parameters
    ----------
    arrays : mapping of str to ndarray
        As :func:`booster_to_arrays` returns.
    meta : mapping
        As :func:`booster_to_arrays` returns.

    Returns
    -------
    lightgbm.Booster
        Whose ``predict(x, raw_score=True)`` is the sum of the trees' leaf values.

    Raises
    ------
    ModelFileError
        If :func:`check_boosted_arrays` rejects the arrays.
    """
    import lightgbm as lgb

    a = check_boosted_arrays(arrays, meta)
    n_features, n_outputs = int(meta["n_features"]), int(meta["n_outputs"])
    trees = []
    for t in range(int(meta["n_trees"])):
        s = slice(int(a["split_offsets"][t]), int(a["split_offsets"][t + 1]))
        leaf = slice(int(a["leaf_offsets"][t]), int(a["leaf_offsets"][t + 1]))
        n_leaves = leaf.stop - leaf.start
        lines = [f"Tree={t}", f"num_leaves={n_leaves}", "num_cat=0"]
        if n_leaves > 1:
            # decision_type bit 1 = default_left; missing type None (bits 2-3 zero)
            lines += [
                f"split_feature={_numbers(a['split_feature'][s])}",
                f"split_gain={_numbers(a['split_gain'][s])}",
                f"threshold={_numbers(a['threshold'][s])}",
                f"decision_type={_numbers(a['default_left'][s].astype(np.int64) * 2)}",
                f"left_child={_numbers(a['left_child'][s])}",
                f"right_child={_numbers(a['right_child'][s])}",
            ]
        lines += [f"leaf_value={_numbers(a['leaf_value'][leaf])}", "is_linear=0", "shrinkage=1"]
        trees.append("\n".join(lines) + "\n\n")
    names = " ".join(f"f{i}" for i in range(n_features))
    header = [
        "tree", "version=v4", f"num_class={n_outputs}", f"num_tree_per_iteration={n_outputs}",
        "label_index=0", f"max_feature_idx={n_features - 1}", f"feature_names={names}",
        "feature_infos=" + " ".join(["none"] * n_features),
    ]
    text = "\n".join(header) + "\n\n" + "".join(trees) + "end of trees\n"
    return lgb.Booster(model_str=text)
