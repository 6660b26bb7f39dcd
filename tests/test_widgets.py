"""The Annotator widget, driven with the messages the browser sends (no browser needed)."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("ipycanvas")

import brushlab  # noqa: E402
import brushlab.testing  # noqa: E402
from brushlab.errors import BrushlabError  # noqa: E402
from brushlab.session import LiveSettings, Session  # noqa: E402
from brushlab.widgets import Annotator, annotate  # noqa: E402

FAST = brushlab.FeatureSet({"gaussian_smoothing": [1.0, 3.5], "difference_of_gaussians": [2.0]})
QUICK = LiveSettings(preview_level=None, n_trees=8, preview_trees=8)


def halves(shape=(100, 100)):
    image = np.zeros(shape, np.float32)
    image[..., shape[-1] // 2:] = 100
    return image + np.random.default_rng(0).normal(0, 5, shape).astype(np.float32)


class Recorder:
    """Keeps what each canvas layer was last sent by put_image_data."""

    def __init__(self, annotator):
        self.last: dict[int, tuple[int, int, np.ndarray]] = {}
        self.count = {i: 0 for i in range(4)}
        for i in range(4):
            layer = annotator.canvas[i]
            original = layer.put_image_data

            def put(data, x=0, y=0, _i=i, _orig=original):
                self.last[_i] = (x, y, np.array(data))
                self.count[_i] += 1
                _orig(data, x, y)

            layer.put_image_data = put


def send(annotator, event, x, y):
    """What ipycanvas's frontend sends: a custom message with buffer-pixel coordinates."""
    annotator.canvas._handle_custom_msg({"event": event, "x": x, "y": y}, [])


def drag(annotator, points):
    send(annotator, "mouse_down", *points[0])
    for p in points[1:-1]:
        send(annotator, "mouse_move", *p)
    send(annotator, "mouse_up", *points[-1])


@pytest.fixture
def ann():
    a = annotate(halves(), classes=["dark", "bright"], features=FAST,
                 classifier_params={"n_trees": 10}, size=100, pixel_ratio=2, live=False,
                 live_settings=QUICK)
    yield a
    a.close()
    a.session.close()



def _until(condition, deadline_s: float = 60.0, poll_s: float = 0.01) -> bool:
    """Poll ``condition`` until it holds (True) or a generous deadline passes (False)."""
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(poll_s)
    return True

def test_annotator_parts(ann):
    assert isinstance(ann, Annotator)
    assert len(ann.canvas._canvases) == 4  # image, labels, overlay, cursor
    assert (ann.canvas.width, ann.canvas.height) == (200, 200)  # 2x the CSS size
    assert ann.canvas.layout.width == "100px"
    assert ann.labels.shape == (100, 100) and ann.labels.sum() == 0
    assert ann.classifier is None
    assert isinstance(ann.session, Session)


def test_mouse_strokes_label_and_undo_redo(ann):
    rec = Recorder(ann)
    drag(ann, [(20, 20), (60, 24), (100, 20)])  # buffer px -> image px / 2
    assert ann.labels[10, 10] == 1 and ann.labels[10, 49] == 1
    assert rec.count[1] >= 1  # labels layer redrawn (dirty rectangles)
    x, y, data = rec.last[1]
    assert data.shape[2] == 4 and data[..., 3].max() > 0
    ann.brush.value = 5
    ann.class_select.value = 2
    drag(ann, [(150, 150), (160, 180)])
    assert (ann.labels == 2).sum() > 0
    assert "bright" in ann.counts.value and f"{(ann.labels == 2).sum():,}" in ann.counts.value
    n2 = (ann.labels == 2).sum()
    ann.undo_button.click()
    assert (ann.labels == 2).sum() == 0
    ann.redo_button.click()
    assert (ann.labels == 2).sum() == n2
    ann.tool.value = "erase"
    drag(ann, [(150, 150), (160, 180)])
    assert (ann.labels == 2).sum() < n2


