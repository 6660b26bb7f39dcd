"""Annotator: the labelling widget (ipywidgets + ipycanvas) over a headless Session."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

import ipywidgets as w
import numpy as np

from brushlab.classifier import PixelClassifier
from brushlab.errors import BrushlabError
from brushlab.features import FeatureSet
from brushlab.session import LiveSettings, Session
from brushlab.view import OVERLAYS, AnnotationView, Redraw
from brushlab.widgets._canvas import DRAW_LOCK, LayeredCanvas
from brushlab.widgets._control_sync import ControlSync
from brushlab.widgets._extra_panels import ModelsPanel, ObjectsPanel
from brushlab.widgets._feedback import STYLE, BusyRunner, shortcuts_button, status_html
from brushlab.widgets._label_actions import LabelActions
from brushlab.widgets._network_panel import NetworkPanel
from brushlab.widgets._panels import FeatureGrid, ImportanceChart, LabelCountChart, load_bokehjs

__all__ = ["Annotator", "annotate"]


def annotate(
    images: Any,
    classes: Any = None,
    *,
    features: FeatureSet | None = None,
    classifier_params: dict[str, Any] | None = None,
    size: int = 512,
    pixel_ratio: float = 2.0,
    live: bool = True,
    live_settings: LiveSettings | None = None,
) -> Annotator:
    """Open the labelling widget on one image, several images, or an existing Session.

    Parameters
    ----------
    images : image, sequence of images or Session
        Anything :func:`brushlab.as_image` accepts (2D, 3D, time series,
        multichannel), a list of them (sizes may differ), or a :class:`Session`
        (e.g. from :func:`brushlab.open_project`) to continue.
    classes : sequence, optional
        Class names or ``(name, colour)`` pairs; default two classes. Ignored
        for a Session.
    features : FeatureSet, optional
        Features (default ``FeatureSet.default()``); ignored for a Session.
    classifier_params : dict, optional
        :class:`PixelClassifier` options for "Train" (``n_trees``...).
    size : int, default 512
        Canvas edge on the page, in CSS pixels.
    pixel_ratio : float, default 2
        Canvas buffer pixels per CSS pixel (2 is crisp on high-DPI screens).
    live : bool, default True
        Start with live training on: each stroke retrains and re-predicts the view.
    live_settings : LiveSettings, optional
        Speed settings of live training.

    Returns
    -------
    Annotator
        Display it (last expression of a cell); ``annotator.labels``,
        ``annotator.classifier`` and ``annotator.session`` give the results.

    Examples
    --------
    >>> import brushlab
    >>> from skimage import data
    >>> annotator = brushlab.annotate(data.coins(), classes=["background", "coin"])
    >>> annotator.labels.shape
    (303, 384)
    >>> annotator.close()
    """
    return Annotator(images, classes, features=features, classifier_params=classifier_params,
                     size=size, pixel_ratio=pixel_ratio, live=live, live_settings=live_settings)


class Annotator(LabelActions, ControlSync, w.VBox):
    """Paint labels per class, train live, and see prediction, segmentation and uncertainty.

    A thin view: all state lives in :attr:`session` (labels, classes, features,
    classifier) and :attr:`view` (viewport, display settings); this widget
    forwards canvas events and control changes to them and draws what they
    render. See :func:`annotate` for the parameters.
    """

    def __init__(
        self,
        images: Any,
        classes: Any = None,
        *,
        features: FeatureSet | None = None,
        classifier_params: dict[str, Any] | None = None,
        size: int = 512,
        pixel_ratio: float = 2.0,
        live: bool = True,
        live_settings: LiveSettings | None = None,
    ) -> None:
        load_bokehjs()
        self.status = w.HTML()
        self.errors: list[str] = []
        if isinstance(images, Session):
            self.session = images
        else:
            self.session = self._new_session(images, classes, features, classifier_params)
        ratio = float(pixel_ratio)
        buffer = (int(round(size * ratio)),) * 2
        self.view = AnnotationView(self.session, buffer, live_settings=live_settings,
                                   on_overlay=self._live_overlay)
        self._canvas = LayeredCanvas(self.view, (size, size), ratio, on_event=self._after_event)
        self.canvas = self._canvas.widget
        self.canvas.on_key_down(self._on_key)
        self._syncing = False
        self._busy = BusyRunner(self.view.status_line, self._render_status)
        for text in self.errors[-1:]:  # an image refused before the view existed
            self.view.status_line.error(text)
        self._build_controls()
        super().__init__([w.HTML(STYLE), self._toolbar(),
                          w.HBox([self.canvas, self._side_panel()]), self.status])
        w.DOMWidget.add_class(self, "brushlab-annotator")  # self.add_class adds a class label
        state = getattr(self.session, "view_state", None)
        if isinstance(state, dict) and state:
            self.view.restore(state)
        self._sync_controls()
        self._update_counts()
        if live:
            self.live_toggle.value = True
        self._redraw_all()
        self._show_range(self.contrast.value)
        self._render_status()

    # -- construction -----------------------------------------------------------------
    def _new_session(self, images: Any, classes: Any, features: FeatureSet | None,
                     params: dict[str, Any] | None) -> Session:
        session = Session(None, classes, features, params)
        items = list(images) if isinstance(images, (list, tuple)) else [images]
        for i, image in enumerate(items):
            try:
                session.add_image(image)
            except BrushlabError as exc:
                self._error(f"image {i} cannot be shown: {exc}")
        if not session.images:
            session.close()
            raise BrushlabError(
                "no image can be shown: " + "; ".join(self.errors)
                if self.errors else "annotate() needs at least one image"
            )
        return session

    def _build_controls(self) -> None:
        s = self.session
        self.tool = w.ToggleButtons(options=[("", "paint"), ("", "erase"), ("", "pan"),
                                             ("", "objects")],
                                    icons=["paint-brush", "eraser", "arrows", "object-group"],
                                    value="paint", style={"button_width": "52px"},
                                    tooltips=["Paint labels of the class (keys 1-9 choose it)",
                                              "Erase labels (E)", "Pan: drag to move the view",
                                              "Objects: click objects to label them "
                                              "(Objects tab)"])
        self.class_select = w.Dropdown(description="Class", layout=w.Layout(width="220px"))
        self.brush = w.IntSlider(value=3, min=0, max=50, description="Brush",
                                 layout=w.Layout(width="260px"))
        self.undo_button = w.Button(icon="undo", tooltip="Undo (Ctrl+Z)", layout=_icon())
        self.redo_button = w.Button(icon="repeat", tooltip="Redo (Ctrl+Shift+Z)",
                                    layout=_icon())
        self.help_button = shortcuts_button()
        self.live_toggle = w.ToggleButton(description="Live", icon="bolt", value=False,
                                          tooltip="retrain and re-predict after each stroke",
                                          layout=_small())
        self.train_button = w.Button(description="Train", icon="cogs", layout=_small(),
                                     tooltip="fit the full classifier on every label")
        self.suggest_button = w.Button(description="Suggest", icon="search", layout=_small(),
                                       tooltip="outline the most uncertain part of the view")
        self.overlay_select = w.Dropdown(options=list(OVERLAYS), value="none",
                                         description="Overlay", layout=w.Layout(width="220px"))
        self.overlay_class = w.Dropdown(description="of", layout=w.Layout(width="170px"))
        self.label_opacity = w.FloatSlider(value=0.6, min=0, max=1, step=0.05,
                                           description="Labels α", layout=w.Layout(width="240px"))
        self.overlay_opacity = w.FloatSlider(value=0.5, min=0, max=1, step=0.05,
                                             description="Overlay α",
                                             layout=w.Layout(width="240px"))
        self.image_select = w.Dropdown(description="Image", layout=w.Layout(width="260px"))
        self.z_slider = w.IntSlider(description="z", min=0, max=0,
                                    layout=w.Layout(width="300px"))
        self.t_slider = w.IntSlider(description="t", min=0, max=0,
                                    layout=w.Layout(width="300px"))
        self.channel_select = w.Dropdown(description="Channels", layout=w.Layout(width="220px"))
        self.contrast = w.FloatRangeSlider(description="Range", readout=False,
                                           layout=w.Layout(width="300px"))
        self.contrast_readout = w.Label(layout=w.Layout(width="auto", min_width="110px"))
        self.auto_button = w.Button(description="Auto", layout=_small(),
                                    tooltip="contrast from the 0.5-99.5 percentiles")
        self.zoom_in = w.Button(icon="search-plus", layout=w.Layout(width="40px"))
        self.zoom_out = w.Button(icon="search-minus", layout=w.Layout(width="40px"))
        self.fit_button = w.Button(description="Fit", layout=w.Layout(width="50px"))
        # classes
        self.class_name = w.Text(placeholder="class name", layout=w.Layout(width="150px"))
        self.add_class_button = w.Button(description="Add", layout=_small())
        self.rename_button = w.Button(description="Rename", layout=_small())
        self.colour = w.ColorPicker(concise=True, layout=w.Layout(width="40px"))
        self.delete_class_button = w.Button(description="Delete", button_style="danger",
                                            layout=_small())
        self.counts = w.HTML()
        # labels in and out
        self.to_labels_button = w.Button(description="Segmentation → labels",
                                         layout=w.Layout(width="190px"))
        self.upload = w.FileUpload(accept=".png,.tif,.tiff,.npy", multiple=False,
                                   description="Import mask")
        self.upload_as_ids = w.Checkbox(value=False, description="values are class ids",
                                        indent=False)
        self.export_path = w.Text(value="labels.tif", layout=w.Layout(width="200px"))
        self.export_button = w.Button(description="Export labels", layout=w.Layout(width="120px"))
        # panels
        self.feature_grid = FeatureGrid(s.features, self._apply_features)
        self.count_chart = LabelCountChart()
        self.importance_chart = ImportanceChart()
        self.objects_panel = ObjectsPanel(self.view, self._draw, self._report)
        self.models_panel = ModelsPanel(self.view, self._draw, self._report,
                                        background=self._busy.start)
        self.network_panel = NetworkPanel(self.view, self._draw, self._report)
        self._canvas.on_overlay = self.network_panel.sync  # its toggle follows the overlay
        self._connect()

    def _connect(self) -> None:
        def on(widget: w.Widget, handler: Callable[[Any], None]) -> None:
            widget.observe(lambda change: self._guard(handler, change["new"]), names="value")

        def click(button: w.Button, handler: Callable[[], Any]) -> None:
            button.on_click(lambda _: self._guard(lambda __: handler(), None))

        on(self.tool, self._set_tool)
        on(self.class_select, self._set_class)
        on(self.brush, lambda v: setattr(self.view, "radius", float(v)))
        on(self.live_toggle, self._set_live)
        on(self.overlay_select, self._set_overlay)
        on(self.overlay_class, self._set_overlay_class)
        on(self.label_opacity, self._set_label_opacity)
        on(self.overlay_opacity, self._set_overlay_opacity)
        on(self.image_select, self._select_image)
        on(self.z_slider, lambda v: self._set_plane("z", v))
        on(self.t_slider, lambda v: self._set_plane("t", v))
        on(self.channel_select, self._set_channels)
        on(self.contrast, lambda v: self._draw(self.view.set_contrast(*v)))
        self.contrast.observe(lambda c: self._show_range(c["new"]), names="value")
        on(self.colour, self._recolour)
        on(self.upload, self._import_upload)
        click(self.undo_button, self.undo)
        click(self.redo_button, self.redo)
        click(self.train_button, lambda: self.train(background=True))
        click(self.suggest_button, self.suggest)
        click(self.auto_button, self._auto_contrast)
        click(self.zoom_in, lambda: self._draw(self.view.zoom(1.5)))
        click(self.zoom_out, lambda: self._draw(self.view.zoom(1 / 1.5)))
        click(self.fit_button, lambda: self._draw(self.view.fit()))
        click(self.add_class_button, lambda: self.add_class(self.class_name.value or None))
        click(self.rename_button, lambda: self.rename_class(self.class_name.value))
        click(self.delete_class_button, self.delete_class)
        click(self.to_labels_button, self.segmentation_to_labels)
        click(self.export_button, lambda: self.export_labels(self.export_path.value))

    def _toolbar(self) -> w.Widget:
        return w.VBox([
            w.HBox([self.tool, self.class_select, self.brush, self.undo_button,
                    self.redo_button, self.help_button]),
            w.HBox([self.live_toggle, self.train_button, self.suggest_button,
                    self.overlay_select, self.overlay_class]),
            w.HBox([self.image_select, self.z_slider, self.t_slider]),
            w.HBox([self.channel_select, self.contrast, self.contrast_readout,
                    self.auto_button, self.zoom_in,
                    self.zoom_out, self.fit_button]),
            w.HBox([self.label_opacity, self.overlay_opacity]),
        ])

    def _side_panel(self) -> w.Widget:
        classes = w.VBox([
            w.HBox([self.class_name, self.add_class_button, self.rename_button]),
            w.HBox([w.Label("Colour"), self.colour, self.delete_class_button]),
            self.counts, self.count_chart.widget,
        ])
        labels_io = w.VBox([self.to_labels_button, w.HBox([self.upload, self.upload_as_ids]),
                            w.HBox([self.export_path, self.export_button])])
        tabs = w.Tab([classes, self.feature_grid.widget, self.importance_chart.widget, labels_io,
                      self.objects_panel.widget, self.models_panel.widget,
                      self.network_panel.widget])
        for i, title in enumerate(["Classes", "Features", "Importance", "Labels I/O", "Objects",
                                   "Models", "Network"]):
            tabs.set_title(i, title)
        tabs.add_class("brushlab-tabs")  # STYLE: whole titles, wrapped when narrow
        return tabs

    # -- public ----------------------------------------------------------------------
    @property
    def labels(self) -> np.ndarray:
        """Labels of the image shown (0 = unlabelled, 1..K = classes), a read-only array."""
        return self.session.labels(self.view.image)

    @property
    def classifier(self) -> PixelClassifier | None:
        """The classifier trained last ("Train" or the live forest), or None."""
        return self.view.classifier

    def train(self, *, background: bool = False) -> PixelClassifier | None:
        """Train the full classifier on all labels and show its prediction of the view.

        With ``background=True`` (the button) training runs on a worker thread.
        """
        if background:
            if not self._busy.start("training", self._train_now):
                self._info("training is already running: wait for it")
            return None
        with self.view.status_line.busy("training"):
            clf = self._train_now()
        self._render_status()
        return clf

    def _train_now(self) -> PixelClassifier | None:
        try:
            clf = self.view.train()
        except BrushlabError as exc:
            self._error(str(exc))
            return None
        self._after_training(clf)
        return clf

    def _after_training(self, clf: PixelClassifier) -> None:
        if self.overlay_select.value == "none":
            self._syncing = True
            try:
                self.overlay_select.value = self.view.overlay
            finally:
                self._syncing = False
        self._canvas.draw(Redraw(overlay=True))
        self._update_importances(clf)

    def add_image(self, image: Any, name: str | None = None) -> int | None:
        """Add an image to label (any size or dims); a message instead if it cannot be shown.

        Returns
        -------
        int or None
            Its index, or None when it was refused.
        """
        try:
            index = self.session.add_image(image, name)
        except BrushlabError as exc:
            self._error(f"this image cannot be shown: {exc}")
            return None
        self._sync_controls()
        self._info(f"added image {self.session.image_names[index]!r}")
        return index

    def undo(self) -> None:
        """Undo the last stroke."""
        self._draw(self.view.undo())
        self._update_counts()

    def redo(self) -> None:
        """Redo the last undone stroke."""
        self._draw(self.view.redo())
        self._update_counts()

    def suggest(self) -> tuple[slice, slice] | None:
        """Outline the most uncertain window of the current view."""
        try:
            window = self.view.suggest()
        except BrushlabError as exc:
            self._error(str(exc))
            return None
        self._draw(Redraw(cursor=True))
        self._info(f"most uncertain: y {window[0].start}-{window[0].stop}, "
                   f"x {window[1].start}-{window[1].stop} (outlined): label there next")
        return window

    def close(self) -> None:
        """Stop live training and close the widgets (the session stays usable)."""
        view = getattr(self, "view", None)  # absent if construction failed
        if view is not None:
            view.close()
        super().close()

    # -- event plumbing -----------------------------------------------------------------
    def _guard(self, handler: Callable[[Any], None], value: Any) -> None:
        if self._syncing:
            return
        try:
            handler(value)
        except BrushlabError as exc:  # a clear message, never a dead widget
            self._error(str(exc))
        self._save_state()

    def _report(self, text: str, error: bool = False) -> None:
        if error:
            self._error(text)
        else:
            self._info(text)

    def _draw(self, redraw: Redraw) -> None:
        self._canvas.draw(redraw)
        self._show_message()

    def _redraw_all(self) -> None:
        self._canvas.draw(Redraw(image=True, labels=True, overlay=True, cursor=True))

    def _after_event(self, name: str, redraw: Redraw) -> None:
        if name in ("mouse_up", "mouse_out") and redraw.cursor:
            self._update_counts()
            self._render_status()
        self._show_message()
        if name in ("mouse_up", "mouse_wheel"):
            self._save_state()

    def _show_message(self) -> None:
        if self.view.message:
            self._info(self.view.message)
            self.view.message = None

    def _live_overlay(self) -> None:
        self._canvas.draw(Redraw(overlay=True))
        clf = self.view.classifier
        if self.view.live_errors:
            self._error(self.view.live_errors.pop())
            self.view.live_errors.clear()
            return
        if clf is not None and self.view.result is not None:
            result = self.view.result
            if result.attrs.get("level", 0) == self.view.viewport.level():
                self._update_importances(clf)
        self._render_status()

    def _apply_features(self, features: FeatureSet) -> None:
        self.session.set_features(features)
        self.view.labels_changed()
        self._info(f"features changed: {features.n_features()} channels per image channel; "
                   "computing in the background")

    # -- keeping controls in step with the model -------------------------------------------
    def _save_state(self) -> None:
        if hasattr(self.session, "view_state"):
            try:
                self.session.view_state = self.view.state()
            except (AttributeError, TypeError):
                pass

    def _on_key(self, key: str, shift: bool, ctrl: bool, meta: bool) -> None:
        def apply(_: Any) -> None:
            self._draw(self.view.key_down(key, shift=shift, ctrl=ctrl, meta=meta))
            self._syncing = True
            try:
                self.class_select.value = self.view.class_id
                self.brush.value = int(round(self.view.radius))
                self.tool.value = self.view.tool
            finally:
                self._syncing = False
            if ctrl or meta:
                self._update_counts()
            self._render_status()

        self._guard(apply, None)

    def _render_status(self) -> None:
        view = getattr(self, "view", None)
        if view is None or not hasattr(self, "status"):
            return
        html = status_html(view.status())
        with DRAW_LOCK:
            self.status.value = html

    def _info(self, text: str) -> None:
        view = getattr(self, "view", None)
        if view is None:
            self.status.value = f"<span class='brushlab-status'>{escape(text)}</span>"
            return
        view.status_line.note(text)
        self._render_status()

    def _error(self, text: str) -> None:
        self.errors.append(text)
        view = getattr(self, "view", None)
        if view is not None:
            view.status_line.error(text)
            self._render_status()
        elif hasattr(self, "status"):
            self.status.value = (f"<span class='brushlab-status brushlab-error' "
                                 f"style='color:#b00020'>⚠ {escape(text)}</span>")


def _small() -> w.Layout:
    return w.Layout(width="auto", min_width="64px")  # fits its text: never cut


def _icon() -> w.Layout:
    return w.Layout(width="40px")
