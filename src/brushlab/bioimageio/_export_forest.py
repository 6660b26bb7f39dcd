"""A scikit-learn forest as an ONNX-ML ``TreeEnsembleClassifier``, decision for decision.

scikit-learn sends a float32 feature ``x`` left when ``x <= t`` for a float64
threshold ``t``. For float32 ``x`` that equals ``x <= t32`` where ``t32`` is the
largest float32 not above ``t``, so thresholds are rounded down (not to nearest)
and every split decides as in scikit-learn. Each leaf holds its normalised class
distribution divided by the number of trees, and the ensemble sums them: the
forest's mean of per-tree probabilities, as ``RandomForestClassifier.predict_proba``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from brushlab.bioimageio._onnx_graph import GraphBuilder
from brushlab.classifier.boosted_onnx import thresholds_float32
from brushlab.errors import ClassifierError

__all__ = ["forest_graph", "thresholds_float32"]  # the latter re-exported


def forest_graph(g: GraphBuilder, features: str, forest: Any, *, class_ids: Sequence[int]) -> str:
    """Add the forest's class probabilities of ``features`` ``(P, F)``; return ``(P, K)``.

    Parameters
    ----------
    g : GraphBuilder
        Graph to extend (uses the ``ai.onnx.ml`` domain).
    features : str
        Float32 tensor of feature rows.
    forest : RandomForestClassifier or ExtraTreesClassifier
        A fitted single-output scikit-learn forest.
    class_ids : sequence of int
        The K output columns: class ids 1..K in brushlab's order (classes the forest
        never saw get probability 0, as :meth:`PixelClassifier.predict_features`).

    Returns
    -------
    str
        Float32 ``(P, K)`` probabilities.
    """
    from brushlab.classifier.forest_arrays import forest_to_arrays
    from brushlab.errors import ModelFileError

    try:
        arrays, meta = forest_to_arrays(forest)
    except ModelFileError as exc:
        raise ClassifierError(
            f"only scikit-learn random forests can be exported to ONNX ({exc})"
        ) from exc
    classes = [int(c) for c in meta["classes_"]]
    column = {c: i for i, c in enumerate(class_ids)}
    if any(c not in column for c in classes):
        raise ClassifierError(
            f"forest classes {classes} are not among the class ids {list(class_ids)}"
        )
    offsets = arrays["node_offsets"]
    n_trees = len(offsets) - 1
    left, right = arrays["children_left"], arrays["children_right"]
    leaf = left < 0
    value = np.asarray(arrays["value"], dtype=np.float64)
    total = value.sum(axis=1, keepdims=True)
    proba = value / np.where(total > 0, total, 1.0) / n_trees
    tree_ids = np.repeat(np.arange(n_trees, dtype=np.int64), np.diff(offsets))
    node_ids = np.arange(len(left), dtype=np.int64) - offsets[tree_ids]
    thresholds = thresholds_float32(arrays["threshold"])
    thresholds[leaf] = 0.0
    features_ids = np.where(leaf, 0, arrays["feature"]).astype(np.int64)
    # Every leaf lists every class (zeros too): with two classes onnxruntime would
    # otherwise take the single-class "binary" shortcut and return 1 - p for the other.
    k = len(class_ids)
    leaf_index = np.flatnonzero(leaf)
    weights = np.zeros((len(leaf_index), k), dtype=np.float32)
    for col, c in enumerate(classes):
        weights[:, column[c]] = proba[leaf_index, col]
    attrs: dict[str, Any] = {
        "nodes_treeids": tree_ids.tolist(),
        "nodes_nodeids": node_ids.tolist(),
        "nodes_featureids": features_ids.tolist(),
        "nodes_values": thresholds.tolist(),
        "nodes_modes": ["LEAF" if lf else "BRANCH_LEQ" for lf in leaf],
        "nodes_truenodeids": np.where(leaf, 0, left).astype(np.int64).tolist(),
        "nodes_falsenodeids": np.where(leaf, 0, right).astype(np.int64).tolist(),
        "nodes_missing_value_tracks_true": [0] * len(left),
        "class_treeids": np.repeat(tree_ids[leaf_index], k).tolist(),
        "class_nodeids": np.repeat(node_ids[leaf_index], k).tolist(),
        "class_ids": np.tile(np.arange(k, dtype=np.int64), len(leaf_index)).tolist(),
        "class_weights": weights.reshape(-1).tolist(),
        "classlabels_int64s": [int(c) for c in class_ids],
        "post_transform": "NONE",
    }
    _label, probabilities = g.op(
        "TreeEnsembleClassifier", [features], n_out=2, domain="ai.onnx.ml", **attrs
    )
    return str(probabilities)
