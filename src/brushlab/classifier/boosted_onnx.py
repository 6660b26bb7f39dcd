"""Boosted-tree arrays as an ONNX-ML graph: brushlab's predictor and its Model Zoo export.

Both run the same nodes: a ``TreeEnsembleRegressor`` that sums the leaf values of the
trees of each output column (``aggregate_function`` SUM, ``base_values`` the base score:
LightGBM's raw scores), then the softmax (two classes: of ``(0, s)``, see
:func:`brushlab.classifier.boosted_trees.softmax_scores`). Thresholds are rounded down to float32
(:func:`thresholds_float32`, which the forest's export uses too), so every split decides as
LightGBM's double comparison of a float32 feature does.

Why onnxruntime predicts: on the realistic ISBI model (50 trees x 15 leaves, 41 features)
its tree ensemble took 0.12-0.15 s per 512x512 against 0.26-0.41 s for LightGBM's own
predictor rebuilt from the same arrays, both one thread per tile on 2 cores, and builds in
~6 ms (benchmarks/README.md, "Classifier engine"). lleaves 1.3 (compiled LightGBM
prediction) does not run with the llvmlite that installs from wheels today (0.50).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "prediction_session",
    "probability_graph",
    "thresholds_float32",
    "tree_ensemble_attributes",
]

#: ``add(op_type, inputs, **attributes) -> output name``: how a graph grows by one node.
AddNode = Callable[..., str]


def thresholds_float32(thresholds: np.ndarray) -> np.ndarray:
    """Largest float32 not above each float64 threshold (so ``x <= t`` decides the same).

    Examples
    --------
    >>> t = np.array([0.1, 0.5, 1 / 3])
    >>> t32 = thresholds_float32(t)
    >>> bool(np.all(t32.astype(np.float64) <= t))
    True
    """
    t64 = np.asarray(thresholds, dtype=np.float64)
    t32 = t64.astype(np.float32)
    up = t32.astype(np.float64) > t64
    t32[up] = np.nextafter(t32[up], np.float32(-np.inf))
    return t32


def tree_ensemble_attributes(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> dict:
    """Attributes of an ONNX-ML ``TreeEnsembleRegressor`` computing the raw scores.

    Parameters
    ----------
    arrays, meta
        Validated boosted-tree arrays
        (:func:`brushlab.classifier.boosted_arrays.check_boosted_arrays`).

    Returns
    -------
    dict
        Keyword attributes (``n_targets`` = output columns, SUM over trees).
    """
    n_outputs, n_trees = int(meta["n_outputs"]), int(meta["n_trees"])
    so, lo = np.asarray(arrays["split_offsets"]), np.asarray(arrays["leaf_offsets"])
    n_splits, n_leaves = np.diff(so), np.diff(lo)
    # ONNX node ids per tree: splits 0..s-1, then leaves s..s+l-1 (leaf ~c is node s + ~c).
    split_tree = np.repeat(np.arange(n_trees), n_splits)
    leaf_tree = np.repeat(np.arange(n_trees), n_leaves)
    split_node = np.arange(int(so[-1])) - so[split_tree]
    leaf_node = np.arange(int(lo[-1])) - lo[leaf_tree] + n_splits[leaf_tree]

    def node(children: np.ndarray) -> np.ndarray:
        c = children.astype(np.int64)
        return np.where(c >= 0, c, n_splits[split_tree] + ~c)

    order = np.argsort(np.concatenate([split_tree, leaf_tree]), kind="stable")

    def both(split_part: np.ndarray, leaf_part: np.ndarray) -> list:
        return np.concatenate([split_part, leaf_part])[order].tolist()  # type: ignore[no-any-return]

    n_all = int(so[-1] + lo[-1])
    zeros = np.zeros(int(lo[-1]), np.int64)
    return {
        "n_targets": n_outputs,
        "aggregate_function": "SUM",
        "base_values": np.asarray(arrays["base_score"], np.float32).tolist(),
        "post_transform": "NONE",
        "nodes_treeids": both(split_tree, leaf_tree),
        "nodes_nodeids": both(split_node, leaf_node),
        "nodes_featureids": both(np.asarray(arrays["split_feature"], np.int64), zeros),
        "nodes_values": both(thresholds_float32(arrays["threshold"]), zeros.astype(np.float32)),
        "nodes_modes": both(np.full(int(so[-1]), "BRANCH_LEQ"), np.full(int(lo[-1]), "LEAF")),
        "nodes_truenodeids": both(node(np.asarray(arrays["left_child"])), zeros),
        "nodes_falsenodeids": both(node(np.asarray(arrays["right_child"])), zeros),
        "nodes_missing_value_tracks_true": [0] * n_all,
        "target_treeids": leaf_tree.tolist(),
        "target_nodeids": leaf_node.tolist(),
        "target_ids": (leaf_tree % n_outputs).tolist(),
        "target_weights": np.asarray(arrays["leaf_value"], np.float32).tolist(),
    }


def probability_graph(
    add: AddNode, rows: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any],
    n_classes: int,
) -> str:
    """Append the nodes from float32 feature rows ``(P, F)`` to probabilities ``(P, n_classes)``.

    Parameters
    ----------
    add : callable
        ``add(op_type, inputs, **attributes)`` appends one node and returns its output
        name (``domain="ai.onnx.ml"`` for the tree ensemble), as
        :meth:`brushlab.bioimageio._onnx_graph.GraphBuilder.op`.
    rows : str
        Name of the float32 feature rows.
    arrays, meta
        Validated boosted-tree arrays.
    n_classes : int
        Classes the model separates.

    Returns
    -------
    str
        Name of the float32 probabilities, columns in the model's class order.
    """
    attrs = tree_ensemble_attributes(arrays, meta)
    scores = add("TreeEnsembleRegressor", [rows], domain="ai.onnx.ml", **attrs)
    if n_classes == 2 and attrs["n_targets"] == 1:
        zero = add("Sub", [scores, scores])
        scores = add("Concat", [zero, scores], axis=1)
    return add("Softmax", [scores], axis=1)


def prediction_session(
    arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], n_classes: int, *, threads: int = 1
) -> Any:
    """Build an onnxruntime session from rows ``x`` float32 ``(P, F)`` to probabilities ``p``.

    Parameters
    ----------
    arrays, meta
        Validated boosted-tree arrays.
    n_classes : int
        Classes the model separates.
    threads : int, default 1
        Threads per call (brushlab predicts tiles on its own thread pool).

    Returns
    -------
    onnxruntime.InferenceSession
        Thread-safe; does not pickle (rebuild it where it is needed).
    """
    import onnxruntime as ort
    from onnx import TensorProto, helper

    nodes: list[Any] = []

    def add(op_type: str, inputs: list[str], *, domain: str = "", **attrs: Any) -> str:
        out = f"{op_type}_{len(nodes)}"
        nodes.append(helper.make_node(op_type, inputs, [out], domain=domain, **attrs))
        return out

    proba = probability_graph(add, "x", arrays, meta, n_classes)
    nodes.append(helper.make_node("Identity", [proba], ["p"]))
    n_features = int(meta["n_features"])
    graph = helper.make_graph(
        nodes, "brushlab_boosted_trees",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", n_features])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["rows", n_classes])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    )
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
