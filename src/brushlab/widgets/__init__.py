"""Notebook widgets: thin ipywidgets/ipycanvas/bokeh views over the headless core.

:func:`annotate` opens the labelling widget (:class:`Annotator`) on images or a
:class:`brushlab.Session`. Everything it does is a method of the Session or of
:class:`brushlab.view.AnnotationView`, which tests and scripts call directly.
"""

from __future__ import annotations

from brushlab.widgets._annotator import Annotator, annotate

__all__ = ["Annotator", "annotate"]