def test_train_shows_overlays(ann):
    rec = Recorder(ann)
    drag(ann, [(10, 10), (10, 190)])
    ann.class_select.value = 2
    drag(ann, [(190, 10), (190, 190)])
    clf = ann.train()
    assert clf is not None and ann.classifier is clf and clf.n_trees == 10
    assert ann.overlay_select.value == "probability"
    _, _, overlay = rec.last[2]
    assert overlay[..., 3].max() > 0  # drawn, not empty
    ann.overlay_select.value = "segmentation"
    _, _, seg = rec.last[2]
    left, right = tuple(seg[100, 20, :3]), tuple(seg[100, 180, :3])
    assert left == ann.session.classes[0].rgb and right == ann.session.classes[1].rgb
    ann.overlay_select.value = "uncertainty"
    ann.overlay_opacity.value = 0.0
    assert rec.last[2][2][..., 3].max() == 0
    assert len(ann.importance_chart.source.data["feature"]) > 0
    assert ann.suggest() is not None


def test_live_mode_retrains_after_each_stroke(ann):
    ann.live_toggle.value = True
    drag(ann, [(10, 10), (10, 190)])
    ann.class_select.value = 2
    drag(ann, [(190, 10), (190, 190)])
    assert ann.view.wait_idle(60)
    assert _until(lambda: ann.classifier is not None and ann.view.result is not None)
    first = ann.classifier
    drag(ann, [(180, 10), (180, 190)])
    assert ann.view.wait_idle(60)
    assert ann.classifier is not first
    assert "live:" in ann.status.value


def test_class_add_rename_recolour_delete(ann):
    drag(ann, [(10, 10), (10, 100)])
    cid = ann.add_class("membrane")
    assert cid == 3 and ann.class_select.value == 3
    drag(ann, [(100, 100), (120, 120)])
    assert (ann.labels == 3).sum() > 0
    ann.class_name.value = "dark"  # exists: a message, nothing changes
    ann.rename_button.click()
    assert "dark" in ann.status.value and ann.session.class_names[2] == "membrane"
    ann.class_name.value = "edge"
    ann.rename_button.click()
    assert ann.session.class_names == ["dark", "bright", "edge"]
    ann.colour.value = "#123456"
    assert ann.session.classes[2].colour == "#123456"
    ann.delete_class_button.click()  # the selected class, and its labels
    assert ann.session.class_names == ["dark", "bright"]
    assert ann.labels.max() == 1 and (ann.labels == 1).sum() > 0
    ann.class_select.value = 2
    ann.delete_class_button.click()
    ann.delete_class_button.click()  # the last class cannot go
    assert len(ann.session.classes) == 1
    assert "brushlab-error" in ann.status.value


def test_three_d_and_time_sliders():
    volume = np.stack([halves((40, 50))] * 5)  # zyx
    a = annotate(volume, features=FAST, size=50, live=False)
    try:
        assert a.z_slider.layout.display == "" and a.z_slider.max == 4
        assert a.t_slider.layout.display == "none"
        a.z_slider.value = 3
        drag(a, [(10, 10), (60, 10)])
        assert a.labels[3].sum() > 0 and a.labels[0].sum() == 0
    finally:
        a.close()
        a.session.close()
    movie = np.stack([halves((30, 30))] * 3)
    b = annotate(brushlab.as_image(movie, dims="tyx"), features=FAST, size=30, live=False)
    try:
        assert b.t_slider.max == 2 and b.z_slider.layout.display == "none"
    finally:
        b.close()
        b.session.close()


def test_multichannel_channels_and_contrast():
    rgb = (np.random.default_rng(1).random((40, 60, 3)) * 255).astype(np.uint8)
    a = annotate(rgb, features=FAST, size=60, live=False)
    try:
        rec = Recorder(a)
        assert a.channel_select.value == (0, 1, 2)  # RGB composite
        a._redraw_all()
        composite = rec.last[0][2].copy()
        a.channel_select.value = (1,)
        grey = rec.last[0][2]
        assert (grey[..., 0] == grey[..., 2]).all() and not (composite == grey).all()
        a.contrast.value = (100.0, 150.0)
        windowed = rec.last[0][2]
        assert set(np.unique(windowed[..., 0])) <= set(range(256))
        on_image = windowed[..., 3] == 255
        expected = (rgb[..., 1] >= 150).mean()  # channel 1 shown; 150 and above is white
        assert (windowed[..., 0][on_image] == 255).mean() == pytest.approx(expected, abs=0.03)
        a.auto_button.click()
        assert a.contrast.value[0] < 10
    finally:
        a.close()
        a.session.close()


