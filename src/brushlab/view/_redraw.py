"""What a widget must redraw after an action: the view's answer to every event."""

from __future__ import annotations

from dataclasses import dataclass

from brushlab.view._viewport import CanvasRect

__all__ = ["ALL", "Redraw"]


@dataclass
class Redraw:
    """Layers a widget must redraw after an action; ``labels_rect`` limits the labels layer."""

    image: bool = False
    labels: bool = False
    labels_rect: CanvasRect | None = None
    overlay: bool = False
    cursor: bool = False

    def __or__(self, other: Redraw) -> Redraw:
        labels = self.labels or other.labels
        # A labels redraw without a rectangle is a whole-layer redraw: it absorbs the other.
        whole = (self.labels and self.labels_rect is None) or (
            other.labels and other.labels_rect is None)
        rect = None if whole else _union(self.labels_rect, other.labels_rect)
        return Redraw(self.image or other.image, labels, rect,
                      self.overlay or other.overlay, self.cursor or other.cursor)


ALL = Redraw(image=True, labels=True, overlay=True, cursor=True)


def _union(a: CanvasRect | None, b: CanvasRect | None) -> CanvasRect | None:
    if a is None:
        return b
    if b is None:
        return a
    x0, y0 = min(a.x, b.x), min(a.y, b.y)
    x1, y1 = max(a.x + a.width, b.x + b.width), max(a.y + a.height, b.y + b.height)
    return CanvasRect(x0, y0, x1 - x0, y1 - y0)
