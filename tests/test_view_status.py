"""The widget's status line and keyboard shortcuts, headless: no browser, no ipywidgets."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

import brushlab
from brushlab.view import AnnotationView


@pytest.fixture
def view():
    session = brushlab.Session(skimage.data.coins()[:96, :128].astype(np.float32),
                               classes=["background", "coin", "edge"])
    view = AnnotationView(session, (256, 256))
    yield view
    view.close()
    session.close()


def _paint(view, class_id, row):
    view.session.paint(0, [(row, 10), (row, 60)], class_id=class_id, radius=2)


def test_status_says_which_class_lacks_labels(view):
    status = view.status()
    assert status.kind == "todo" and status.text.startswith("nothing is labelled yet")
    _paint(view, 1, 20)
    status = view.status()
    assert status.kind == "todo"
    assert "'coin' and 'edge' have no labels yet: select it (key 2)" in status.text


def test_live_off_after_two_classes_says_press_train(view):
    """The issue's case: two classes painted with Live off, the status must not be stale."""
    _paint(view, 1, 20)
    _paint(view, 2, 60)
    status = view.status()
    assert status.kind == "todo"
    assert status.text.startswith("Live is off: press Train")
    assert "'edge' has no labels yet: it will not be predicted" in status.text
    view.train()
    status = view.status()
    assert status.kind == "ok" and status.text.startswith("trained ")
    _paint(view, 3, 80)
    assert "labels changed since" in view.status().text


def test_live_status_names_the_labelled_pixels(view):
    _paint(view, 1, 20)
    _paint(view, 2, 60)
    view.set_live(True)
    assert view.wait_idle(60)
    n = sum(view.session.label_counts().values())
    status = view.status()
    assert status.kind == "ok"
    assert status.text.startswith("live: ") and f"on {n:,} labelled pixels" in status.text


def test_busy_shows_the_task_and_seconds_then_errors_in_plain_words(view):
    line = view.status_line
    with line.busy("training"):
        t0 = line._started
        assert line.status(now=t0 + 3.2).text == "training… 3 s"
        line.progress(2, 5)
        assert line.status(now=t0 + 1).progress == (2, 5)
        assert view.status().kind == "busy"
    line.error("LabelError: nothing to train on\nTraceback ...")
    assert view.status() == ("nothing to train on", "error", None)
    _paint(view, 1, 20)  # the error is about the past once labels change
    assert view.status().kind == "todo"


def test_note_comes_before_the_state(view):
    view.status_line.note("labels written to labels.tif")
    text = view.status().text
    assert text.startswith("labels written to labels.tif. Nothing is labelled yet")


def test_keyboard_shortcuts(view):
    view.key_down("3")
    assert view.class_id == 3
    view.key_down("7")
    assert view.class_id == 3 and "no class 7" in view.message
    view.radius = 3
    view.key_down("]")
    view.key_down("]")
    view.key_down("[")
    assert view.radius == 4
    view.radius = 50
    view.key_down("]")
    assert view.radius == 50
    view.key_down("e")
    assert view.tool == "erase"
    view.key_down("E")
    assert view.tool == "paint"
    view.key_down("e")
    view.key_down("1")  # choosing a class goes back to painting
    assert (view.class_id, view.tool) == (1, "paint")
    view.radius = 2
    view.mouse_down(40, 40)
    view.mouse_move(80, 40)
    view.mouse_up(80, 40)
    painted = int((view.session.labels(0) > 0).sum())
    assert painted > 0
    view.key_down("z", ctrl=True)
    assert int((view.session.labels(0) > 0).sum()) == 0
    view.key_down("Z", ctrl=True, shift=True)
    assert int((view.session.labels(0) > 0).sum()) == painted
    view.key_down("z", meta=True)
    view.key_down("y", ctrl=True)
    assert int((view.session.labels(0) > 0).sum()) == painted
    assert view.key_down("q") == brushlab.view.Redraw()
