"""Headless labelling session: what the interactive widget drives and draws.

:class:`Session` holds images, labels per image, classes, the feature cache and
the classifier; painting, undo/redo, training, region prediction, suggestions
and label import/export are its methods. :class:`LiveUpdater` retrains and
predicts the visible region after strokes on a worker thread. Nothing here
imports a UI toolkit: a widget is a thin view on top.
"""

from __future__ import annotations

from brushlab.session._classes import PALETTE, LabelClass
from brushlab.session._feature_cache import FeatureCache
from brushlab.session._history import Edit
from brushlab.session._live import LiveSettings, LiveUpdate, LiveUpdater
from brushlab.session._persistence import ProjectStore, register_project_store
from brushlab.session._session import Session
from brushlab.session._strokes import Stroke, StrokeResult

__all__ = [
    "Session",
    "LabelClass",
    "PALETTE",
    "Stroke",
    "StrokeResult",
    "Edit",
    "FeatureCache",
    "LiveSettings",
    "LiveUpdate",
    "LiveUpdater",
    "ProjectStore",
    "register_project_store",
]
