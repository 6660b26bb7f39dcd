"""Pixel classifiers: fit on labelled pixels' features, predict probabilities tile by tile.

:class:`PixelClassifier`, its model file (:mod:`.modelfile`, :mod:`.forest_arrays`) and
:mod:`.results`, the one builder of result Datasets.
"""

from __future__ import annotations

from brushlab.classifier._identity import classifier_bytes, classifier_fingerprint
from brushlab.classifier._pixel_classifier import (
    DEFAULT_TILE,
    FIT_TILE,
    MODELS,
    PixelClassifier,
    load_classifier,
)
from brushlab.classifier._planes import per_plane, plane_halo, plane_tile, predict_plane_region
from brushlab.classifier.boosted_trees import preload
from brushlab.classifier.results import OUTPUTS, build_result, derive_outputs, result_dataset

__all__ = [
    "DEFAULT_TILE",
    "FIT_TILE",
    "MODELS",
    "OUTPUTS",
    "PixelClassifier",
    "build_result",
    "classifier_bytes",
    "classifier_fingerprint",
    "derive_outputs",
    "load_classifier",
    "per_plane",
    "plane_halo",
    "plane_tile",
    "predict_plane_region",
    "preload",
    "result_dataset",
]
