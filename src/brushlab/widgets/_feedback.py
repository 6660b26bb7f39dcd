"""What the Annotator tells the user: status line, progress while busy, shortcuts help, layout CSS.

The words come from the headless :class:`~brushlab.view._status.StatusLine`; this module
only renders them (HTML), keeps them ticking while a task runs on a worker thread, and
holds the few styles that keep labels whole at 1280-1600 px wide.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from html import escape
from typing import Any

import ipywidgets as w

from brushlab.view import SHORTCUTS, Status

__all__ = ["STYLE", "BusyRunner", "shortcuts_button", "status_html"]

# Tabs take the width of their title instead of shrinking it to "Importan…", and wrap to a
# second row when the panel is narrow; the status line's progress bar sits on its text line.
STYLE = """<style>
.brushlab-tabs .lm-TabBar-content, .brushlab-tabs .p-TabBar-content { flex-wrap: wrap; }
.brushlab-tabs .lm-TabBar-tab, .brushlab-tabs .p-TabBar-tab {
  flex: 0 0 auto !important; min-width: fit-content !important; }
.brushlab-status progress { width: 120px; height: 0.9em; vertical-align: middle;
  margin-right: 6px; }
</style>"""


def status_html(status: Status) -> str:
    """Render the status line as HTML: a progress bar while busy, red for errors."""
    text = escape(status.text)
    if status.kind == "error":
        return (f"<span class='brushlab-status brushlab-error' style='color:#b00020'>"
                f"⚠ {text}</span>")
    bar = ""
    if status.kind == "busy":
        done = status.progress
        # no value: the browser's indeterminate (animated) bar
        value = f" value='{done[0]}' max='{max(1, done[1])}'" if done else ""
        bar = f"<progress class='brushlab-progress'{value}></progress>"
    return f"<span class='brushlab-status brushlab-{status.kind}'>{bar}{text}</span>"


def shortcuts_button() -> w.Button:
    """Return a help button whose tooltip lists the keyboard shortcuts."""
    lines = "\n".join(f"{keys}: {what}" for keys, what in SHORTCUTS)
    return w.Button(icon="keyboard-o", tooltip=f"Keyboard shortcuts (click the image first)\n"
                                                 f"{lines}",
                    layout=w.Layout(width="40px"))


class BusyRunner:
    """Runs one task at a time on a worker thread, re-rendering the status line meanwhile.

    Parameters
    ----------
    status_line : StatusLine
        Marks the task busy while it runs.
    render : callable
        Shows the current status (called every ``tick`` seconds while busy).
    tick : float
        Seconds between updates of the elapsed time.
    """

    def __init__(self, status_line: Any, render: Callable[[], None], tick: float = 0.5) -> None:
        self.status_line, self.render, self.tick = status_line, render, tick
        self.thread: threading.Thread | None = None
        self._done = threading.Event()

    @property
    def running(self) -> bool:
        """Whether a task is running."""
        return self.thread is not None and self.thread.is_alive()

    def start(self, task: str, fn: Callable[[], Any]) -> bool:
        """Run ``fn`` as ``task`` (e.g. ``"training"``); False if a task is running."""
        if self.running:
            return False
        self._done.clear()

        def work() -> None:
            try:
                with self.status_line.busy(task):
                    fn()
            finally:
                self._done.set()
                self.render()

        def ticker() -> None:
            while not self._done.wait(self.tick):
                self.render()

        self.thread = threading.Thread(target=work, daemon=True, name=f"brushlab-{task}")
        self.thread.start()
        threading.Thread(target=ticker, daemon=True, name="brushlab-status").start()
        self.render()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running task; True when none is running."""
        return self._done.wait(timeout) if self.thread is not None else True
