"""The widget's Network panel, driven headlessly (issue 15)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.hidden_torch import REASON

pytest.importorskip("ipycanvas")
torch = pytest.importorskip("torch", reason=REASON)

import brushlab  # noqa: E402
from brushlab.session import LiveSettings  # noqa: E402
from brushlab.view._network_training import NetworkTraining  # noqa: E402
from brushlab.widgets import annotate  # noqa: E402

FAST = brushlab.FeatureSet({"gaussian_smoothing": [1.0, 3.5], "difference_of_gaussians": [2.0]})
QUICK = LiveSettings(preview_level=None, n_trees=8, preview_trees=8)
SMALL = {"depth": 2, "base_channels": 4, "patch_size": (32, 32), "n_jobs": 1}


@pytest.fixture
def ann():  # type: ignore[no-untyped-def]
    image = np.zeros((80, 80), np.float32)
    image[:, 40:] = 100
    image += np.random.default_rng(0).normal(0, 5, image.shape).astype(np.float32)
    a = annotate(image, classes=["dark", "bright"], features=FAST,
                 classifier_params={"n_trees": 5}, size=80, live=False, live_settings=QUICK)
    labels = np.zeros((80, 80), np.uint8)
    labels[3:-3:5, 4:36] = 1
    labels[3:-3:5, 44:76] = 2
    a.session.import_labels(0, labels)
    yield a
    a.close()
    a.session.close()


def test_panel_trains_off_the_kernel_thread_and_switches_the_overlay(ann) -> None:  # type: ignore[no-untyped-def]
    panel = ann.network_panel
    training = panel.training
    assert training.start(minutes=1, max_steps=6, **SMALL)
    assert training.running or training.fraction == 1.0  # returned at once: a worker trains
    assert not training.start(minutes=1, **SMALL)  # one at a time
    assert training.wait(120)
    assert training.error is None, training.error
    assert ann.session.network is not None and training.fraction == 1.0
    panel._update(training)  # what the worker's callback does
    assert panel.bar.value == 1.0 and "trained" in panel.status.value
    assert len(panel.source.data["step"]) == len(training.history) >= 1
    ann.train()  # a forest for the other overlay
    panel.overlay.value = "network"
    net_overlay = ann.view.result
    assert net_overlay is not None and net_overlay.attrs.get("source") == "model"
    expected = ann.session.network.predict(ann.session.images[0]).probabilities.values
    np.testing.assert_allclose(net_overlay.probabilities.values, expected, atol=1e-6)
    panel.overlay.value = "forest"
    assert ann.view.result.attrs.get("source") != "model"


def test_cancel_keeps_the_best_so_far_and_errors_are_reported(ann) -> None:  # type: ignore[no-untyped-def]
    training = NetworkTraining(ann.view)
    assert training.start(minutes=10, forest=False, validation_fraction=0, **SMALL)
    for _ in range(1200):  # progress comes every 5 steps without validation
        if training.history or not training.running:
            break
        time.sleep(0.1)
    training.cancel()
    assert training.wait(120)
    assert ann.session.network is not None and "cancelled" in training.status
    before = ann.session.network
    assert training.start(minutes=1, max_steps=2, **dict(SMALL, depth=6))  # too deep for 80 px
    assert training.wait(120)
    assert training.error is not None and "field of view" in training.error
    assert ann.session.network is before  # the failed training lost nothing


def test_the_overlay_toggle_follows_the_canvas_and_retraining_redraws_it(ann) -> None:  # type: ignore[no-untyped-def]
    from brushlab.session._network import predict_network

    panel, training = ann.network_panel, ann.network_panel.training
    drawn: list[object] = []
    draw = panel.draw
    panel.draw = lambda redraw: (drawn.append(redraw), draw(redraw))
    assert training.start(minutes=1, max_steps=4, **SMALL) and training.wait(120)
    ann.train()
    panel.overlay.value = "network"
    old = ann.view.result.probabilities.values.copy()
    # retrained while its overlay shows: the new network's prediction is drawn
    drawn.clear()
    assert training.start(minutes=1, max_steps=4, random_state=1, **SMALL)
    assert training.wait(120) and training.error is None, training.error
    new = ann.view.result.probabilities.values
    np.testing.assert_array_equal(new, predict_network(ann.session, 0).probabilities.values)
    assert not np.array_equal(new, old) and drawn
    # Train puts the forest's overlay back: the toggle says so, and "network" works again
    ann.train()
    assert ann.view.result.attrs.get("source") != "model" and panel.overlay.value == "forest"
    panel.overlay.value = "network"
    assert ann.view.result.attrs.get("source") == "model"


def test_after_a_failed_training_train_is_enabled_again(ann) -> None:  # type: ignore[no-untyped-def]
    panel = ann.network_panel
    assert panel.training.start(minutes=1, max_steps=2, **dict(SMALL, depth=6))  # too deep
    assert panel.training.wait(120)
    assert "field of view" in panel.status.value
    assert not panel.train_button.disabled and panel.cancel_button.disabled
