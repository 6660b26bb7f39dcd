"""The annotator's controls in step with the view: setters from widgets, and widgets from state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from brushlab.classifier import PixelClassifier
from brushlab.errors import BrushlabError
from brushlab.view import Redraw

__all__ = ["ControlSync"]


class ControlSync:
    """Methods of :class:`Annotator` (a mixin: the state lives there)."""

    if TYPE_CHECKING:  # the state and helpers Annotator provides

        def __getattr__(self, name: str) -> Any: ...

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

    def _show_range(self, value: Any) -> None:
        lo, hi = value
        self.contrast_readout.value = f"{lo:.4g} – {hi:.4g}"
