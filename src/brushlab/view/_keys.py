"""Keyboard shortcuts as ilastik users expect them, headless (the widget only forwards keys).

1-9 select a class, ``[`` and ``]`` shrink and grow the brush, E toggles the eraser,
Ctrl+Z undoes, Ctrl+Shift+Z (or Ctrl+Y) redoes; Cmd works for Ctrl on a Mac.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from brushlab.view._redraw import Redraw

if TYPE_CHECKING:
    from brushlab.view._annotation_view import AnnotationView

__all__ = ["MAX_RADIUS", "key_down"]

MAX_RADIUS = 50  # the brush slider's range


def key_down(view: AnnotationView, key: str, *, shift: bool = False, ctrl: bool = False,
             meta: bool = False) -> Redraw:
    """Apply the shortcut for ``key`` (a DOM ``KeyboardEvent.key``) to ``view``.

    Returns
    -------
    Redraw
        What to redraw; empty for keys without a shortcut.
    """
    command = ctrl or meta
    lower = key.lower()
    if command and lower == "z":
        return view.redo() if shift else view.undo()
    if command and lower == "y":
        return view.redo()
    if command:
        return Redraw()
    if key.isdigit() and key != "0":
        cid = int(key)
        if cid > len(view.session.classes):
            view.message = f"there is no class {cid}: add one in the Classes tab"
            return Redraw()
        view.class_id = cid
        if view.tool == "erase":
            view.tool = "paint"
        return Redraw(cursor=True)
    if key in ("[", "]"):
        step = -1.0 if key == "[" else 1.0
        view.radius = float(min(MAX_RADIUS, max(0.0, round(view.radius) + step)))
        return Redraw(cursor=True)
    if lower == "e":
        view.tool = "paint" if view.tool == "erase" else "erase"
        return Redraw(cursor=True)
    return Redraw()