def test_zoom_buttons_and_wheel(ann):
    scale = ann.view.viewport.scale
    ann.zoom_in.click()
    assert ann.view.viewport.scale == pytest.approx(scale * 1.5)
    send(ann, "mouse_move", 50, 50)
    send(ann, "mouse_wheel", 0, 200)  # ipycanvas sends deltaX, deltaY
    assert ann.view.viewport.scale < scale * 1.5
    ann.fit_button.click()
    assert ann.view.viewport.scale == pytest.approx(scale)


def test_bad_images_give_messages_not_dead_kernels():
    with pytest.raises(BrushlabError, match="cannot be shown"):
        annotate(np.zeros((1, 1), np.float32), live=False)
    a = annotate([halves((30, 30)), np.full((20, 20), np.nan, np.float32)], features=FAST,
                 size=40, live=False)
    try:
        assert len(a.session.images) == 1
        assert any("image 1" in e for e in a.errors)
        assert "image 1" in a.status.value
    finally:
        a.close()
        a.session.close()


def test_labels_in_and_out(ann, tmp_path):
    mask = np.zeros((100, 100), bool)
    mask[:10, :10] = True
    ann.import_labels(mask, "bright")
    assert (ann.labels == 2).sum() == 100
    ids = np.zeros((100, 100), np.uint8)
    ids[50:52, :] = 1
    ann.import_labels(ids, 0)
    assert (ann.labels[50:52] == 1).all()
    drag(ann, [(190, 10), (190, 190)])
    ann.class_select.value = 2
    drag(ann, [(10, 190), (100, 190)])
    ann.train()
    before = (ann.labels > 0).sum()
    ann.to_labels_button.click()
    assert (ann.labels > 0).sum() == 100 * 100 > before
    ann.undo_button.click()
    assert (ann.labels > 0).sum() == before
    ann.export_path.value = str(tmp_path / "labels.tif")
    ann.export_button.click()
    np.testing.assert_array_equal(brushlab.imread(tmp_path / "labels.tif").values, ann.labels)
    ann.import_labels(np.zeros((5, 5)), 1)  # wrong shape: a message
    assert "brushlab-error" in ann.status.value


def test_upload_imports_a_mask(ann, tmp_path):
    import io

    mask = np.zeros((100, 100), np.uint8)
    mask[20:30, 20:30] = 1
    buf = io.BytesIO()
    np.save(buf, mask)
    ann.class_select.value = 2
    ann._import_upload([{"name": "mask.npy", "content": memoryview(buf.getvalue())}])
    assert (ann.labels == 2).sum() == 100


def test_feature_grid_changes_the_feature_set(ann):
    grid = ann.feature_grid
    assert grid.selection() == FAST.selection
    for box in grid.checks.values():
        box.value = False
    assert grid.apply() is None and "at least one" in grid.message.value
    grid.checks[("gaussian_gradient_magnitude", 1.6)].value = True
    fs = grid.apply()
    assert ann.session.features == fs == brushlab.FeatureSet({"gaussian_gradient_magnitude": [1.6]})
    drag(ann, [(10, 10), (10, 190)])
    ann.class_select.value = 2
    drag(ann, [(190, 10), (190, 190)])
    assert ann.train().features == fs


def test_client_ready_redraws_everything(ann):
    rec = Recorder(ann)
    ann.canvas[3]._handle_frontend_event(None, {"event": "client_ready"}, [])
    assert rec.count[0] == 1 and rec.count[1] == 1 and rec.count[2] == 1
    assert ann.canvas[0]._canvas_manager._current_canvas is not None


def coins_annotator(**kw):
    from skimage import data

    a = annotate(data.coins()[:160, :160], classes=["background", "coin"], features=FAST,
                 classifier_params={"n_trees": 20}, size=160, live=False, **kw)
    a.import_labels(brushlab.datasets.simulate_scribbles(
        (data.coins()[:160, :160] > 110).astype(np.uint8), classes=[0, 1],
        strokes_per_class=6, margin=3, seed=0), 0)
    return a


