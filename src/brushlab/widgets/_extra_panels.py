"""Panels for objects (find, measure, classify by clicks) and deep-learning models."""

from __future__ import annotations

import os
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

import ipywidgets as w

from brushlab.errors import BrushlabError
from brushlab.view import AnnotationView, Redraw

__all__ = ["ObjectsPanel", "ModelsPanel"]


class ObjectsPanel:
    """Find objects of a class, show them and their measurements, classify them by clicks.

    Parameters
    ----------
    view : AnnotationView
        The viewer (its ``objects`` attribute holds the state).
    draw : callable
        Redraws canvas layers.
    report : callable
        Shows a status message; ``report(text, error=True)`` for errors.
    """

    def __init__(self, view: AnnotationView, draw: Callable[[Redraw], None],
                 report: Callable[..., None]) -> None:
        self.view, self.draw, self.report = view, draw, report
        self.source_class = w.Dropdown(description="Objects of", layout=w.Layout(width="230px"))
        self.method = w.Dropdown(options=[("connected components", "components"),
                                          ("regions between (boundary class)", "watershed")],
                                 description="Method", layout=w.Layout(width="300px"))
        self.separate = w.Checkbox(value=True, description="separate touching", indent=False)
        self.min_size = w.FloatText(value=0, description="Min size", layout=w.Layout(width="160px"))
        self.find_button = w.Button(description="Find objects", icon="object-group")
        self.object_classes = w.Text(value="class A, class B", description="Object classes",
                                     layout=w.Layout(width="300px"))
        self.object_class = w.Dropdown(description="Click as", layout=w.Layout(width="230px"))
        self.classify_button = w.Button(description="Classify objects", icon="tags")
        self.table = w.HTML(self.view.objects.table_html(),
                            layout=w.Layout(max_height="300px", overflow="auto"))
        self.find_button.on_click(lambda _: self.find())
        self.classify_button.on_click(lambda _: self.classify())
        self.object_classes.observe(lambda _: self._set_object_classes(), names="value")
        self.object_class.observe(self._choose_object_class, names="value")
        self._set_object_classes()
        help_text = w.HTML("Train first; <b>Find objects</b>, then choose the <b>Objects</b> "
                           "tool and click objects to label them; <b>Classify</b> does the rest.")
        self.widget = w.VBox([help_text, self.source_class, self.method,
                              w.HBox([self.separate, self.min_size]), self.find_button,
                              self.object_classes, self.object_class, self.classify_button,
                              self.table])
        self.sync_classes()

    def sync_classes(self) -> None:
        """Offer the session's pixel classes as object sources."""
        options = [(c.name, i + 1) for i, c in enumerate(self.view.session.classes)]
        current = self.source_class.value
        self.source_class.options = options
        ids = [v for _, v in options]
        self.source_class.value = current if current in ids else ids[-1]

    def _set_object_classes(self) -> None:
        names = [n.strip() for n in self.object_classes.value.split(",") if n.strip()]
        names = list(dict.fromkeys(names))  # unique, in order
        if len(names) < 2:
            self.report("name at least two object classes, separated by commas", error=True)
            return
        self.view.objects.object_classes = names
        self.object_class.options = names
        self.view.object_class = self.object_class.value

    def _choose_object_class(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self.view.object_class = change["new"]

    def find(self) -> int | None:
        """Find objects of the chosen class on the plane shown; show them and their table."""
        try:
            n = self.view.objects.find(int(self.source_class.value), method=self.method.value,
                                       separate=self.separate.value,
                                       min_size=float(self.min_size.value))
        except BrushlabError as exc:
            self.report(str(exc), error=True)
            return None
        self.view.overlay = "objects"
        self.draw(Redraw(overlay=True))
        self.table.value = self.view.objects.table_html()
        self.report(f"{n} objects found; measurements below")
        return n

    def classify(self) -> None:
        """Train the object classifier from the clicked objects and colour objects by class."""
        try:
            self.view.objects.classify()
        except BrushlabError as exc:
            self.report(str(exc), error=True)
            return
        self.view.overlay = "object classes"
        self.draw(Redraw(overlay=True))
        self.table.value = self.view.objects.table_html()
        self.report("objects classified; see the object classes overlay and the table")


class ModelsPanel:
    """Run a BioImage Model Zoo package (ONNX) on the plane shown and overlay its output.

    Parameters
    ----------
    view : AnnotationView
        The viewer.
    draw, report : callable
        As for :class:`ObjectsPanel`.
    folder : str or Path, optional
        Where to look for packages (default: the repository's ``models/`` when it
        exists, else the current folder).
    """

    def __init__(self, view: AnnotationView, draw: Callable[[Redraw], None],
                 report: Callable[..., None], folder: str | os.PathLike[str] | None = None,
                 background: Callable[[str, Callable[[], Any]], bool] | None = None) -> None:
        self.view, self.draw, self.report = view, draw, report
        self.background = background  # runs the button's prediction with a progress line
        self.folder = w.Text(value=str(folder or _default_models_folder()),
                             description="Folder", layout=w.Layout(width="320px"))
        self.scan_button = w.Button(description="Scan", icon="refresh",
                                    layout=w.Layout(width="80px"))
        self.package = w.Dropdown(description="Model", layout=w.Layout(width="320px"))
        self.info = w.HTML()
        self.run_button = w.Button(description="Run on this plane", icon="play")
        self.scan_button.on_click(lambda _: self.scan())
        self.run_button.on_click(lambda _: self._run_clicked())
        self.package.observe(lambda _: self._describe(), names="value")
        self._entries: dict[str, Any] = {}
        self.widget = w.VBox([w.HBox([self.folder, self.scan_button]), self.package, self.info,
                              self.run_button])

    def scan(self) -> int:
        """List the model packages in the folder."""
        from brushlab.bioimageio import discover

        try:
            entries = discover(self.folder.value)
        except (BrushlabError, OSError) as exc:
            self.report(str(exc), error=True)
            return 0
        self._entries = {str(getattr(e, "path", e)): e for e in entries}
        self.package.options = [(getattr(e, "name", str(p)), p) for p, e in self._entries.items()]
        if self._entries:
            self.package.value = next(iter(self._entries))
        self.report(f"{len(entries)} model package(s) in {self.folder.value}")
        return len(entries)

    def _describe(self) -> None:
        entry = self._entries.get(self.package.value)
        if entry is None:
            self.info.value = ""
            return
        description = getattr(entry, "description", "") or ""
        problem = getattr(entry, "error", None)
        text = f"<p>{escape(str(description))}</p>"
        if problem:
            text += f"<p style='color:#b00020'>{escape(str(problem))}</p>"
        self.info.value = text

    def _run_clicked(self) -> None:
        if self.background is None:
            self.run()
        elif not self.background("running the model", self.run):
            self.report("another task is running: wait for it", error=True)

    def run(self) -> bool:
        """Run the chosen package on the plane shown and make its output the overlay."""
        import numpy as np

        from brushlab.bioimageio import load_model
        from brushlab.errors import ModelPackageError
        from brushlab.io import as_image

        if not self.package.value:
            self.report("scan a folder and choose a model first", error=True)
            return False
        try:
            model = load_model(self.package.value)
            plane = self.view.plane_pixels()
            result = model.predict(as_image(plane, dims="yx" if plane.ndim == 2 else "yxc"))
            if "probabilities" not in result:
                raise ModelPackageError(
                    f"{self.package.value} has no class-probability output to overlay "
                    f"(outputs: {', '.join(map(str, result.data_vars))})")
            proba = np.asarray(result.probabilities.transpose("class", "y", "x").values)
            names = [str(n) for n in result.coords["class"].values]
            self.view.show_probabilities(proba, names)
        except (BrushlabError, OSError) as exc:
            self.report(str(exc), error=True)
            return False
        self.draw(Redraw(overlay=True))
        self.report(f"model output shown ({proba.shape[0]} classes); turn Live off to keep it")
        return True


def _default_models_folder() -> Path:
    repo_models = Path(__file__).resolve().parents[3] / "models"
    return repo_models if repo_models.is_dir() else Path.cwd()
