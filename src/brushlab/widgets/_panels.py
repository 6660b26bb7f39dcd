"""Side panels: ilastik's feature grid, and bokeh bar charts of label counts and importances."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as w
import numpy as np
from bokeh.models import ColumnDataSource, FactorRange
from bokeh.plotting import figure
from jupyter_bokeh import BokehModel

from brushlab.errors import BrushlabError
from brushlab.features import FeatureSet
from brushlab.features.featureset import FAMILIES, ILASTIK_SCALES

__all__ = ["FeatureGrid", "LabelCountChart", "ImportanceChart", "load_bokehjs"]

_BOKEHJS_LOADED = False


def load_bokehjs() -> None:
    """Load BokehJS into the page once per kernel, from the Python package (no CDN).

    jupyter_bokeh's views need ``window.Bokeh``; ``output_notebook(INLINE)``
    displays it inline, so charts work offline (Binder, Voila, air-gapped labs).
    """
    global _BOKEHJS_LOADED
    if _BOKEHJS_LOADED:
        return
    from bokeh.io import output_notebook
    from bokeh.resources import INLINE

    output_notebook(INLINE, hide_banner=True)
    _BOKEHJS_LOADED = True

_SHORT = {
    "gaussian_smoothing": "Gaussian",
    "laplacian_of_gaussian": "LoG",
    "gaussian_gradient_magnitude": "Gradient mag.",
    "difference_of_gaussians": "DoG",
    "structure_tensor_eigenvalues": "Structure tensor",
    "hessian_of_gaussian_eigenvalues": "Hessian",
}


class FeatureGrid:
    """ilastik's feature selection: a checkbox per family (rows) and scale (columns).

    Parameters
    ----------
    features : FeatureSet
        The selection to show.
    on_apply : callable
        Receives the new :class:`FeatureSet` when "Apply" is pressed.
    """

    def __init__(self, features: FeatureSet, on_apply: Callable[[FeatureSet], None]) -> None:
        self.on_apply = on_apply
        self.message = w.HTML()
        scales = sorted(set(ILASTIK_SCALES) | set(features.scales))
        self.checks: dict[tuple[str, float], w.Checkbox] = {}
        cells: list[w.Widget] = [w.HTML("<b>σ</b>")]
        cells += [w.HTML(f"<b>{s:g}</b>") for s in scales]
        chosen = features.selection
        for fam in FAMILIES:
            cells.append(w.HTML(_SHORT[fam], layout=w.Layout(width="110px")))
            for s in scales:
                box = w.Checkbox(value=s in chosen.get(fam, []), indent=False,
                                 layout=w.Layout(width="28px"),
                                 disabled=fam != "gaussian_smoothing" and s < 0.5)
                box.tooltip = f"{FAMILIES[fam]}, σ = {s:g}"
                self.checks[(fam, s)] = box
                cells.append(box)
        grid = w.GridBox(cells, layout=w.Layout(
            grid_template_columns=f"110px repeat({len(scales)}, 34px)", grid_gap="2px"))
        self.apply_button = w.Button(description="Apply features", icon="check")
        self.apply_button.on_click(lambda _: self.apply())
        self.widget = w.VBox([grid, w.HBox([self.apply_button, self.message])])

    def selection(self) -> dict[str, list[float]]:
        """``{family: [sigma, ...]}`` of the ticked boxes."""
        out: dict[str, list[float]] = {}
        for (fam, s), box in self.checks.items():
            if box.value:
                out.setdefault(fam, []).append(s)
        return out

    def set_features(self, features: FeatureSet) -> None:
        """Tick exactly the boxes of ``features``."""
        chosen = features.selection
        for (fam, s), box in self.checks.items():
            box.value = s in chosen.get(fam, [])

    def apply(self) -> FeatureSet | None:
        """Build the ticked FeatureSet and hand it to ``on_apply`` (a message if none is ticked)."""
        sel = self.selection()
        if not sel:
            self.message.value = "<span style='color:#b00'>tick at least one feature</span>"
            return None
        try:
            fs = FeatureSet(sel)
        except BrushlabError as exc:
            self.message.value = f"<span style='color:#b00'>{exc}</span>"
            return None
        self.on_apply(fs)
        n = fs.n_features()
        self.message.value = f"{n} feature channels per image channel"
        return fs


def _refresh(widget: BokehModel, fig: figure) -> None:
    """Make the widget's synced state the figure's current state.

    jupyter_bokeh sends changes as patches to views that exist; a view created
    later (the cell output appearing after the update, a page reload) starts from
    ``render_bundle``, so that must follow the figure too.
    """
    widget.render_bundle = BokehModel._model_to_traits(fig)


class LabelCountChart:
    """Labelled pixels per class as a bokeh bar chart in the class colours."""

    def __init__(self) -> None:
        self.source = ColumnDataSource({"name": [], "count": [], "colour": []})
        self.x_range = FactorRange()
        fig = figure(height=180, width=300, x_range=self.x_range, title="Labelled pixels",
                     toolbar_location=None, tools="")  # type: ignore[call-arg]
        fig.vbar(x="name", top="count", color="colour", width=0.8, source=self.source)
        fig.y_range.start = 0  # type: ignore[attr-defined]
        self.figure = fig
        self.widget = BokehModel(fig)

    def update(self, names: Sequence[str], counts: Sequence[int], colours: Sequence[str]) -> None:
        """Show new counts."""
        self.x_range.factors = list(names)
        self.source.data = {"name": list(names), "count": [int(c) for c in counts],
                            "colour": list(colours)}
        _refresh(self.widget, self.figure)


class ImportanceChart:
    """Feature importances of the last classifier (top ``n``) as a bokeh bar chart."""

    def __init__(self, n: int = 15) -> None:
        self.n = n
        self.source = ColumnDataSource({"feature": [], "importance": []})
        self.y_range = FactorRange()
        fig = figure(height=320, width=300, y_range=self.y_range, title="Feature importance",
                     toolbar_location=None, tools="")  # type: ignore[call-arg]
        fig.hbar(y="feature", right="importance", height=0.8, source=self.source,
                 color="#4c78a8")
        fig.x_range.start = 0  # type: ignore[attr-defined]
        self.figure = fig
        self.widget = BokehModel(fig)

    def update(self, names: Sequence[str], values: Sequence[float] | np.ndarray) -> None:
        """Show the ``n`` most important features (most important on top)."""
        order = sorted(range(len(values)), key=lambda i: -float(values[i]))[: self.n][::-1]
        top = [str(names[i]) for i in order]
        self.y_range.factors = top
        self.source.data = {"feature": top, "importance": [float(values[i]) for i in order]}
        _refresh(self.widget, self.figure)