def test_objects_find_measure_and_classify_by_clicks():
    a = coins_annotator()
    try:
        panel = a.objects_panel
        assert panel.find() is None and "train" in a.status.value  # nothing trained yet
        a.train()
        assert panel.source_class.value == 2  # the last class: coins
        n = panel.find()
        assert n and n >= 3
        assert a.view.overlay == "objects"
        table = a.view.objects.table
        assert len(table) == n and "area" in table.columns
        assert "<table" in panel.table.value
        # click two objects of each object class with the Objects tool
        labels = a.view.objects.labels
        ids = [int(i) for i in table.sort_values("area").index]
        a.tool.value = "objects"

        def click_object(oid, cls):
            a.objects_panel.object_class.value = cls
            ys, xs = np.nonzero(labels == oid)
            k = len(ys) // 2
            cy, cx = a.view.viewport.image_to_canvas(ys[k] + 0.5, xs[k] + 0.5)
            send(a, "mouse_down", cx, cy)
            send(a, "mouse_up", cx, cy)

        for oid in ids[:2]:
            click_object(oid, "class A")
        for oid in ids[-2:]:
            click_object(oid, "class B")
        assert a.view.objects.annotations == {ids[0]: "class A", ids[1]: "class A",
                                             ids[-2]: "class B", ids[-1]: "class B"}
        assert (a.labels > 0).sum() > 0  # clicking objects painted nothing
        panel.classify()
        pred = a.view.objects.predictions
        assert len(pred) == n and set(pred["class"]) <= {"class A", "class B"}
        assert a.view.overlay == "object classes"
        _, rgba = a.view.render_overlay()
        assert rgba[..., 3].max() > 0
    finally:
        a.close()
        a.session.close()


def test_models_panel_runs_a_package_as_overlay(tmp_path):
    a = coins_annotator()
    try:
        clf = a.train()
        clf.export_bioimageio(tmp_path / "coins.zip", sample_image=a.view.plane_pixels())
        panel = a.models_panel
        panel.folder.value = str(tmp_path)
        assert panel.scan() == 1
        a.live_toggle.value = False
        assert panel.run()
        result = a.view.result
        assert result.attrs["source"] == "model"
        expected = a.session.predict_region(0, classifier=clf)
        np.testing.assert_allclose(result.probabilities.values,
                                   expected.probabilities.values, atol=1e-4)
        panel.folder.value = str(tmp_path / "missing")
        assert panel.scan() == 0 and "brushlab-error" in a.status.value
    finally:
        a.close()
        a.session.close()


def test_reopened_project_restores_the_widget(tmp_path):
    a = coins_annotator()
    try:
        a.train()
        a.zoom_in.click()
        a.class_select.value = 2
        a.overlay_select.value = "segmentation"
        a.label_opacity.value = 0.3
        a.session.save(tmp_path / "coins.blproj")
        labels = a.labels.copy()
        state = a.view.state()
    finally:
        a.close()
        a.session.close()
    session = brushlab.open_project(tmp_path / "coins.blproj")
    b = annotate(session, live=False, size=160)
    try:
        np.testing.assert_array_equal(b.labels, labels)
        assert b.view.viewport.scale == pytest.approx(state["viewport"]["scale"])
        assert b.class_select.value == 2 and b.overlay_select.value == "segmentation"
        assert b.label_opacity.value == pytest.approx(0.3)
        assert b.classifier is None and b.session.classifier is not None
    finally:
        b.close()
        session.close()


def test_several_images_of_different_sizes_keep_their_own_labels():
    a = annotate([halves((60, 80)), halves((40, 40))], features=FAST, size=80, live=False)
    try:
        assert a.image_select.layout.display == ""
        drag(a, [(10, 10), (100, 10)])
        first = a.labels.copy()
        a.image_select.value = 1
        assert a.labels.shape == (40, 40) and a.labels.sum() == 0
        drag(a, [(10, 100), (100, 100)])
        assert a.labels.sum() > 0
        a.image_select.value = 0
        np.testing.assert_array_equal(a.labels, first)
        assert a.add_image(np.full((1, 1), 3.0)) is None and "cannot be shown" in a.status.value
        assert a.add_image(halves((30, 50)), "third") == 2
        assert [label for label, _ in a.image_select.options][-1] == "third"
    finally:
        a.close()
        a.session.close()
