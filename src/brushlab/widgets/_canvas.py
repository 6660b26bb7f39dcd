"""The four-layer ipycanvas view (image, labels, overlay, cursor) of an AnnotationView."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import ipycanvas
import numpy as np

from brushlab.view import AnnotationView, CanvasRect, Redraw

__all__ = ["LayeredCanvas", "DRAW_LOCK"]

# ipycanvas batches commands through one process-wide manager (hold_canvas): every draw,
# from the kernel thread or a live-update worker, takes this lock.
DRAW_LOCK = threading.RLock()
IMAGE, LABELS, OVERLAY, CURSOR = range(4)


class LayeredCanvas:
    """An ipycanvas ``MultiCanvas`` showing an :class:`AnnotationView`.

    The buffer is ``pixel_ratio`` times the CSS size, so it stays crisp on
    high-DPI screens; the browser reports mouse positions in buffer pixels.

    Parameters
    ----------
    view : AnnotationView
        What to draw and whom to tell about mouse events.
    css_size : tuple of int
        ``(height, width)`` on the page in CSS pixels.
    pixel_ratio : float
        Buffer pixels per CSS pixel.
    on_event : callable, optional
        Called with the :class:`Redraw` of each event after drawing (status updates).

    Attributes
    ----------
    on_overlay : callable or None
        Called after each redraw of the overlay layer (controls that show its source).
    """

    def __init__(
        self,
        view: AnnotationView,
        css_size: tuple[int, int],
        pixel_ratio: float,
        on_event: Callable[[str, Redraw], None] | None = None,
    ) -> None:
        self.view = view
        h, w = view.viewport.canvas_shape
        self.widget = ipycanvas.MultiCanvas(4, width=w, height=h)
        self.widget.layout.width = f"{css_size[1]}px"
        self.widget.layout.height = f"{css_size[0]}px"
        self.pixel_ratio = pixel_ratio
        self.on_event = on_event
        self.on_overlay: Callable[[], None] | None = None
        self.widget.on_mouse_down(self._handler("mouse_down", view.mouse_down))
        self.widget.on_mouse_move(self._handler("mouse_move", view.mouse_move))
        self.widget.on_mouse_up(self._handler("mouse_up", view.mouse_up))
        self.widget.on_mouse_out(self._handler("mouse_out", view.mouse_out))
        self.widget.on_mouse_wheel(self._handler("mouse_wheel", view.wheel))
        self.widget.on_client_ready(self._client_ready)

    def _handler(self, name: str, method: Callable[[float, float], Redraw]) -> Callable[..., None]:
        def handle(x: float, y: float) -> None:
            redraw = method(float(x), float(y))
            self.draw(redraw)
            if self.on_event is not None:
                self.on_event(name, redraw)

        return handle

    def _client_ready(self) -> None:
        # A new page (a reload, a Voila app) starts with blank canvases, and the shared
        # canvas manager still believes the old page has our canvas selected: forget it
        # so the next command re-selects the canvas, then draw everything again.
        manager = getattr(self.widget[0], "_canvas_manager", None)
        if manager is not None:
            manager._current_canvas = None
        self.draw(Redraw(image=True, labels=True, overlay=True, cursor=True))

    def layer(self, index: int) -> Any:
        """One of the four ipycanvas layers (0 image, 1 labels, 2 overlay, 3 cursor)."""
        return self.widget[index]

    def draw(self, redraw: Redraw) -> None:
        """Redraw the layers ``redraw`` names."""
        with DRAW_LOCK, ipycanvas.hold_canvas():
            if redraw.image:
                self._put(IMAGE, *self.view.render_image())
            if redraw.labels:
                self._put(LABELS, *self.view.render_labels(redraw.labels_rect), clear=True)
            if redraw.overlay:
                self._put(OVERLAY, *self.view.render_overlay(), clear=True)
            if redraw.cursor:
                self._draw_cursor()
        if redraw.overlay and self.on_overlay is not None:
            self.on_overlay()

    def _put(self, index: int, rect: CanvasRect, rgba: np.ndarray, clear: bool = False) -> None:
        layer = self.widget[index]
        if clear:  # putImageData replaces pixels, alpha included; clear_rect keeps it explicit
            layer.clear_rect(rect.x, rect.y, rect.width, rect.height)
        layer.put_image_data(np.ascontiguousarray(rgba), rect.x, rect.y)

    def _draw_cursor(self) -> None:
        layer = self.widget[CURSOR]
        layer.clear()
        suggestion = self.view.suggestion_rect()
        if suggestion is not None:
            layer.line_width = 2 * self.pixel_ratio
            layer.stroke_style = "#ff00ff"
            layer.set_line_dash([6 * self.pixel_ratio, 4 * self.pixel_ratio])
            layer.stroke_rect(suggestion.x, suggestion.y, suggestion.width, suggestion.height)
            layer.set_line_dash([])
        outline = self.view.brush_outline()
        if outline is not None:
            x, y, r = outline
            colour = "#ffffff"
            if self.view.tool == "paint" and self.view.session.classes:
                k = min(self.view.class_id, len(self.view.session.classes)) - 1
                colour = self.view.session.classes[k].colour
            layer.line_width = max(1.0, self.pixel_ratio)
            layer.stroke_style = colour
            layer.stroke_circle(x, y, r)
