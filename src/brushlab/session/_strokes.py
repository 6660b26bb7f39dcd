"""A brush stroke in progress: begin, extend with sparse mouse points, end (one undo step)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from brushlab.errors import LabelError
from brushlab.session._brush import as_points, segment_masks
from brushlab.session._history import Edit

__all__ = ["Stroke", "StrokeResult"]


@dataclass(frozen=True)
class StrokeResult:
    """What a finished stroke did.

    Attributes
    ----------
    image : int
        Image index.
    plane : tuple of int
        Plane indices (t and/or z); ``()`` for a 2D image.
    class_id : int
        Class painted, 0 for the eraser.
    changed : int
        Pixels whose label changed; 0 means no undo step was recorded.
    region : tuple of slice or None
        ``(y, x)`` bounding box of the changed pixels, to redraw.
    message : str or None
        Why nothing changed (e.g. the stroke lay outside the image), else None.
    """

    image: int
    plane: tuple[int, ...]
    class_id: int
    changed: int
    region: tuple[slice, slice] | None
    message: str | None = None


class Stroke:
    """A stroke painting ``value`` with a disc brush on one plane of a label array.

    Created by :meth:`Session.begin_stroke`; labels change as points arrive,
    so a view can redraw the returned dirty box at once. :meth:`end` records the
    stroke as one undo step holding only the changed pixels. Usable as a
    context manager (ends on exit).
    """

    def __init__(
        self,
        *,
        image: int,
        plane: tuple[int, ...],
        value: int,
        radius: float,
        labels: np.ndarray,
        offset: int,
        lock: threading.RLock,
        on_change: Callable[[], None],
        on_end: Callable[[Stroke, Edit], None],
    ) -> None:
        self.image = image
        self.plane = plane
        self.value = int(value)
        self.radius = float(radius)
        self._labels = labels  # the 2D plane, a view into the image's label array
        self._offset = int(offset)
        self._lock = lock
        self._on_change = on_change
        self._on_end = on_end
        self._last: np.ndarray | None = None
        self._index: list[np.ndarray] = []
        self._old: list[np.ndarray] = []
        self._box: list[int] | None = None  # y0, y1, x0, x1 of changed pixels
        self._touched = False
        self._result: StrokeResult | None = None

    @property
    def active(self) -> bool:
        """Whether the stroke still takes points."""
        return self._result is None

    def extend(self, points: Any) -> tuple[slice, slice] | None:
        """Paint along ``points``, continuing from the previous point.

        Parameters
        ----------
        points : array-like
            One ``(y, x)`` pair or an ``(n, 2)`` sequence, in image pixels
            (floats are rounded); points outside the image are clipped away.

        Returns
        -------
        tuple of slice or None
            ``(y, x)`` box of the pixels this call changed, or None.
        """
        pts = as_points(points)
        with self._lock:  # the whole step is atomic: a concurrent end() or undo() waits
            if self._result is not None:
                raise LabelError("this stroke has ended: begin a new stroke to paint more")
            if pts.shape[0] == 0:
                return None
            if self._last is not None:
                pts = np.concatenate([self._last[None], pts])
            self._last = pts[-1]
            height, width = self._labels.shape
            box: list[int] | None = None
            for (sy, sx), mask in segment_masks(pts, self.radius, (height, width)):
                self._touched = True
                view = self._labels[sy, sx]
                change = mask & (view != self.value)
                if not change.any():
                    continue
                ry, rx = np.nonzero(change)
                self._old.append(view[ry, rx])
                view[ry, rx] = self.value
                gy, gx = ry + sy.start, rx + sx.start
                self._index.append(gy.astype(np.intp) * width + gx + self._offset)
                part = [int(gy.min()), int(gy.max()) + 1, int(gx.min()), int(gx.max()) + 1]
                box = part if box is None else _union(box, part)
            if box is not None:
                self._box = box if self._box is None else _union(self._box, box)
                self._on_change()
        return None if box is None else (slice(box[0], box[1]), slice(box[2], box[3]))

    def end(self) -> StrokeResult:
        """Finish the stroke: record it as one undo step if it changed anything.

        Returns
        -------
        StrokeResult
            What changed; ``message`` says why nothing did, e.g. when every
            point lay outside the image (a no-op, not an error: a drag may leave
            the canvas).
        """
        with self._lock:
            return self._end()

    def _end(self) -> StrokeResult:
        if self._result is not None:
            return self._result
        changed = int(sum(i.size for i in self._index))
        message = None
        if not self._touched:
            h, w = self._labels.shape
            message = (
                f"the stroke lies entirely outside the image (y 0..{h - 1}, x 0..{w - 1}): "
                "nothing was painted"
            )
        elif changed == 0:
            message = "the stroke changed no label (the pixels already had this class)"
        if changed:
            index = np.concatenate(self._index)
            old = np.concatenate(self._old)
            edit = Edit(
                image=self.image,
                kind="erase" if self.value == 0 else "paint",
                index=index,
                old=old,
                new=np.full(index.size, self.value, dtype=old.dtype),
                plane=self.plane,
            )
        else:
            edit = Edit(self.image, "paint", np.empty(0, np.intp), np.empty(0), np.empty(0))
        box = self._box
        region = None if box is None else (slice(box[0], box[1]), slice(box[2], box[3]))
        self._result = StrokeResult(self.image, self.plane, self.value, changed, region, message)
        self._on_end(self, edit)
        return self._result

    def __enter__(self) -> Stroke:
        return self

    def __exit__(self, *exc: object) -> None:
        self.end()


def _union(a: list[int], b: list[int]) -> list[int]:
    return [min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])]
