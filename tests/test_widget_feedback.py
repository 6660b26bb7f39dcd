"""The Annotator's feedback without a browser: progress while busy, status after, keys."""

from __future__ import annotations

import threading

import numpy as np

import brushlab
from brushlab.features import FeatureSet
from brushlab.view._status import Status
from brushlab.widgets._feedback import BusyRunner, shortcuts_button, status_html

FAST = FeatureSet({"gaussian_smoothing": [1.0]})


def _annotator():
    image = np.zeros((40, 40), np.float32)
    image[:, 20:] = 1
    a = brushlab.annotate(image, features=FAST, size=40, live=False,
                          classifier_params={"n_trees": 3})
    a.session.paint(0, [(5, 2), (35, 2)], class_id=1, radius=1)
    a.session.paint(0, [(5, 35), (35, 35)], class_id=2, radius=1)
    return a


def test_train_button_shows_progress_then_what_to_do():
    a = _annotator()
    release = threading.Event()
    real_train = a.view.train

    def slow_train():
        release.wait(30)
        return real_train()

    a.view.train = slow_train
    try:
        a._render_status()
        assert "Live is off: press Train" in a.status.value
        a.train_button.click()
        assert "<progress" in a.status.value and "training…" in a.status.value
        a.train_button.click()  # a second press while it runs
        release.set()
        assert a._busy.wait(30)
        assert a._busy.thread is not None
        a._busy.thread.join(30)
        assert "trained 3 trees on" in a.status.value and "<progress" not in a.status.value
    finally:
        a.close()
        a.session.close()


def test_keys_reach_the_controls():
    a = _annotator()
    try:
        a._on_key("2", False, False, False)
        a._on_key("]", False, False, False)
        a._on_key("e", False, False, False)
        assert (a.class_select.value, a.brush.value, a.tool.value) == (2, 4, "erase")
        a._on_key("z", False, True, False)  # nothing to undo: a note, not an error
        assert "brushlab-error" not in a.status.value
    finally:
        a.close()
        a.session.close()


def test_status_html_and_help():
    assert "<progress class='brushlab-progress'></progress>" in status_html(
        Status("training… 1 s", "busy"))
    assert "value='2' max='5'" in status_html(Status("running… 1 s", "busy", (2, 5)))
    assert "brushlab-error" in status_html(Status("bad <file>", "error"))
    assert "&lt;file&gt;" in status_html(Status("bad <file>", "error"))
    tip = shortcuts_button().tooltip
    for keys in ("1-9", "[ / ]", "E", "Ctrl+Z", "Ctrl+Shift+Z"):
        assert keys in tip


def test_busy_runner_runs_one_task_at_a_time():
    from brushlab.view._status import StatusLine

    class FakeView:
        session = None

    renders = []
    line = StatusLine(FakeView())
    gate = threading.Event()
    runner = BusyRunner(line, lambda: renders.append(1), tick=0.01)
    assert runner.start("waiting", lambda: gate.wait(10))
    assert not runner.start("again", lambda: None)
    gate.set()
    assert runner.wait(10)
    runner.thread.join(10)
    assert not runner.running and len(renders) >= 2
