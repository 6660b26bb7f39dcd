"""Annotator: the labelling widget (ipywidgets + ipycanvas) over a headless Session."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from html import escape
from typing import Any

import ipywidgets as w
import numpy as np

from ..classifier import PixelClassifier
from ..errors import BrushlabError
from ..features import FeatureSet
from ..session import LiveSettings, Session
from ..view import OVERLAYS, AnnotationView, Redraw
from ._canvas import DRAW_LOCK, LayeredCanvas
from ._extra_panels import ModelsPanel, ObjectsPanel
from ._network_panel import NetworkPanel
from ._panels import FeatureGrid, ImportanceChart, LabelCountChart, load_bokehjs

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


class Annotator(w.VBox):
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
        self._syncing = False
        self._train_thread: threading.Thread | None = None
        self._build_controls()
        super().__init__([self._toolbar(), w.HBox([self.canvas, self._side_panel()]),
                          self.status])
        state = getattr(self.session, "view_state", None)
        if isinstance(state, dict) and state:
            self.view.restore(state)
        self._sync_controls()
        self._update_counts()
        if live:
            self.live_toggle.value = True
        self._redraw_all()

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
        self.tool = w.ToggleButtons(options=[("Paint", "paint"), ("Erase", "erase"),
                                             ("Pan", "pan"), ("Objects", "objects")],
                                    value="paint", style={"button_width": "60px"},
                                    tooltips=["paint labels of the class", "erase labels",
                                              "drag to move the view",
                                              "click objects to label them (Objects tab)"])
        self.class_select = w.Dropdown(description="Class", layout=w.Layout(width="220px"))
        self.brush = w.IntSlider(value=3, min=0, max=50, description="Brush",
                                 layout=w.Layout(width="260px"))
        self.undo_button = w.Button(description="Undo", icon="undo", layout=_small())
        self.redo_button = w.Button(description="Redo", icon="repeat", layout=_small())
        self.live_toggle = w.ToggleButton(description="Live", icon="bolt", value=False,
                                          layout=_small())
        self.train_button = w.Button(description="Train", icon="cogs", layout=_small())
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
        self.contrast = w.FloatRangeSlider(description="Range", readout_format=".4g",
                                           layout=w.Layout(width="360px"))
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
        self.models_panel = ModelsPanel(self.view, self._draw, self._report)
        self.network_panel = NetworkPanel(self.view, self._draw, self._report)
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
                    self.redo_button]),
            w.HBox([self.live_toggle, self.train_button, self.suggest_button,
                    self.overlay_select, self.overlay_class]),
            w.HBox([self.image_select, self.z_slider, self.t_slider]),
            w.HBox([self.channel_select, self.contrast, self.auto_button, self.zoom_in,
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
            if self._train_thread is not None and self._train_thread.is_alive():
                self._info("training is already running")
                return None
            self._info("training…")
            self._train_thread = threading.Thread(target=self._train_now, daemon=True)
            self._train_thread.start()
            return None
        return self._train_now()

    def _train_now(self) -> PixelClassifier | None:
        try:
            clf = self.view.train()
        except BrushlabError as exc:
            self._error(str(exc))
            return None
        self._after_training(clf)
        n = sum(self.session.label_counts().values())
        self._info(f"trained {clf.n_trees} trees on {n:,} labelled pixels")
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

    def add_class(self, name: str | None = None, colour: Any = None) -> int | None:
        """Add a class (a free name and colour by default); it becomes the brush class."""
        try:
            cid = self.session.add_class(name, colour)
        except BrushlabError as exc:
            self._error(str(exc))
            return None
        self.view.class_id = cid
        self._classes_changed()
        return cid

    def rename_class(self, name: str) -> None:
        """Rename the selected class."""
        try:
            self.session.rename_class(self.view.class_id, name)
        except BrushlabError as exc:
            self._error(str(exc))
            return
        self._classes_changed()

    def recolour_class(self, colour: Any) -> None:
        """Give the selected class another colour."""
        self._recolour(colour)

    def delete_class(self) -> None:
        """Delete the selected class and its labels (not while it is the last one)."""
        try:
            self.session.remove_class(self.view.class_id)
        except BrushlabError as exc:
            self._error(str(exc))
            return
        self.view.class_id = 1
        self.view.overlay_class = 1
        self._classes_changed()
        self._draw(self.view.labels_changed())

    def import_labels(self, labels: Any, class_id: Any = None, *, overwrite: bool = True) -> None:
        """Import a mask as the selected (or given) class, or a label image when ``class_id=0``.

        Parameters
        ----------
        labels : array-like or path
            Shaped like the image shown (or its plane for 3D/time images).
        class_id : int or str, optional
            Class of the mask's nonzero pixels; default the brush class; 0 means
            the values are class ids.
        overwrite : bool, default True
            Replace existing labels too.
        """
        cid = self.view.class_id if class_id is None else class_id
        if not isinstance(labels, (str, os.PathLike)):
            labels = np.asarray(labels)
        # A 2D array on a 3D or time-lapse image goes into the plane shown.
        plane = self.view.plane_key if getattr(labels, "ndim", 0) == 2 else ()
        try:
            self.session.import_labels(self.view.image, labels, None if cid == 0 else cid,
                                       plane=plane or None, overwrite=overwrite)
        except BrushlabError as exc:
            self._error(str(exc))
            return
        self._draw(self.view.labels_changed())
        self._update_counts()

    def segmentation_to_labels(self) -> None:
        """Fill unlabelled pixels of the view with the current segmentation (one undo step)."""
        try:
            self.session.segmentation_to_labels(
                self.view.image, self.view.viewport.visible_region(),
                plane=self.view.plane_key or None, classifier=self.classifier)
        except BrushlabError as exc:
            self._error(str(exc))
            return
        self._draw(self.view.labels_changed())
        self._update_counts()

    def export_labels(self, path: str | os.PathLike[str]) -> None:
        """Write the labels of the image shown (TIFF, PNG, NPY, HDF5 or Zarr by extension)."""
        try:
            written = self.session.export_labels(self.view.image, path)
        except (BrushlabError, OSError) as exc:
            self._error(str(exc))
            return
        self._info(f"labels written to {written}")

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
            self._info(self.view.live_errors.pop())
            self.view.live_errors.clear()
        elif clf is not None and self.view.result is not None:
            result = self.view.result
            if result.attrs.get("level", 0) == self.view.viewport.level():
                self._update_importances(clf)
                n = sum(self.session.label_counts().values())
                self._info(f"live: {clf.n_trees} trees on {n:,} labelled pixels; overlay "
                           f"{result.sizes['y']}x{result.sizes['x']}")

    def _set_tool(self, tool: str) -> None:
        self.view.tool = tool
        self._canvas.draw(Redraw(cursor=True))

    def _set_class(self, cid: int | None) -> None:
        if cid is not None:
            self.view.class_id = int(cid)
            self._syncing = True
            try:
                self.colour.value = self.session.classes[int(cid) - 1].colour
            finally:
                self._syncing = False

    def _set_live(self, on: bool) -> None:
        self.view.set_live(bool(on))
        if on and self.overlay_select.value == "none":
            self.overlay_select.value = "probability"

    def _set_overlay(self, kind: str) -> None:
        self.view.overlay = kind
        self._canvas.draw(Redraw(overlay=True))

    def _set_overlay_class(self, cid: int | None) -> None:
        if cid is not None:
            self.view.overlay_class = int(cid)
            self._canvas.draw(Redraw(overlay=True))

    def _set_label_opacity(self, value: float) -> None:
        self.view.label_opacity = float(value)
        self._canvas.draw(Redraw(labels=True))

    def _set_overlay_opacity(self, value: float) -> None:
        self.view.overlay_opacity = float(value)
        self._canvas.draw(Redraw(overlay=True))

    def _select_image(self, index: int | None) -> None:
        if index is not None:
            self._draw(self.view.select_image(int(index)))
            self._sync_controls()

    def _set_plane(self, dim: str, value: int) -> None:
        if dim in self.view.plane:
            self._draw(self.view.set_plane(**{dim: int(value)}))

    def _set_channels(self, channels: tuple[int, ...] | None) -> None:
        if channels is not None:
            self._draw(self.view.set_channels(list(channels)))
            self._sync_contrast()

    def _auto_contrast(self) -> None:
        self._draw(self.view.auto_contrast())
        self._sync_contrast()

    def _recolour(self, colour: Any) -> None:
        try:
            self.session.recolour_class(self.view.class_id, colour)
        except BrushlabError as exc:
            self._error(str(exc))
            return
        self._classes_changed()

    def _import_upload(self, files: Any) -> None:
        if not files:
            return
        import io

        from ..images import imread

        item = files[0]
        name = str(item["name"])
        data = bytes(item["content"])
        suffix = os.path.splitext(name)[1].lower()
        try:
            if suffix == ".npy":
                arr = np.load(io.BytesIO(data), allow_pickle=False)
            else:
                import tempfile

                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, os.path.basename(name))
                    with open(path, "wb") as fh:
                        fh.write(data)
                    arr = np.asarray(imread(path).values)
        except (BrushlabError, OSError, ValueError) as exc:
            self._error(f"cannot read {name}: {exc}")
            return
        if arr.ndim == 3 and arr.shape[-1] in (3, 4):
            arr = arr[..., 0]
        self.import_labels(arr, 0 if self.upload_as_ids.value else None)
        self._info(f"imported {name}")

    def _apply_features(self, features: FeatureSet) -> None:
        self.session.set_features(features)
        self.view.labels_changed()
        self._info(f"features changed: {features.n_features()} channels per image channel; "
                   "computing in the background")

    # -- keeping controls in step with the model -------------------------------------------
    def _classes_changed(self) -> None:
        self.objects_panel.sync_classes()
        self._sync_controls()
        self._canvas.draw(Redraw(labels=True, overlay=True, cursor=True))
        self._update_counts()

    def _sync_controls(self) -> None:
        s, v = self.session, self.view
        self._syncing = True
        try:
            options = [(c.name, i + 1) for i, c in enumerate(s.classes)]
            self.class_select.options = options
            self.overlay_class.options = options
            v.class_id = min(max(v.class_id, 1), len(options))
            v.overlay_class = min(max(v.overlay_class, 1), len(options))
            self.class_select.value = v.class_id
            self.overlay_class.value = v.overlay_class
            self.colour.value = s.classes[v.class_id - 1].colour
            self.tool.value = v.tool
            self.brush.value = int(round(v.radius))
            self.overlay_select.value = v.overlay
            self.label_opacity.value = v.label_opacity
            self.overlay_opacity.value = v.overlay_opacity
            self.image_select.options = [(n, i) for i, n in enumerate(s.image_names)]
            self.image_select.value = v.image
            self.image_select.layout.display = "" if len(s.images) > 1 else "none"
            sizes = s.plane_sizes(v.image)
            for dim, slider in (("z", self.z_slider), ("t", self.t_slider)):
                if dim in sizes:
                    slider.max = sizes[dim] - 1
                    slider.value = v.plane.get(dim, 0)
                    slider.layout.display = ""
                else:
                    slider.layout.display = "none"
            n = v.settings.n_channels
            choices: list[tuple[str, tuple[int, ...]]] = [
                (f"channel {c}", (c,)) for c in range(n)]
            if 2 <= n <= 6:
                choices.insert(0, ("RGB" if n == 3 else "composite", tuple(range(n))))
            self.channel_select.options = choices
            self.channel_select.value = tuple(v.settings.channels) if tuple(
                v.settings.channels) in dict(choices).values() else choices[0][1]
            self.channel_select.layout.display = "" if n > 1 else "none"
        finally:
            self._syncing = False
        self._sync_contrast()

    def _sync_contrast(self) -> None:
        v = self.view
        lo, hi = v.settings.range
        pixels = v.plane_pixels()
        finite = pixels[np.isfinite(pixels)] if pixels.dtype.kind == "f" else pixels
        vmin = float(min(lo, finite.min())) if finite.size else lo
        vmax = float(max(hi, finite.max())) if finite.size else hi
        if not vmax > vmin:
            vmax = vmin + 1.0
        self._syncing = True
        try:
            # widen first, then narrow, so the slider never clamps to a stale bound
            self.contrast.max = max(vmax, self.contrast.max)
            self.contrast.min = min(vmin, self.contrast.min)
            self.contrast.value = (lo, hi)
            self.contrast.min = vmin
            self.contrast.max = vmax
            self.contrast.step = (vmax - vmin) / 1000
            self.contrast.value = (lo, hi)
        finally:
            self._syncing = False

    def _update_counts(self) -> None:
        counts = self.session.label_counts(self.view.image)
        classes = self.session.classes
        rows = "".join(
            f"<tr><td><span style='color:{c.colour}'>■</span> {c.name}</td>"
            f"<td style='text-align:right' class='brushlab-count'>{counts[c.name]:,}</td></tr>"
            for c in classes
        )
        self.counts.value = f"<table class='brushlab-counts'>{rows}</table>"
        self.count_chart.update([c.name for c in classes], [counts[c.name] for c in classes],
                                [c.colour for c in classes])

    def _update_importances(self, clf: PixelClassifier) -> None:
        try:
            imp = clf.feature_importances
        except (BrushlabError, AttributeError, ValueError):
            return
        self.importance_chart.update([str(n) for n in imp["feature"].values], imp.values)

    def _save_state(self) -> None:
        if hasattr(self.session, "view_state"):
            try:
                self.session.view_state = self.view.state()
            except (AttributeError, TypeError):
                pass

    def _info(self, text: str) -> None:
        with DRAW_LOCK:
            self.status.value = f"<span class='brushlab-status'>{escape(text)}</span>"

    def _error(self, text: str) -> None:
        self.errors.append(text)
        if hasattr(self, "status"):
            self.status.value = (f"<span class='brushlab-status brushlab-error' "
                                 f"style='color:#b00020'>⚠ {escape(text)}</span>")


def _small() -> w.Layout:
    return w.Layout(width="90px")
