"""UI-free view logic of the labelling widget: viewport, rendering, interaction.

:class:`AnnotationView` turns canvas events into :class:`~brushlab.Session` calls
and renders the image, labels and prediction overlays as RGBA arrays. The
ipywidgets/ipycanvas widget in :mod:`brushlab.widgets` only forwards events to
it and sends what it renders; nothing here imports a UI toolkit.
"""

from __future__ import annotations

from brushlab.view._annotation_view import OVERLAYS, TOOLS, AnnotationView, Redraw
from brushlab.view._display import DisplaySettings
from brushlab.view._render import (
    auto_contrast,
    composite,
    label_lut,
    labels_rgba,
    probability_rgba,
    segmentation_rgba,
    uncertainty_rgba,
    window,
)
from brushlab.view._status import SHORTCUTS, Status, StatusLine
from brushlab.view._viewport import CanvasRect, Viewport

__all__ = [
    "AnnotationView",
    "CanvasRect",
    "DisplaySettings",
    "OVERLAYS",
    "Redraw",
    "SHORTCUTS",
    "Status",
    "StatusLine",
    "TOOLS",
    "Viewport",
    "auto_contrast",
    "composite",
    "label_lut",
    "labels_rgba",
    "probability_rgba",
    "segmentation_rgba",
    "uncertainty_rgba",
    "window",
]
