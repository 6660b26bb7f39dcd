"""Viewport: which image pixels a canvas shows, at what zoom, and the mapping both ways."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Viewport", "CanvasRect"]

MIN_ZOOM_OUT = 0.25  # of the fitted scale: a little margin around the whole image
MAX_SCALE = 64.0  # canvas pixels per image pixel


@dataclass(frozen=True)
class CanvasRect:
    """A rectangle in canvas buffer pixels: ``x, y`` top-left, ``width, height``."""

    x: int
    y: int
    width: int
    height: int


class Viewport:
    """Map between canvas buffer pixels and image pixels of one plane.

    ``scale`` is canvas pixels per image pixel; ``origin`` is the image
    coordinate ``(y, x)`` at the canvas's top-left corner. Image pixel ``i``
    covers ``[i, i + 1)``; a canvas pixel shows the image pixel under its centre
    (nearest neighbour, so labels stay crisp at any zoom).

    Parameters
    ----------
    image_shape : tuple of int
        ``(height, width)`` of the plane.
    canvas_shape : tuple of int
        ``(height, width)`` of the canvas buffer.

    Examples
    --------
    >>> v = Viewport((100, 200), (400, 400))
    >>> v.scale
    2.0
    >>> v.canvas_to_image(200, 200)  # the canvas centre shows the plane's centre
    (50.0, 100.0)
    """

    def __init__(self, image_shape: tuple[int, int], canvas_shape: tuple[int, int]) -> None:
        self.image_shape = (int(image_shape[0]), int(image_shape[1]))
        self.canvas_shape = (int(canvas_shape[0]), int(canvas_shape[1]))
        self.scale = 1.0
        self.origin = (0.0, 0.0)
        self.fit()

    # -- setting the view ---------------------------------------------------------
    @property
    def fit_scale(self) -> float:
        """The scale at which the whole plane just fits the canvas."""
        (h, w), (ch, cw) = self.image_shape, self.canvas_shape
        return min(ch / h, cw / w)

    def fit(self) -> None:
        """Show the whole plane, centred."""
        self.scale = self.fit_scale
        self._centre_on(self.image_shape[0] / 2, self.image_shape[1] / 2)

    def _centre_on(self, cy: float, cx: float) -> None:
        ch, cw = self.canvas_shape
        self.origin = (cy - ch / (2 * self.scale), cx - cw / (2 * self.scale))

    def set_image_shape(self, image_shape: tuple[int, int]) -> None:
        """Show another plane size (another image): fit it."""
        self.image_shape = (int(image_shape[0]), int(image_shape[1]))
        self.fit()

    def zoom_at(self, factor: float, y: float, x: float) -> None:
        """Zoom by ``factor`` keeping the image point under canvas pixel ``(y, x)`` in place."""
        iy, ix = self.canvas_to_image(y, x)
        lo = self.fit_scale * MIN_ZOOM_OUT
        self.scale = float(np.clip(self.scale * factor, lo, max(MAX_SCALE, lo)))
        self.origin = (iy - y / self.scale, ix - x / self.scale)

    def zoom(self, factor: float) -> None:
        """Zoom about the canvas centre."""
        ch, cw = self.canvas_shape
        self.zoom_at(factor, ch / 2, cw / 2)

    def pan(self, dy: float, dx: float) -> None:
        """Move the image by ``(dy, dx)`` canvas pixels (drag direction), keeping part in view."""
        oy = self.origin[0] - dy / self.scale
        ox = self.origin[1] - dx / self.scale
        (h, w), (ch, cw) = self.image_shape, self.canvas_shape
        # Keep at least a quarter of the canvas on the image.
        my, mx = 0.75 * ch / self.scale, 0.75 * cw / self.scale
        self.origin = (float(np.clip(oy, -my, h - ch / self.scale + my)),
                       float(np.clip(ox, -mx, w - cw / self.scale + mx)))

    def show(self, region: tuple[slice, slice]) -> None:
        """Zoom and pan so that ``region`` (image pixels) fills the canvas."""
        ys, xs = region
        (ch, cw) = self.canvas_shape
        self.scale = float(min(ch / max(ys.stop - ys.start, 1), cw / max(xs.stop - xs.start, 1)))
        self.scale = min(self.scale, MAX_SCALE)
        self._centre_on((ys.start + ys.stop) / 2, (xs.start + xs.stop) / 2)

    # -- mapping ------------------------------------------------------------------
    def canvas_to_image(self, y: float, x: float) -> tuple[float, float]:
        """Image coordinate (continuous) under canvas pixel position ``(y, x)``."""
        return self.origin[0] + y / self.scale, self.origin[1] + x / self.scale

    def image_to_canvas(self, iy: float, ix: float) -> tuple[float, float]:
        """Canvas position of image coordinate ``(iy, ix)``."""
        return (iy - self.origin[0]) * self.scale, (ix - self.origin[1]) * self.scale

    def visible_region(self) -> tuple[slice, slice]:
        """Image pixels in view, clipped to the plane (at least one pixel)."""
        (h, w), (ch, cw) = self.image_shape, self.canvas_shape
        y0, x0 = self.origin
        y1, x1 = y0 + ch / self.scale, x0 + cw / self.scale
        ys = slice(int(np.clip(math.floor(y0), 0, h - 1)), int(np.clip(math.ceil(y1), 1, h)))
        xs = slice(int(np.clip(math.floor(x0), 0, w - 1)), int(np.clip(math.ceil(x1), 1, w)))
        if ys.stop <= ys.start:
            ys = slice(ys.start, ys.start + 1)
        if xs.stop <= xs.start:
            xs = slice(xs.start, xs.start + 1)
        return ys, xs

    def level(self) -> int:
        """Pyramid level whose pixels are no smaller than a canvas pixel (0 when zoomed in)."""
        if self.scale >= 1:
            return 0
        return int(min(16, math.floor(math.log2(1 / self.scale) + 1e-9)))

    def canvas_rect(self, region: tuple[slice, slice]) -> CanvasRect | None:
        """Canvas pixels showing image ``region`` (clipped to the canvas), or None if off-canvas."""
        ys, xs = region
        ch, cw = self.canvas_shape
        top, left = self.image_to_canvas(ys.start, xs.start)
        bottom, right = self.image_to_canvas(ys.stop, xs.stop)
        y0, x0 = max(0, math.floor(top)), max(0, math.floor(left))
        y1, x1 = min(ch, math.ceil(bottom)), min(cw, math.ceil(right))
        if y1 <= y0 or x1 <= x0:
            return None
        return CanvasRect(int(x0), int(y0), int(x1 - x0), int(y1 - y0))

    def sample_indices(self, rect: CanvasRect | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Image row and column under each canvas row and column of ``rect`` (-1: off the image).

        Returns
        -------
        tuple of numpy.ndarray
            ``rows`` (rect height) and ``cols`` (rect width), int64.
        """
        ch, cw = self.canvas_shape
        rect = rect or CanvasRect(0, 0, cw, ch)
        h, w = self.image_shape
        rows = np.floor(self.origin[0] + (np.arange(rect.y, rect.y + rect.height) + 0.5)
                        / self.scale).astype(np.int64)
        cols = np.floor(self.origin[1] + (np.arange(rect.x, rect.x + rect.width) + 0.5)
                        / self.scale).astype(np.int64)
        rows[(rows < 0) | (rows >= h)] = -1
        cols[(cols < 0) | (cols >= w)] = -1
        return rows, cols

    def state(self) -> dict[str, float]:
        """JSON-able zoom and pan, for saving a view."""
        return {"scale": self.scale, "origin_y": self.origin[0], "origin_x": self.origin[1]}

    def restore(self, state: dict[str, float]) -> None:
        """Restore a :meth:`state`."""
        self.scale = float(state["scale"])
        self.origin = (float(state["origin_y"]), float(state["origin_x"]))


def sample(array: np.ndarray, rows: np.ndarray, cols: np.ndarray, fill: int = 0) -> np.ndarray:
    """Gather ``array[rows][:, cols]`` (leading two axes) with ``fill`` where an index is -1."""
    out = array[np.clip(rows, 0, None)][:, np.clip(cols, 0, None)]
    if (rows < 0).any() or (cols < 0).any():
        out = out.copy()
        out[rows < 0] = fill
        out[:, cols < 0] = fill
    return out
