"""What identifies a trained classifier (for resumable runs) and what it weighs on a worker."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from brushlab.classifier._pixel_classifier import PixelClassifier

__all__ = ["classifier_bytes", "classifier_fingerprint"]


def classifier_bytes(clf: Any) -> int:
    """Memory the trained model takes on a worker (its trees; a network says its own)."""
    if hasattr(clf, "model_bytes"):
        return int(clf.model_bytes)
    trees = getattr(clf._model, "estimators_", None)
    if trees is None:
        return 0
    return int(sum(t.tree_.node_count * (64 + t.tree_.value[0].nbytes) for t in trees))




def classifier_fingerprint(clf: Any) -> str:
    """Digest everything that decides a classifier's predictions (features, classes, model)."""
    if not isinstance(clf, PixelClassifier):
        return str(clf.fingerprint())
    digest = hashlib.sha256(json.dumps({
        "features": clf.features.to_dict(), "classes": clf.class_names,
        "n_channels": clf.n_channels, "ndim": clf.spatial_ndim}, sort_keys=True).encode())
    model = clf._model
    trees = getattr(model, "estimators_", None)
    if trees is None:  # an injected estimator: dask's hash of its state
        from dask.base import tokenize

        digest.update(tokenize(model).encode())
    else:
        digest.update(np.asarray(model.classes_).tobytes())
        for tree in trees:
            state = tree.tree_.__getstate__()
            nodes = state["nodes"]
            for name in nodes.dtype.names:  # field by field: padding bytes are arbitrary
                digest.update(np.ascontiguousarray(nodes[name]).tobytes())
            digest.update(np.ascontiguousarray(state["values"]).tobytes())
    return digest.hexdigest()[:20]

