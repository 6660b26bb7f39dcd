"""The widget's "Network" panel: time budget and size, Train, Cancel, live curves, overlay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w

from brushlab.view import AnnotationView, Redraw
from brushlab.view._network_training import NetworkTraining

__all__ = ["NetworkPanel"]

_CURVES = (("train_loss", "training loss", "#E69F00"), ("val_loss", "validation loss", "#56B4E9"),
           ("val_accuracy", "validation accuracy", "#009E73"),
           ("val_f1", "validation F1", "#D55E00"))


class NetworkPanel:
    """Draw and drive a :class:`~brushlab.view._network_training.NetworkTraining`.

    Parameters
    ----------
    view : AnnotationView
        The viewer.
    draw : callable
        Redraws canvas layers.
    report : callable
        Shows a status message; ``report(text, error=True)`` for errors.
    """

    def __init__(self, view: AnnotationView, draw: Callable[[Redraw], None],
                 report: Callable[..., None]) -> None:
        self.draw, self.report = draw, report
        self.training = NetworkTraining(view, on_update=self._update,
                                        on_overlay=lambda: self.draw(Redraw(overlay=True)))
        self._syncing = False
        self.minutes = w.FloatSlider(value=2.0, min=0.25, max=30.0, step=0.25,
                                     description="Minutes")
        self.size = w.Dropdown(options=[("small (3 levels x 8)", (3, 8)),
                                        ("default (4 levels x 16)", (4, 16)),
                                        ("large (5 levels x 32)", (5, 32))],
                               value=(4, 16), description="Size")
        self.forest = w.Checkbox(value=True, description="read the forest's output",
                                 indent=False)
        self.train_button = w.Button(description="Train network", icon="graduation-cap")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, description="Progress")
        self.status = w.HTML("not trained")
        self.status.add_class("brushlab-network-status")  # tests read it in the browser
        self.overlay = w.ToggleButtons(options=["forest", "network"], value="forest",
                                       description="Overlay")
        self.train_button.on_click(lambda _: self.train())
        self.cancel_button.on_click(lambda _: self.training.cancel())
        self.overlay.observe(lambda change: None if self._syncing else self.show(change["new"]),
                             names="value")
        self.figure, self.source = _figure()
        plot: Any = w.HTML("(bokeh plot unavailable)")
        try:
            from jupyter_bokeh import BokehModel

            plot = BokehModel(self.figure)
        except ImportError:  # pragma: no cover - jupyter_bokeh comes with the notebook extra
            pass
        self.widget = w.VBox([self.minutes, self.size, self.forest,
                              w.HBox([self.train_button, self.cancel_button]), self.bar,
                              self.status, plot, self.overlay])

    def train(self) -> bool:
        """Start training with the panel's settings (off the kernel thread)."""
        depth, base = self.size.value
        started = self.training.start(minutes=float(self.minutes.value), depth=depth,
                                      base_channels=base, forest=bool(self.forest.value))
        self.source.data = {key: [] for key in self.source.data}
        self._update(self.training)
        return started

    def show(self, source: str) -> None:
        """Overlay the forest's or the network's prediction."""
        try:
            self.training.show(source)
        except Exception as exc:  # noqa: BLE001 - shown to the user, not raised into ipywidgets
            self.report(str(exc), error=True)
            self.sync()
            return
        self.draw(Redraw(overlay=True))

    def sync(self) -> None:
        """Make the Overlay toggle say what the canvas shows.

        Train, Live or a plane change replace the network's overlay with the forest's;
        the toggle follows, so clicking "network" brings the network back.
        """
        shown = self.training.source
        if self.overlay.value != shown:
            self._syncing = True
            try:
                self.overlay.value = shown
            finally:
                self._syncing = False

    def _update(self, training: NetworkTraining) -> None:
        running = training.running
        self.train_button.disabled = running
        self.cancel_button.disabled = not running
        self.bar.value = training.fraction
        self.status.value = training.status
        rows = [r for r in training.history if "step" in r]
        data = {"step": [r["step"] for r in rows]}
        for key, _, _ in _CURVES:
            data[key] = [float("nan") if r.get(key) is None else r[key] for r in rows]
        self.source.data = data
        if training.error is not None:
            self.report(training.error, error=True)


def _figure() -> tuple[Any, Any]:
    from bokeh.models import ColumnDataSource
    from bokeh.plotting import figure

    source = ColumnDataSource({"step": [], **{key: [] for key, _, _ in _CURVES}})
    fig = figure(height=200, width=320, title="Training (x: step)", toolbar_location=None)
    for key, label, colour in _CURVES:
        fig.line("step", key, source=source, legend_label=label, color=colour)
    fig.legend.location = "bottom_left"
    fig.legend.label_text_font_size = "8pt"
    return fig, source
