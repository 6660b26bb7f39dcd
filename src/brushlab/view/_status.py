"""The status line: what is true now and what to do next, computed from the state each time.

A message set once and left standing goes stale ("nothing is labelled yet" after two
classes are painted); so :meth:`StatusLine.status` derives the text from the session
and the view whenever it is asked: the task running (with its elapsed time), the last
error (until labels change or the next task starts), which classes still lack labels,
whether the overlay is up to date, and the next step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from brushlab.view._annotation_view import AnnotationView

__all__ = ["SHORTCUTS", "Status", "StatusLine"]

SHORTCUTS = (
    ("1-9", "select class 1-9"),
    ("[ / ]", "smaller / larger brush"),
    ("E", "eraser on / off"),
    ("Ctrl+Z", "undo"),
    ("Ctrl+Shift+Z, Ctrl+Y", "redo"),
)


class Status(NamedTuple):
    """One status line: ``text``, its ``kind`` and, while a task runs, its progress."""

    text: str
    kind: str  # "busy", "error", "todo" (a step is missing) or "ok"
    progress: tuple[int, int] | None = None  # (done, total) where the task reports it


class StatusLine:
    """Status of an :class:`~brushlab.view.AnnotationView`, recomputed on every call."""

    def __init__(self, view: AnnotationView) -> None:
        self._view = view
        self._lock = threading.Lock()
        self._task: str | None = None
        self._started = 0.0
        self._progress: tuple[int, int] | None = None
        self._error: tuple[str, int] | None = None  # text, label version when raised
        self._note: tuple[str, int] | None = None
        self.trained_version: int | None = None  # label version the last Train saw

    # -- what the widget reports ----------------------------------------------------------
    @contextmanager
    def busy(self, task: str) -> Iterator[None]:
        """Mark ``task`` (e.g. ``"training"``) as running for the duration of the block."""
        with self._lock:
            self._task, self._started, self._progress = task, time.monotonic(), None
            self._error = self._note = None
        try:
            yield
        finally:
            with self._lock:  # notes made meanwhile ("already running") are about the task
                self._task, self._progress, self._note = None, None, None

    def progress(self, done: int, total: int) -> None:
        """Report ``done`` of ``total`` steps of the running task."""
        with self._lock:
            self._progress = (int(done), int(total))

    def error(self, text: str) -> None:
        """Show ``text`` as an error until labels change or another task starts."""
        with self._lock:
            self._error = (_plain(text), self._version())

    def note(self, text: str) -> None:
        """Show ``text`` before the state until labels change."""
        with self._lock:
            self._note, self._error = (text, self._version()), None

    # -- what it shows ------------------------------------------------------------------
    def status(self, now: float | None = None) -> Status:
        """Return the status now: running task, else error, else labels and training state."""
        with self._lock:
            task, started, progress = self._task, self._started, self._progress
            error, note = self._error, self._note
        version = self._version()
        if task is not None:
            seconds = (time.monotonic() if now is None else now) - started
            done = f" ({progress[0]}/{progress[1]})" if progress else ""
            return Status(f"{task}… {seconds:.0f} s{done}", "busy", progress)
        if error is not None and error[1] == version:
            return Status(f"{error[0]}", "error")
        text, kind = self._state()
        if note is not None and note[1] == version:
            text = f"{note[0]}. {text[0].upper()}{text[1:]}"
        return Status(text, kind)

    def _state(self) -> tuple[str, str]:
        view = self._view
        session = view.session
        counts = session.label_counts()
        names = [c.name for c in session.classes]
        missing = [(i + 1, n) for i, n in enumerate(names) if counts.get(n, 0) == 0]
        n = sum(counts.values())
        if len(names) - len(missing) == 0:
            return ("nothing is labelled yet: choose a class (keys 1-9) and paint a few "
                    "pixels of each class on the image"), "todo"
        lacking = _lacking(missing)
        if len(names) - len(missing) < 2:
            return f"{lacking}: select it (key {missing[0][0]}) and paint some of its pixels", \
                "todo"
        also = f" ({lacking}: it will not be predicted)" if missing else ""
        live = getattr(view, "_live", None)
        if view.live and live is not None:
            clf = live.classifier
            if clf is None or view._result_generation < live.generation:
                return f"live: retraining with {n:,} labelled pixels…{also}", "busy"
            return (f"live: {clf.n_trees} trees on {n:,} labelled pixels{also}: paint where "
                    "the overlay is wrong, or press Train for the full classifier"), "ok"
        if self.trained_version is None or self.trained_version != session.version:
            before = "" if self.trained_version is None else " (labels changed since)"
            return (f"Live is off: press Train to segment with your {n:,} labelled "
                    f"pixels{before}{also}"), "todo"
        clf = view.classifier
        trees = f"{clf.n_trees} trees " if clf is not None else ""
        return (f"trained {trees}on {n:,} labelled pixels{also}: paint where the overlay "
                "is wrong, then Train again (or turn Live on)"), "ok"

    def _version(self) -> int:
        return int(getattr(self._view.session, "version", 0))


def _lacking(missing: list[tuple[int, str]]) -> str:
    quoted = [repr(name) for _, name in missing]
    if not quoted:
        return ""
    if len(quoted) == 1:
        return f"{quoted[0]} has no labels yet"
    return f"{', '.join(quoted[:-1])} and {quoted[-1]} have no labels yet"


def _plain(text: Any) -> str:
    """Return an error in plain words: no exception class names, no traceback."""
    line = str(text).strip().splitlines()[0] if str(text).strip() else "something went wrong"
    for prefix in ("ClassifierError: ", "LabelError: ", "ImageError: ", "BrushlabError: "):
        line = line.removeprefix(prefix)
    return line
