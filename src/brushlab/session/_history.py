"""Undo/redo of label edits: each step keeps only the changed pixels' old and new values."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Edit", "History"]


@dataclass
class Edit:
    """One undoable change of one image's labels.

    Attributes
    ----------
    image : int
        Index of the image in the session.
    kind : str
        ``"paint"``, ``"erase"``, ``"import"`` or ``"segmentation"``.
    index : numpy.ndarray
        Flat indices into the image's label array (C order) of the changed pixels.
    old, new : numpy.ndarray
        Their values before and after.
    plane : tuple of int
        Indices of the plane (t and/or z) the edit lies in; ``()`` for 2D images
        and for edits spanning planes.
    """

    image: int
    kind: str
    index: np.ndarray
    old: np.ndarray
    new: np.ndarray
    plane: tuple[int, ...] = field(default=())

    @property
    def n_pixels(self) -> int:
        """Number of changed pixels."""
        return int(self.index.size)

    def __repr__(self) -> str:
        return (
            f"Edit(image={self.image}, kind={self.kind!r}, n_pixels={self.n_pixels}, "
            f"plane={self.plane})"
        )


class History:
    """Two stacks of :class:`Edit`: undo and redo; a new edit clears redo.

    Parameters
    ----------
    max_steps : int
        Oldest steps are forgotten beyond this many (their pixels stay as they are).
    """

    def __init__(self, max_steps: int = 500) -> None:
        self.max_steps = int(max_steps)
        self._undo: list[Edit] = []
        self._redo: list[Edit] = []

    @property
    def can_undo(self) -> bool:
        """Whether there is a step to undo."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """Whether there is a step to redo."""
        return bool(self._redo)

    def push(self, edit: Edit) -> None:
        """Record a new step (steps that changed nothing are not recorded)."""
        if edit.n_pixels == 0:
            return
        self._undo.append(edit)
        self._redo.clear()
        del self._undo[: max(0, len(self._undo) - self.max_steps)]

    def pop_undo(self) -> Edit | None:
        """Move the newest step to the redo stack and return it."""
        if not self._undo:
            return None
        edit = self._undo.pop()
        self._redo.append(edit)
        return edit

    def pop_redo(self) -> Edit | None:
        """Move the newest undone step back to the undo stack and return it."""
        if not self._redo:
            return None
        edit = self._redo.pop()
        self._undo.append(edit)
        return edit

    def remove_class(self, class_id: int) -> None:
        """Rewrite stored values after class ``class_id`` is deleted.

        Its pixels become 0 and later ids shift down by one, as in the label
        arrays, so undoing an older stroke stays consistent.
        """
        for edit in (*self._undo, *self._redo):
            for values in (edit.old, edit.new):
                hit = values == class_id
                values[values > class_id] -= 1
                values[hit] = 0

    def widen(self, dtype: np.dtype) -> None:
        """Store values as ``dtype`` (labels grew from uint8 to uint16)."""
        for edit in (*self._undo, *self._redo):
            edit.old = edit.old.astype(dtype)
            edit.new = edit.new.astype(dtype)

    def clear(self) -> None:
        """Forget all steps."""
        self._undo.clear()
        self._redo.clear()
