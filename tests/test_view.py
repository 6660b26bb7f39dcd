"""The UI-free view logic: viewport mapping, rendering, pointer handling."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import brushlab
from brushlab.errors import ImageError
from brushlab.session import LiveSettings, Session
from brushlab.view import AnnotationView, CanvasRect, DisplaySettings, Viewport
from brushlab.view import _render as render

FAST = brushlab.FeatureSet({"gaussian_smoothing": [1.0, 3.5], "difference_of_gaussians": [2.0]})


@pytest.fixture
def two_halves():
    image = np.zeros((120, 160), np.float32)
    image[:, 80:] = 100
    image += np.random.default_rng(0).normal(0, 5, image.shape).astype(np.float32)
    return image


@pytest.fixture
def view(two_halves):
    s = Session(two_halves, classes=["dark", "bright"], features=FAST,
                classifier_params={"n_trees": 10})
    v = AnnotationView(s, (240, 320), live_settings=LiveSettings(preview_level=None, n_trees=8,
                                                                  preview_trees=8))
    yield v
    v.close()
    s.close()


def test_core_modules_do_not_import_ui_toolkits():
    code = ("import sys, brushlab, brushlab.view, brushlab.session, brushlab.cli._main; "
            "bad = [m for m in ('ipywidgets', 'ipycanvas', 'bokeh', 'jupyter_bokeh') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_viewport_maps_both_ways_and_fits():
    v = Viewport((100, 200), (400, 400))
    assert v.scale == 2.0
    assert v.visible_region() == (slice(0, 100), slice(0, 200))
    iy, ix = v.canvas_to_image(123.0, 77.0)
    assert v.image_to_canvas(iy, ix) == pytest.approx((123.0, 77.0))
    v.zoom_at(4.0, 200, 200)  # about the centre: the centre stays
    assert v.canvas_to_image(200, 200) == pytest.approx((50.0, 100.0))
    assert v.scale == 8.0 and v.level() == 0
    ys, xs = v.visible_region()
    assert (ys.stop - ys.start, xs.stop - xs.start) == (50, 50)


def test_viewport_zoomed_out_predicts_a_coarser_level():
    v = Viewport((4096, 4096), (1024, 1024))
    assert v.scale == 0.25 and v.level() == 2
    v.zoom(4.0)
    assert v.level() == 0


def test_sample_indices_mark_off_image_pixels():
    v = Viewport((10, 10), (40, 80))  # wider canvas: margins left and right
    rows, cols = v.sample_indices()
    assert (rows >= 0).all()
    assert (cols == -1).sum() == 40 and cols.max() == 9
    sub_rows, sub_cols = v.sample_indices(CanvasRect(20, 4, 10, 8))
    np.testing.assert_array_equal(sub_rows, rows[4:12])
    np.testing.assert_array_equal(sub_cols, cols[20:30])


def test_window_levelling_and_composite():
    values = np.array([[0.0, 50.0], [100.0, np.nan]], np.float32)
    np.testing.assert_array_equal(render.window(values, 0, 100), [[0, 127], [255, 0]])
    lo, hi = render.auto_contrast(np.arange(1000, dtype=np.float32))
    assert lo == pytest.approx(4.995) and hi == pytest.approx(994.005)
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    out = render.composite(rgb, [(0, 255)] * 3, [0, 1, 2])
    assert tuple(out[0, 0]) == (255, 0, 0, 255) and tuple(out[1, 1]) == (0, 0, 0, 255)
    grey = render.composite(rgb, [(0, 255)] * 3, [0])
    assert tuple(grey[0, 0]) == (255, 255, 255, 255)


def test_all_nan_plane_has_a_clear_error():
    with pytest.raises(ImageError, match="no finite values"):
        render.auto_contrast(np.full((4, 4), np.nan))


def test_display_defaults_full_range_for_8_bit_and_composite_for_rgb():
    rgb = np.zeros((5, 5, 3), np.uint8)
    d = DisplaySettings.for_plane(rgb)
    assert d.channels == [0, 1, 2] and d.ranges == [(0.0, 255.0)] * 3
    d.set_range(10, 20)
    assert d.ranges == [(10.0, 20.0)] * 3


def test_pointer_stroke_paints_under_the_cursor(view):
    v = view  # 120x160 image on a 240x320 canvas: scale 2
    r = v.mouse_down(20, 20)
    assert r.labels and r.labels_rect is not None
    v.mouse_move(60, 20)
    v.mouse_up(100, 20)  # image x 10..50 at y 10
    labels = v.session.labels(0)
    assert labels[10, 10] == 1 and labels[10, 30] == 1 and labels[10, 49] == 1
    assert labels[30, 30] == 0
    assert v.session.can_undo
    v.undo()
    assert v.session.labels(0).sum() == 0


def test_sparse_events_are_interpolated(view):
    view.radius = 0
    view.mouse_down(2, 41)
    view.mouse_up(300, 41)  # one jump across the image
    row = view.session.labels(0)[20]
    assert (row[1:150] == 1).all()


def test_pan_and_wheel_move_the_view(view):
    view.tool = "pan"
    before = view.viewport.origin
    view.mouse_down(100, 100)
    view.mouse_move(120, 110)
    view.mouse_up(120, 110)
    assert view.viewport.origin == pytest.approx((before[0] - 5, before[1] - 10))
    assert view.session.labels(0).sum() == 0  # panning paints nothing
    view.mouse_move(50, 50)
    scale = view.viewport.scale
    point = view.viewport.canvas_to_image(50, 50)
    view.wheel(0, -100)
    assert view.viewport.scale > scale
    assert view.viewport.canvas_to_image(50, 50) == pytest.approx(point)


def test_painting_outside_the_image_is_a_message_not_an_error(view):
    view.viewport.zoom(0.3)  # margins around the image
    view.mouse_down(1, 1)
    view.mouse_up(2, 2)
    assert view.session.labels(0).sum() == 0
    assert view.message and "outside" in view.message


def test_live_overlay_after_strokes(view):
    view.set_live(True)
    view.mouse_down(20, 20)
    view.mouse_up(120, 220)
    view.class_id = 2
    view.mouse_down(200, 20)
    view.mouse_up(300, 220)
    assert view.wait_idle(60)
    assert view.classifier is not None and view.result is not None
    view.overlay = "segmentation"
    _, rgba = view.render_overlay()
    colours = {c.rgb for c in view.session.classes}
    left, right = tuple(rgba[120, 40, :3]), tuple(rgba[120, 280, :3])
    assert left in colours and right in colours and left != right
    view.overlay = "uncertainty"
    _, unc = view.render_overlay()
    u = view.result.uncertainty.values  # canvas pixel (y, x) shows image pixel (y//2, x//2)
    for y, x in [(120, 40), (120, 160), (10, 300)]:
        expected = int(np.clip(u[y // 2, x // 2] * 0.5 * 255, 0, 255))
        assert unc[y, x, 3] == expected
    window = view.suggest(size=16)
    assert window[0].stop - window[0].start == 16


def test_state_round_trip(view, two_halves):
    view.zoom(2.0)
    view.tool = "erase"
    view.set_contrast(10, 90)
    state = view.state()
    other = AnnotationView(view.session, (240, 320))
    other.restore(state)
    assert other.viewport.scale == view.viewport.scale and other.tool == "erase"
    assert other.settings.range == (10.0, 90.0)
