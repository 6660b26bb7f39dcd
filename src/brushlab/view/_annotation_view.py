"""AnnotationView: everything the labelling widget does, without a UI toolkit.

The widget forwards canvas events (buffer pixel coordinates, as the browser sends
them) and control changes here, and draws the RGBA rectangles these methods
render. Tests drive this object and the widget with the same calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr

from brushlab.classifier import PixelClassifier, build_result
from brushlab.errors import BrushlabError, ImageError
from brushlab.session import LiveSettings, LiveUpdate, LiveUpdater, Session
from brushlab.view._display import DisplaySettings
from brushlab.view._layers import LayerRendering
from brushlab.view._objects_view import ObjectsView
from brushlab.view._redraw import ALL, Redraw
from brushlab.view._status import Status, StatusLine
from brushlab.view._viewport import Viewport

__all__ = ["AnnotationView", "Redraw", "OVERLAYS", "TOOLS"]

OVERLAYS = ("none", "probability", "segmentation", "uncertainty", "objects", "object classes")
TOOLS = ("paint", "erase", "pan", "objects")
WHEEL_STEP = 1.0015  # zoom factor per wheel delta unit (a notch of 100 ~ 1.16x)


class AnnotationView(LayerRendering):
    """View state and interaction logic over a :class:`Session` (no widgets inside).

    Parameters
    ----------
    session : Session
        The headless session (images, labels, classes, features, classifier).
    canvas_shape : tuple of int
        ``(height, width)`` of the canvas buffer in device pixels.
    live_settings : LiveSettings, optional
        Speed settings of live training.
    on_overlay : callable, optional
        Called (from a worker thread) when a live overlay arrived and the
        overlay layer should be redrawn.
    """

    def __init__(
        self,
        session: Session,
        canvas_shape: tuple[int, int] = (1024, 1024),
        *,
        live_settings: LiveSettings | None = None,
        on_overlay: Callable[[], None] | None = None,
    ) -> None:
        if not session.images:
            raise ImageError("the session has no image to show: add one with session.add_image()")
        self.session = session
        self.image = 0
        self.plane: dict[str, int] = {}
        self.viewport = Viewport(_plane_shape(session, 0), canvas_shape)
        self.display: dict[int, DisplaySettings] = {}
        self.tool = "paint"
        self.class_id = 1
        self.radius = 3.0
        self.label_opacity = 0.6
        self.overlay = "none"
        self.overlay_class = max(1, len(session.classes))  # the last class: often the objects
        self.overlay_opacity = 0.5
        self.message: str | None = None
        self.suggestion: tuple[slice, slice] | None = None
        self.cursor: tuple[float, float] | None = None
        self.live_settings = live_settings or LiveSettings()
        self.on_overlay = on_overlay
        self._lock = threading.RLock()
        self._result: xr.Dataset | None = None
        self._result_key: tuple[int, tuple[int, ...]] | None = None
        self._result_generation = -1
        self._last_classifier: PixelClassifier | None = None
        self._live: LiveUpdater | None = None
        self._drag: tuple[float, float] | None = None
        self._stroking = False
        self.live_errors: list[str] = []
        self.objects = ObjectsView(self)
        self.status_line = StatusLine(self)
        self.object_class = "class A"
        self.select_image(0)

    # -- image and plane --------------------------------------------------------------
    @property
    def plane_key(self) -> tuple[int, ...]:
        """Plane indices in the session's order (``()`` for 2D)."""
        return tuple(self.plane[d] for d in self.session.plane_sizes(self.image))

    def select_image(self, image: int | str) -> Redraw:
        """Show another image (its first plane, fitted)."""
        with self._lock:
            self._end_stroke()
            index = self.session.image_index(image)
            self.image = index
            self.plane = {d: 0 for d in self.session.plane_sizes(index)}
            self.viewport.set_image_shape(_plane_shape(self.session, index))
            self.suggestion = None
            if index not in self.display:
                self.display[index] = DisplaySettings.for_plane(self.plane_pixels())
            self._view_changed()
            return ALL

    def set_plane(self, **indices: int) -> Redraw:
        """Move to another plane, e.g. ``set_plane(z=4)`` or ``set_plane(t=2, z=0)``."""
        with self._lock:
            self._end_stroke()
            sizes = self.session.plane_sizes(self.image)
            for d, v in indices.items():
                if d not in sizes:
                    raise ImageError(f"this image has no {d!r} axis (plane dims: {list(sizes)})")
                if not 0 <= int(v) < sizes[d]:
                    raise ImageError(f"{d}={v} is outside 0..{sizes[d] - 1}")
                self.plane[d] = int(v)
            self.suggestion = None
            self._view_changed()
            return ALL

    def plane_pixels(self) -> np.ndarray:
        """Pixels of the plane shown, ``(h, w)`` or ``(h, w, c)``."""
        return self.session.plane_image(self.image, self.plane_key or None)

    @property
    def settings(self) -> DisplaySettings:
        """Display settings of the image shown."""
        return self.display[self.image]

    def set_channels(self, channels: list[int]) -> Redraw:
        """Show one channel (grey) or several (composite)."""
        n = self.settings.n_channels
        if not channels or any(not 0 <= c < n for c in channels):
            raise ImageError(f"channels must be a non-empty list from 0..{n - 1}, got {channels}")
        self.settings.channels = [int(c) for c in channels]
        return Redraw(image=True)

    def set_contrast(self, low: float, high: float) -> Redraw:
        """Window levelling: the displayed range of the shown channels."""
        self.settings.set_range(low, high)
        return Redraw(image=True)

    def auto_contrast(self, percentiles: tuple[float, float] = (0.5, 99.5)) -> Redraw:
        """Contrast from percentiles of the plane shown."""
        self.settings.auto(self.plane_pixels(), percentiles)
        return Redraw(image=True)

    # -- zoom and pan --------------------------------------------------------------------
    def zoom(self, factor: float, at: tuple[float, float] | None = None) -> Redraw:
        """Zoom by ``factor`` about canvas point ``at`` = ``(x, y)`` (default: the centre)."""
        with self._lock:
            if at is None:
                self.viewport.zoom(factor)
            else:
                self.viewport.zoom_at(factor, at[1], at[0])
            self._view_changed()
            return ALL

    def fit(self) -> Redraw:
        """Show the whole plane."""
        with self._lock:
            self.viewport.fit()
            self._view_changed()
            return ALL

    def show_region(self, region: tuple[slice, slice]) -> Redraw:
        """Zoom to image ``region`` (``(y, x)`` slices)."""
        with self._lock:
            self.viewport.show(region)
            self._view_changed()
            return ALL

    # -- pointer events (canvas buffer coordinates, as the browser sends) ----------------
    def mouse_down(self, x: float, y: float) -> Redraw:
        """Start a stroke (paint/erase) or a drag (pan) at canvas ``(x, y)``."""
        with self._lock:
            self.cursor = (x, y)
            self.message = None
            if self.tool == "pan":
                self._drag = (x, y)
                return Redraw(cursor=True)
            if self.tool == "objects":
                try:
                    oid = self.objects.click(x, y, self.object_class)
                except BrushlabError as exc:
                    self.message = str(exc)
                    return Redraw(cursor=True)
                if oid is None:
                    self.message = "no object there"
                    return Redraw(cursor=True)
                self.objects.invalidate()
                self.message = f"object {oid} is now {self.object_class!r}"
                return Redraw(overlay=True, cursor=True)
            value = 0 if self.tool == "erase" else self.class_id
            try:
                self.session.begin_stroke(self.image, value, self.radius,
                                          plane=self.plane_key or None)
            except BrushlabError as exc:
                self.message = str(exc)
                return Redraw(cursor=True)
            self._stroking = True
            return self._extend(x, y)

    def mouse_move(self, x: float, y: float) -> Redraw:
        """Move the cursor; extend the stroke or drag the view when a button is down."""
        with self._lock:
            self.cursor = (x, y)
            if self._drag is not None:
                self.viewport.pan(y - self._drag[1], x - self._drag[0])
                self._drag = (x, y)
                return ALL
            if self._stroking:
                return self._extend(x, y)
            return Redraw(cursor=True)

    def mouse_up(self, x: float, y: float) -> Redraw:
        """End the stroke (one undo step) or the drag; a stroke requests a live update."""
        with self._lock:
            self.cursor = (x, y)
            if self._drag is not None:
                self._drag = None
                self._view_changed()
                return Redraw(cursor=True)
            if not self._stroking:
                return Redraw(cursor=True)
            redraw = self._extend(x, y)
            return redraw | self._end_stroke()

    def mouse_out(self, x: float, y: float) -> Redraw:
        """End any stroke or drag when the pointer leaves the canvas (nothing painted is lost)."""
        with self._lock:
            self.cursor = None
            if self._drag is not None:
                self._drag = None
                self._view_changed()
            return self._end_stroke() | Redraw(cursor=True)

    def wheel(self, dx: float, dy: float) -> Redraw:
        """Zoom about the cursor: wheel down (positive ``dy``) zooms out."""
        at = self.cursor
        return self.zoom(WHEEL_STEP ** (-float(dy)), at)

    def _extend(self, x: float, y: float) -> Redraw:
        iy, ix = self.viewport.canvas_to_image(y, x)
        # Pixel i covers [i, i + 1): its centre, where the brush measures from, is i + 0.5.
        box = self.session.extend_stroke([(iy - 0.5, ix - 0.5)])
        if box is None:
            return Redraw(cursor=True)
        return Redraw(labels=True, labels_rect=self.viewport.canvas_rect(box), cursor=True)

    def _end_stroke(self) -> Redraw:
        if not self._stroking:
            return Redraw()
        self._stroking = False
        result = self.session.end_stroke()
        if result.message:
            self.message = result.message
        if result.changed:
            self._labels_changed()
        return Redraw(cursor=True)

    # -- label edits ---------------------------------------------------------------------
    def undo(self) -> Redraw:
        """Undo the last stroke (or import)."""
        with self._lock:
            self._end_stroke()
            if self.session.undo() is None:
                self.message = "nothing to undo"
                return Redraw()
            self._labels_changed()
            return Redraw(labels=True)

    def redo(self) -> Redraw:
        """Redo the last undone step."""
        with self._lock:
            self._end_stroke()
            if self.session.redo() is None:
                self.message = "nothing to redo"
                return Redraw()
            self._labels_changed()
            return Redraw(labels=True)

    def key_down(self, key: str, *, shift: bool = False, ctrl: bool = False,
                 meta: bool = False) -> Redraw:
        """Apply a keyboard shortcut (see :data:`brushlab.view._status.SHORTCUTS`)."""
        from brushlab.view._keys import key_down

        with self._lock:
            return key_down(self, key, shift=shift, ctrl=ctrl, meta=meta)

    def status(self) -> Status:
        """Return the status now: what is true and what to do next (see StatusLine)."""
        return self.status_line.status()

    def labels_changed(self) -> Redraw:
        """Labels changed outside the pointer (import, class removal): redraw and retrain."""
        with self._lock:
            self._labels_changed()
            return Redraw(labels=True, overlay=True)

    def _labels_changed(self) -> None:
        if self._live is not None:
            self._live.notify_stroke()

    # -- live training and overlays ------------------------------------------------------
    @property
    def live(self) -> bool:
        """Whether strokes retrain and re-predict the view automatically."""
        return self._live is not None and self._live.enabled

    def set_live(self, enabled: bool) -> None:
        """Turn live training on or off (the worker thread starts on first use)."""
        with self._lock:
            if enabled and self._live is None:
                self._live = self.session.live(self._on_live, self.live_settings)
            if self._live is not None:
                self._live.enabled = bool(enabled)
            if enabled:
                self._view_changed()
                if self._live is not None:
                    self._live.notify_stroke()

    def wait_idle(self, timeout: float | None = 30.0) -> bool:
        """Wait until live training has served every request (for scripts and tests)."""
        return self._live.wait_idle(timeout) if self._live is not None else True

    def _view_changed(self) -> None:
        if self._live is not None:
            self._live.set_view(self.image, self.viewport.visible_region(),
                                plane=self.plane_key or None, level=self.viewport.level())

    def _on_live(self, update: LiveUpdate) -> None:
        if update.error is not None:
            self.live_errors.append(update.error)
            self.message = update.error
        else:
            with self._lock:
                if update.generation < self._result_generation:
                    return  # never replace a newer overlay with an older one
                self._result_generation = update.generation
                self._set_result(update.result, update.image, update.plane)
                if self._live is not None and self._live.classifier is not None:
                    self._last_classifier = self._live.classifier
        if self.on_overlay is not None:
            self.on_overlay()

    def _set_result(self, result: xr.Dataset | None, image: int, plane: tuple[int, ...]) -> None:
        self._result = result
        self._result_key = (image, tuple(plane))

    def train(self) -> PixelClassifier:
        """Train the full classifier (session settings) and predict the view with it."""
        version = self.session.version
        clf = self.session.train()
        with self._lock:
            self._last_classifier = clf
        self.status_line.trained_version = version
        self.predict_view(clf)
        return clf

    def predict_view(self, classifier: PixelClassifier | None = None) -> xr.Dataset:
        """Predict the visible region (at the view's resolution) and make it the overlay."""
        region = self.viewport.visible_region()
        result = self.session.predict_region(self.image, region, plane=self.plane_key or None,
                                             level=self.viewport.level(), classifier=classifier)
        with self._lock:
            self._set_result(result, self.image, self.plane_key)
            if self.overlay == "none":
                self.overlay = "probability"
        return result

    def show_probabilities(self, probabilities: np.ndarray, class_names: list[str]) -> None:
        """Overlay class probabilities ``(K, h, w)`` of the whole plane (e.g. from a model)."""
        h, w = _plane_shape(self.session, self.image)
        if probabilities.ndim != 3 or probabilities.shape[1:] != (h, w):
            raise ImageError(f"probabilities must be (classes, {h}, {w}) for this plane, "
                             f"got {probabilities.shape}")
        result = build_result(
            np.asarray(probabilities, np.float32), class_names=class_names, dims=["y", "x"],
            coords={"y": np.arange(h), "x": np.arange(w)},
            attrs={"image": self.image, "plane": list(self.plane_key), "level": 0,
                   "source": "model", "step": 1, "region": [[0, h], [0, w]]})
        with self._lock:
            # live overlays already requested are older: drop them; new strokes win again
            live_gen = self._live.generation if self._live is not None else 0
            self._result_generation = max(self._result_generation, live_gen + 1)
            self._set_result(result, self.image, self.plane_key)
            if self.overlay in ("none", "objects", "object classes"):
                self.overlay = "probability"

    @property
    def classifier(self) -> PixelClassifier | None:
        """The classifier trained last: by :meth:`train`, or the live forest."""
        return self._last_classifier

    @property
    def result(self) -> xr.Dataset | None:
        """The overlay's prediction (of the shown image and plane), if any."""
        with self._lock:
            if self._result_key != (self.image, self.plane_key):
                return None
            return self._result

    def suggest(self, size: int | None = None) -> tuple[slice, slice]:
        """Find the most uncertain window of the view; it is outlined until the view moves."""
        region = self.viewport.visible_region()
        if size is None:
            size = max(16, min(region[0].stop - region[0].start,
                               region[1].stop - region[1].start) // 4)
        window = self.session.suggest(self.image, region, plane=self.plane_key or None,
                                      size=int(size))
        with self._lock:
            self.suggestion = window
        return window

    def close(self) -> None:
        """Stop live training."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    def state(self) -> dict[str, Any]:
        """JSON-able view state (image, plane, tool, class, brush, opacities, zoom)."""
        return {
            "image": self.image, "plane": dict(self.plane), "tool": self.tool,
            "class_id": self.class_id, "radius": self.radius,
            "label_opacity": self.label_opacity, "overlay": self.overlay,
            "overlay_class": self.overlay_class, "overlay_opacity": self.overlay_opacity,
            "viewport": self.viewport.state(),
            "display": {str(k): {"channels": v.channels, "ranges": [list(r) for r in v.ranges]}
                        for k, v in self.display.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state` (unknown or invalid entries are ignored)."""
        try:
            self.select_image(int(state.get("image", 0)))
            if state.get("plane"):
                self.set_plane(**{k: int(v) for k, v in state["plane"].items()})
            for key, d in (state.get("display") or {}).items():
                i = int(key)
                if 0 <= i < len(self.session.images):
                    if i not in self.display:
                        self.display[i] = DisplaySettings.for_plane(
                            self.session.plane_image(i, _first_plane(self.session, i)))
                    if len(d["ranges"]) == self.display[i].n_channels:
                        self.display[i].channels = [int(c) for c in d["channels"]]
                        self.display[i].ranges = [(float(a), float(b)) for a, b in d["ranges"]]
        except (BrushlabError, KeyError, TypeError, ValueError):
            return
        self.tool = state.get("tool", self.tool) if state.get("tool") in TOOLS else self.tool
        n = len(self.session.classes)
        if isinstance(state.get("class_id"), int) and 1 <= state["class_id"] <= n:
            self.class_id = state["class_id"]
        for name in ("radius", "label_opacity", "overlay_opacity"):
            if isinstance(state.get(name), (int, float)):
                setattr(self, name, float(state[name]))
        if state.get("overlay") in OVERLAYS:
            self.overlay = state["overlay"]
        if "viewport" in state:
            try:
                self.viewport.restore(state["viewport"])
            except (KeyError, TypeError, ValueError):
                pass
        self._view_changed()


def _plane_shape(session: Session, index: int) -> tuple[int, int]:
    h, w = session.labels(index).shape[-2:]
    return int(h), int(w)


def _first_plane(session: Session, index: int) -> dict[str, int] | None:
    sizes = session.plane_sizes(index)
    return {d: 0 for d in sizes} or None
