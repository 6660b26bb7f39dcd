"""The annotator's layers as RGBA: image, labels, prediction overlay, brush and suggestion.

:class:`LayerRendering` gives :class:`~brushlab.view.AnnotationView` its ``render_*``
methods; a widget draws what they return, sampled at the viewport's pixels only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from brushlab.view._render import (
    composite,
    label_lut,
    labels_rgba,
    probability_rgba,
    segmentation_rgba,
    uncertainty_rgba,
)
from brushlab.view._viewport import CanvasRect, sample

__all__ = ["LayerRendering"]


class LayerRendering:
    """Rendering of the annotator's layers (mixed into the view, which holds the state)."""

    if TYPE_CHECKING:  # state the view provides
        viewport: Any
        session: Any
        settings: Any
        objects: Any
        image: int
        label_opacity: float
        overlay: str
        overlay_class: int
        overlay_opacity: float
        cursor: tuple[float, float] | None
        tool: str
        radius: float
        suggestion: Any

        @property
        def result(self) -> Any: ...

        @property
        def plane_key(self) -> tuple[int, ...]: ...

        def plane_pixels(self) -> np.ndarray: ...

    def render_image(self, rect: CanvasRect | None = None) -> tuple[CanvasRect, np.ndarray]:
        """RGBA of the image layer (whole canvas or ``rect``); off-image pixels transparent."""
        rect = rect or self._full()
        rows, cols = self.viewport.sample_indices(rect)
        pixels = sample(self.plane_pixels(), rows, cols)
        rgba = composite(pixels, self.settings.ranges, self.settings.channels)
        _clear_outside(rgba, rows, cols)
        return rect, rgba

    def render_labels(self, rect: CanvasRect | None = None) -> tuple[CanvasRect, np.ndarray]:
        """RGBA of the labels layer in the class colours, with the label opacity."""
        rect = rect or self._full()
        rows, cols = self.viewport.sample_indices(rect)
        labels = self.session.labels(self.image)
        plane = labels[self.plane_key] if self.plane_key else labels
        lut = label_lut([c.rgb for c in self.session.classes], self.label_opacity)
        return rect, labels_rgba(sample(plane, rows, cols), lut)

    def render_overlay(self, rect: CanvasRect | None = None) -> tuple[CanvasRect, np.ndarray]:
        """RGBA of the prediction overlay (transparent where nothing was predicted)."""
        rect = rect or self._full()
        out = np.zeros((rect.height, rect.width, 4), dtype=np.uint8)
        if self.overlay in ("objects", "object classes"):
            plane_rgba = self.objects.rgba(self.overlay, self.overlay_opacity)
            if plane_rgba is None:
                return rect, out
            rows, cols = self.viewport.sample_indices(rect)
            out = sample(plane_rgba, rows, cols)
            _clear_outside(out, rows, cols)
            return rect, out
        result = self.result
        if result is None or self.overlay == "none":
            return rect, out
        rows, cols = self.viewport.sample_indices(rect)
        step = int(result.attrs.get("step", 1))
        (y0, _), (x0, _) = result.attrs["region"]
        ny, nx = result.sizes["y"], result.sizes["x"]
        rr = np.where(rows >= 0, (rows - y0) // step, -1)
        cc = np.where(cols >= 0, (cols - x0) // step, -1)
        rr[(rr < 0) | (rr >= ny)] = -1
        cc[(cc < 0) | (cc >= nx)] = -1
        colours = [c.rgb for c in self.session.classes]
        if self.overlay == "probability":
            names = list(result.probabilities["class"].values)
            k = min(max(self.overlay_class, 1), len(names)) - 1
            p = sample(result.probabilities.values[k], rr, cc)
            out = probability_rgba(p, colours[k] if k < len(colours) else (255, 255, 255),
                                   self.overlay_opacity)
        elif self.overlay == "segmentation":
            lut = label_lut(colours, self.overlay_opacity)
            out = segmentation_rgba(sample(result.segmentation.values, rr, cc), lut)
        elif self.overlay == "uncertainty":
            out = uncertainty_rgba(sample(result.uncertainty.values, rr, cc),
                                   self.overlay_opacity)
        _clear_outside(out, rr, cc)
        return rect, out

    def _full(self) -> CanvasRect:
        h, w = self.viewport.canvas_shape
        return CanvasRect(0, 0, w, h)

    def brush_outline(self) -> tuple[float, float, float] | None:
        """Canvas ``(x, y, radius)`` of the brush under the cursor, or None."""
        if self.cursor is None or self.tool == "pan":
            return None
        r = max(self.radius + 0.5, 0.5) * self.viewport.scale
        return self.cursor[0], self.cursor[1], r

    def suggestion_rect(self) -> CanvasRect | None:
        """Canvas rectangle of the current suggestion, or None."""
        if self.suggestion is None:
            return None
        return self.viewport.canvas_rect(self.suggestion)


def _clear_outside(rgba: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
    rgba[rows < 0] = 0
    rgba[:, cols < 0] = 0
