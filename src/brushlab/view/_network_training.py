"""Headless state of the widget's "Network" panel: train off the kernel thread, cancel, overlay.

The panel (:mod:`brushlab.widgets._network_panel`) only draws what this object holds,
so tests drive it without a browser.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from brushlab.errors import BrushlabError

if TYPE_CHECKING:
    from brushlab.view._annotation_view import AnnotationView

__all__ = ["NetworkTraining"]


class NetworkTraining:
    """Train ``view.session``'s network on a worker thread and switch the overlay.

    Parameters
    ----------
    view : AnnotationView
        The viewer whose session holds the labels and whose overlay shows results.
    on_update : callable, optional
        Called (from the worker thread) after each validation and when training ends.
    on_overlay : callable, optional
        Called (from the worker thread) when a new network replaced the network overlay
        it retrained under: the canvas must redraw it.
    """

    def __init__(self, view: AnnotationView,
                 on_update: Callable[[NetworkTraining], None] | None = None,
                 on_overlay: Callable[[], None] | None = None) -> None:
        self.view, self.on_update, self.on_overlay = view, on_update, on_overlay
        self.history: list[dict[str, Any]] = []
        self.status = "not trained"
        self.error: str | None = None
        self.fraction = 0.0
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._active = False

    @property
    def running(self) -> bool:
        """Whether a training runs now (False already in the update that reports its end)."""
        return self._active

    @property
    def source(self) -> str:
        """What the overlay shows now: ``"network"`` (a network's prediction) or ``"forest"``.

        Read from the view, so it stays true when Train, Live or a plane change replace
        the network's overlay with the forest's.
        """
        result = self.view.result
        return "network" if result is not None and result.attrs.get("source") == "model" \
            else "forest"

    def start(self, *, minutes: float = 2.0, depth: int = 4, base_channels: int = 16,
              forest: bool = True, **params: Any) -> bool:
        """Start training on a worker thread; False (and a status) if one runs already."""
        if self.running:
            self.status = "a training runs already: cancel it first"
            return False
        self.history, self.error, self.fraction = [], None, 0.0
        self._cancel.clear()
        self.status = "training..."
        kwargs = dict(minutes=minutes, depth=depth, base_channels=base_channels, forest=forest,
                      **params)
        self._active = True
        self._thread = threading.Thread(target=self._run, kwargs=kwargs, daemon=True,
                                        name="brushlab-network-training")
        self._thread.start()
        return True

    def _run(self, **kwargs: Any) -> None:
        try:
            net = self.view.session.train_network(progress=self._progress,
                                                  cancel=self._cancel.is_set, **kwargs)
            best = net.training.get("best_val_f1")
            self.status = (f"trained: {net.training.get('stopped')}; best step "
                           f"{net.training.get('steps')}"
                           + (f", validation F1 {best:.3f}" if best is not None else ""))
            self.fraction = 1.0
            if self.source == "network":  # the overlay shows the network this one replaces
                self.show("network")
                if self.on_overlay is not None:
                    self.on_overlay()
        except BrushlabError as exc:  # bad labels, no torch, out of memory: say so
            self.error = self.status = str(exc)
        except Exception as exc:  # noqa: BLE001 - a worker thread must report, not vanish
            self.error = self.status = f"training failed: {exc!r}"
        finally:
            self._active = False  # before the last update: the panel enables Train again
        if self.on_update is not None:
            self.on_update(self)

    def _progress(self, record: dict[str, Any]) -> None:
        self.history.append(dict(record))
        budget = float(record.get("budget_seconds") or 1.0)
        self.fraction = min(1.0, float(record.get("seconds", 0.0)) / budget)
        if self.on_update is not None:
            self.on_update(self)

    def cancel(self) -> None:
        """Stop training soon; the best network so far is kept."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the training thread; True when it has finished."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def show(self, source: str) -> None:
        """Overlay the ``"network"``'s or the ``"forest"``'s prediction of the plane shown."""
        if source not in ("forest", "network"):
            raise BrushlabError(f"source must be 'forest' or 'network', not {source!r}")
        view = self.view
        if source == "forest":
            view.predict_view()
        else:
            from brushlab.session._network import predict_network

            result = predict_network(view.session, view.image)
            proba = result.probabilities
            for dim in view.session.plane_sizes(view.image):
                proba = proba.isel({dim: view.plane[dim]})
            view.show_probabilities(np.asarray(proba.transpose("class", "y", "x").values),
                                    [str(c) for c in result.coords["class"].values])
