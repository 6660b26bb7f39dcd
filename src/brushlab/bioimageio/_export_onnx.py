"""A trained :class:`~brushlab.PixelClassifier` as one ONNX model: image in, probabilities out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from brushlab.bioimageio._export_features import feature_graph
from brushlab.bioimageio._export_forest import forest_graph
from brushlab.bioimageio._onnx_graph import GraphBuilder
from brushlab.errors import ClassifierError

__all__ = ["classifier_to_onnx", "ONNX_OPSET", "ONNX_ML_OPSET"]

ONNX_OPSET = 17
ONNX_ML_OPSET = 3
INPUT_NAME = "raw"
OUTPUT_NAME = "probabilities"


def classifier_to_onnx(clf: Any, *, spacing: Sequence[float] | None = None) -> Any:
    """Build the ONNX model of a trained pixel classifier.

    Parameters
    ----------
    clf : PixelClassifier
        Trained, with a scikit-learn forest.
    spacing : sequence of float, optional
        Pixel size per spatial axis the model is for (1 per axis when None): sigmas
        per axis follow it as in :meth:`FeatureSet.compute`.

    Returns
    -------
    onnx.ModelProto
        Input ``raw`` float32 ``(N, C, [Z,] Y, X)``, output ``probabilities`` float32
        ``(N, K, [Z,] Y, X)``, the same size (mirrored at the borders as brushlab).
    """
    import onnx
    from onnx import TensorProto, helper

    clf._require_trained()
    ndim = int(clf.spatial_ndim or 2)
    n_channels = int(clf.n_channels or 1)
    sp = [1.0] * ndim if spacing is None else [float(s) for s in spacing]
    if len(sp) != ndim:
        raise ClassifierError(
            f"spacing {tuple(sp)} needs {ndim} entries for this {ndim}D classifier"
        )
    k = len(clf.class_names or [])
    g = GraphBuilder()
    feats = feature_graph(g, INPUT_NAME, clf.features, ndim=ndim, n_channels=n_channels, spacing=sp)
    nf = clf.features.n_features(ndim=ndim, n_channels=n_channels)
    # (N, F, *S) -> (N * prod(S), F) rows for the trees, then back to (N, K, *S).
    perm = [0, *range(2, 2 + ndim), 1]
    rows = g.op("Reshape", [g.op("Transpose", [feats], perm=perm), g.ints([-1, nf])])
    from brushlab.bioimageio._export_boosted import boosted_graph
    from brushlab.classifier.boosted_trees import BoostedTrees

    trees = boosted_graph if isinstance(clf._model, BoostedTrees) else forest_graph
    proba = trees(g, str(rows), clf._model, class_ids=list(range(1, k + 1)))
    lead = g.op("Shape", [INPUT_NAME], start=0, end=1)
    spatial = g.op("Shape", [INPUT_NAME], start=2)
    grid = g.op("Reshape", [proba, g.op("Concat", [lead, spatial, g.ints([k])], axis=0)])
    g.op("Transpose", [grid], perm=[0, 1 + ndim, *range(1, 1 + ndim)], outputs=[OUTPUT_NAME])
    spatial_names = ["z", "y", "x"][3 - ndim :]
    x_info = helper.make_tensor_value_info(
        INPUT_NAME, TensorProto.FLOAT, ["batch", n_channels, *spatial_names]
    )
    y_info = helper.make_tensor_value_info(
        OUTPUT_NAME, TensorProto.FLOAT, ["batch", k, *spatial_names]
    )
    graph = helper.make_graph(
        g.nodes, "brushlab_pixel_classifier", [x_info], [y_info], g.initializers
    )
    model = helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", ONNX_OPSET),
            helper.make_opsetid("ai.onnx.ml", ONNX_ML_OPSET),
        ],
        producer_name="brushlab",
    )
    model.ir_version = 8  # readable by onnxruntime >= 1.10
    onnx.checker.check_model(model)
    return model
