"""Boosted trees in the Model Zoo export: the predictor's own ONNX nodes, then class placement.

brushlab predicts boosted trees with onnxruntime running exactly the nodes
:func:`brushlab.classifier.boosted_onnx.probability_graph` writes (a ``TreeEnsembleRegressor``
for the raw scores, then the softmax), so the exported graph reproduces
:meth:`PixelClassifier.predict`.
A 0/1 matrix then places the model's classes among brushlab's class ids (a class never
labelled gets probability 0), exactly: each output is one probability times 1 plus zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from brushlab.bioimageio._onnx_graph import GraphBuilder
from brushlab.classifier.boosted_onnx import probability_graph
from brushlab.errors import ClassifierError

__all__ = ["boosted_graph"]


def boosted_graph(g: GraphBuilder, features: str, model: Any, *, class_ids: Sequence[int]) -> str:
    """Add the boosted model's class probabilities of ``features`` ``(P, F)``; return ``(P, K)``.

    Parameters
    ----------
    g : GraphBuilder
        Graph to extend (uses the ``ai.onnx.ml`` domain).
    features : str
        Float32 tensor of feature rows.
    model : brushlab.classifier.boosted_trees.BoostedTrees
        A trained boosted model.
    class_ids : sequence of int
        The K output columns: class ids 1..K in brushlab's order.

    Returns
    -------
    str
        Float32 ``(P, K)`` probabilities.
    """
    arrays, meta = model.to_arrays()
    classes = [int(c) for c in model.classes_]
    column = {c: i for i, c in enumerate(class_ids)}
    if any(c not in column for c in classes):
        raise ClassifierError(
            f"model classes {classes} are not among the class ids {list(class_ids)}"
        )
    proba = probability_graph(g.op, features, arrays, meta, len(classes))
    place = np.zeros((len(classes), len(class_ids)), np.float32)
    for row, c in enumerate(classes):
        place[row, column[c]] = 1.0
    return str(g.op("MatMul", [proba, g.const(place, "class_columns")]))
