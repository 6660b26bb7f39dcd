"""LiveUpdater: debounced retrain and prediction of the view off the calling thread."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from brushlab.errors import ClassifierError
from brushlab.session import LiveSettings, LiveUpdate

from .test_session import PARAMS, blobs, make_session, scribble

VIEW = (slice(8, 60), slice(10, 80))
FAST = LiveSettings(debounce_s=0.0, preview_trees=4, n_trees=8, max_samples=256, boosted_trees=8)


class Recorder:
    def __init__(self):
        self.updates: list[LiveUpdate] = []
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, update):
        with self.lock:
            self.updates.append(update)
            self.threads.add(threading.current_thread().name)


@pytest.fixture
def session():
    s = make_session(blobs())
    yield s
    s.close()


def test_stroke_gives_preview_then_full_resolution(session):
    scribble(session)
    rec = Recorder()
    live = session.live(rec, FAST)
    live.set_view(0, VIEW)
    assert live.wait_idle(30)
    first = [u.level for u in rec.updates]
    assert first == [2, 0] and rec.updates[-1].final and rec.threads == {"brushlab-live"}
    rec.updates.clear()
    session.paint(0, [(30, 30), (35, 50)], 2, radius=1)
    gen = live.notify_stroke()
    assert live.wait_idle(30)
    preview, full = rec.updates
    assert (preview.generation, full.generation) == (gen, gen)
    assert (preview.level, preview.final, full.level, full.final) == (2, False, 0, True)
    assert preview.result.segmentation.shape == (13, 18)
    assert full.result.segmentation.shape == (52, 70)
    assert {"train_s", "predict_s", "latency_s"} <= set(full.timings)
    clf = live.classifier
    # Boosted trees (the default model since issue 14): live trains the session's settings
    # with boosted_trees iterations; the forest's warm-started 8-tree live model is tested in
    # test_boosted_compat.py.
    assert clf.model == "boosted_trees" and clf.n_trees == 8
    again = session.predict_region(0, VIEW, classifier=clf)
    assert_array_equal(full.result.probabilities.values, again.probabilities.values)
    assert session.classifier is None  # live forests never replace train()'s


def test_view_change_predicts_without_retraining(session):
    scribble(session)
    rec = Recorder()
    live = session.live(rec, FAST)
    live.set_view(0, VIEW)
    live.wait_idle(30)
    model = live.classifier
    rec.updates.clear()
    live.set_view(0, (slice(0, 20), slice(0, 20)))
    live.wait_idle(30)
    assert live.classifier is model
    assert [u.level for u in rec.updates] == [2, 0]
    assert "train_s" not in rec.updates[-1].timings


def test_stale_results_are_dropped(session):
    scribble(session)
    release, entered = threading.Event(), threading.Event()
    seen: list[int] = []

    def slow(update):
        seen.append(update.generation)
        entered.set()
        release.wait(30)

    live = session.live(slow, LiveSettings(debounce_s=0.0, preview_level=None, n_trees=4,
                                           preview_trees=4))
    live.set_view(0, VIEW)
    assert entered.wait(30)  # the first update is now blocked in the callback
    for k in range(5):
        session.paint(0, [(40 + k, 10), (40 + k, 30)], 1, radius=0)
        live.notify_stroke()
    release.set()
    assert live.wait_idle(30)
    assert seen == sorted(seen) and seen[-1] == live.generation
    assert len(seen) < 6


def test_debounce_coalesces_a_burst(session):
    scribble(session)
    rec = Recorder()
    # a debounce far longer than the burst takes, however loaded the machine
    live = session.live(rec, LiveSettings(debounce_s=2.0, preview_level=None, n_trees=4,
                                          preview_trees=4))
    live.set_view(0, VIEW)
    for k in range(5):
        session.paint(0, [(40 + k, 10)], 2, radius=0)
        live.notify_stroke()
    assert live.wait_idle(30)
    generations = [u.generation for u in rec.updates]
    assert generations[-1] == live.generation and len(generations) <= 2


def test_errors_are_delivered_not_raised(session):
    rec = Recorder()
    live = session.live(rec, FAST)
    session.paint(0, [(5, 5)], 1)
    live.set_view(0, VIEW)
    live.wait_idle(30)
    assert rec.updates[-1].error.startswith("only class 'class 1' is labelled")
    assert rec.updates[-1].result is None and rec.updates[-1].final
    session.paint(0, [(50, 50)], 2)
    live.notify_stroke()
    live.wait_idle(30)
    assert rec.updates[-1].error is None and rec.updates[-1].final


def test_callback_failures_do_not_stop_the_worker(session):
    scribble(session)
    calls = []

    def flaky(update):
        calls.append(update)
        if len(calls) == 1:
            raise RuntimeError("widget bug")

    live = session.live(flaky, FAST)
    live.set_view(0, VIEW)
    live.wait_idle(30)
    assert len(calls) == 2 and isinstance(live.callback_errors[0], RuntimeError)


def test_toggle_off_holds_requests_until_on(session):
    scribble(session)
    rec = Recorder()
    live = session.live(rec, FAST)
    live.enabled = False
    live.set_view(0, VIEW)
    # disabled, the request stays pending: the worker never becomes idle, nothing arrives
    assert not live.wait_idle(0.5)
    assert rec.updates == [] and live.generation > 0
    live.enabled = True
    live.wait_idle(30)
    assert rec.updates[-1].final


def test_class_deletion_while_live(session):
    session.add_class("third")
    scribble(session)
    session.paint(0, [(20, 20)], 3, radius=2)
    rec = Recorder()
    live = session.live(rec, FAST)
    live.set_view(0, VIEW)
    live.wait_idle(30)
    assert list(rec.updates[-1].result["class"].values) == ["class 1", "class 2", "third"]
    session.remove_class(1)
    live.notify_stroke()
    live.wait_idle(30)
    assert list(rec.updates[-1].result["class"].values) == ["class 2", "third"]


def test_settings_are_checked_and_close_stops_threads():
    with pytest.raises(ClassifierError):
        LiveSettings(preview_trees=40, n_trees=32)
    with pytest.raises(ClassifierError):
        LiveSettings(max_samples=0)
    with pytest.raises(ClassifierError):
        LiveSettings(debounce_s=-1)
    s = make_session(blobs())
    s.paint(0, [(5, 5)], 1)
    live = s.live(lambda update: None)
    s.prefetch(0, wait=True)
    workers = list(s.feature_cache._workers)
    assert workers and all(w.is_alive() for w in workers)
    s.close()
    assert not live._thread.is_alive()
    for worker in workers:
        worker.join(5)
        assert not worker.is_alive()
    assert s.labels(0)[5, 5] == 1  # labels stay readable after close


def test_label_pool_is_uniform_and_keeps_every_class():
    from brushlab.session._live import label_pool

    y = np.r_[np.ones(5000, np.int64), np.full(3, 2), np.full(2000, 3)]
    keep = label_pool(y, 700, seed=0)
    assert set(y[keep]) == {1, 2, 3} and 700 <= keep.size <= 701
    assert np.all(np.diff(keep) > 0)
    assert abs((y[keep] == 1).mean() - 5000 / 7003) < 0.06
    assert_array_equal(keep, label_pool(y, 700, seed=0))


def test_live_forest_on_a_label_pool():
    # the label pool is the random forest's (boosted trees fit on all labels: issue 14)
    session = make_session(blobs(), classifier_params={**PARAMS, "model": "random_forest"})
    scribble(session)
    rec = Recorder()
    live = session.live(rec, LiveSettings(debounce_s=0, preview_trees=2, n_trees=4, max_samples=8))
    live.set_view(0, VIEW)
    live.wait_idle(30)
    final = rec.updates[-1]
    assert final.error is None and final.final
    assert sum(live.classifier.training["labelled_pixels"].values()) <= 4 * 8 + 2
    live.stop()
    session.close()


@pytest.mark.parametrize("preview_level", [None, 0])
def test_without_preview_one_final_update_per_request(session, preview_level):
    scribble(session)
    rec = Recorder()
    cfg = LiveSettings(debounce_s=0, preview_level=preview_level, preview_trees=2, n_trees=4)
    live = session.live(rec, cfg)
    live.set_view(0, VIEW)
    live.wait_idle(30)
    live.set_view(0, (slice(0, 30), slice(0, 30)))
    live.wait_idle(30)
    assert [(u.level, u.final) for u in rec.updates] == [(0, True), (0, True)]
