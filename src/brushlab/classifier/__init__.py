"""Pixel classifiers: fit on labelled pixels' features, predict probabilities tile by tile.

:class:`PixelClassifier` and its model file (:mod:`.modelfile`, :mod:`.forest_arrays`).
"""

from __future__ import annotations

from brushlab.classifier._pixel_classifier import (
    OUTPUTS,
    PixelClassifier,
    derive_outputs,
    load_classifier,
)

__all__ = ["OUTPUTS", "PixelClassifier", "derive_outputs", "load_classifier"]
