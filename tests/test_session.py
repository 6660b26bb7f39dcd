"""Headless Session: painting, undo, classes, feature cache, training and region prediction."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy import ndimage as ndi

import brushlab
from brushlab.errors import BrushlabError, ClassifierError, ImageError, LabelError
from brushlab.session import LabelClass, Session

FS = brushlab.FeatureSet({"gaussian_smoothing": [0.7, 2.0], "st": [1.0], "hessian": [1.0]})
PARAMS = {"n_trees": 6, "n_jobs": 2}
TILES = {2: (32, 32), 3: (4, 32, 32)}
OUTPUTS = ("probabilities", "segmentation", "uncertainty", "confidence")


def blobs(shape=(70, 90), seed=0):
    rng = np.random.default_rng(seed)
    return (ndi.gaussian_filter(rng.random(shape), 3) * 100).astype(np.float32)


def make_session(*images, **kwargs):
    kwargs.setdefault("features", FS)
    kwargs.setdefault("classifier_params", PARAMS)
    kwargs.setdefault("tile_shape", TILES)
    return Session(list(images) if images else None, **kwargs)


def scribble(session, image=0, plane=None):
    session.paint(image, [(5, 5), (5, 60), (30, 80)], 1, radius=1, plane=plane)
    session.paint(image, [(60, 5), (45, 40)], 2, radius=2, plane=plane)


@pytest.fixture
def session():
    s = make_session(blobs())
    yield s
    s.close()


# -- training and prediction from the cache -------------------------------------------------


def test_predict_region_equals_classifier_predict(session):
    scribble(session)
    clf = session.train()
    assert isinstance(clf, brushlab.PixelClassifier) and clf.n_trees == 6
    assert clf.class_names == ["class 1", "class 2"]
    full = session.predict_region(0)
    ref = clf.predict(session.images[0])
    for name in OUTPUTS:
        assert_array_equal(full[name].values, ref[name].values)
    # The forest is the one PixelClassifier.fit trains on the same labels.
    fitted = brushlab.PixelClassifier(FS, random_state=0, **PARAMS)
    fitted.fit(session.images[0], session.labels(0))
    assert_array_equal(fitted.predict(session.images[0]).probabilities.values,
                       ref.probabilities.values)


def test_predict_region_subregions_and_levels(session):
    scribble(session)
    session.train()
    full = session.predict_region(0).probabilities.values
    part = session.predict_region(0, (slice(13, 61), slice(7, 89)))
    assert_array_equal(part.probabilities.values, full[:, 13:61, 7:89])
    assert part.y.values[0] == 13 and part.x.values[-1] == 88
    for level in (1, 2, 3):
        step = 2**level
        coarse = session.predict_region(0, ((3, 70), (30, None)), level=level)
        assert_array_equal(coarse.probabilities.values, full[:, 3:70:step, 30::step])
        assert_array_equal(coarse.y.values, np.arange(3, 70, step))
        assert coarse.attrs["level"] == level and coarse.attrs["step"] == step


def test_features_computed_once_never_on_strokes(session):
    session.prefetch(0, wait=True)
    n_tiles = len(session.feature_cache.tiles_in(0, (slice(0, 70), slice(0, 90))))
    assert session.feature_cache.stats["computed"] == n_tiles == 9
    scribble(session)
    session.train()
    session.predict_region(0)
    session.paint(0, [(20, 20), (25, 30)], 2, radius=1)
    session.train()
    session.predict_region(0, level=1)
    assert session.feature_cache.stats["computed"] == n_tiles


def test_feature_cache_lru_cap_keeps_results_exact():
    image = blobs()
    cap = 3 * 32 * 32 * FS.n_features() * 4  # three full tiles
    with make_session(image, cache_bytes=cap, precompute=False) as s:
        scribble(s)
        clf = s.train()
        res = s.predict_region(0)
        stats = s.feature_cache.stats
        assert stats["evicted"] > 0 and stats["bytes"] <= cap and stats["tiles"] < 9
        assert_array_equal(res.probabilities.values, clf.predict(image).probabilities.values)


# -- painting -------------------------------------------------------------------------------


def test_disc_brush_shape(session):
    for radius, expected in [(0, 1), (1, 9), (2, 21), (3, 37)]:
        result = session.paint(0, [(30, 40)], 1, radius=radius)
        assert result.changed == expected
        session.undo()
    result = session.paint(0, [(30.4, 39.6)], 1, radius=0)  # floats round to a pixel
    assert result.changed == 1 and session.labels(0)[30, 40] == 1


def test_sparse_points_are_interpolated_without_gaps(session):
    stroke = session.begin_stroke(0, 2, radius=0)
    for point in [(2, 3), (40, 17), (10, 85), (65, 60)]:  # a fast drag: far apart events
        stroke.extend(point)
    result = stroke.end()
    mask = session.labels(0) == 2
    _, n = ndi.label(mask, structure=np.ones((3, 3)))
    assert n == 1
    for point in [(2, 3), (40, 17), (10, 85), (65, 60), (21, 10)]:
        assert mask[point]
    assert result.changed == mask.sum()
    assert result.region == (slice(2, 66), slice(3, 86))
    session.paint(0, [(5, 5), (5, 60)], 1, radius=2)
    rows = np.nonzero(session.labels(0)[:, 30] == 1)[0]
    assert_array_equal(rows, np.arange(3, 8))


def test_extend_returns_dirty_box_and_session_methods(session):
    session.begin_stroke(0, "class 1", radius=1)
    assert session.extend_stroke([(10, 10)]) == (slice(9, 12), slice(9, 12))
    assert session.extend_stroke([(10, 20)]) == (slice(9, 12), slice(12, 22))
    assert session.extend_stroke([(10, 15)]) is None  # already painted
    assert session.end_stroke().changed == 3 * 13
    with pytest.raises(LabelError, match="begin_stroke"):
        session.extend_stroke([(1, 1)])


def test_points_outside_are_clipped_and_outside_strokes_are_noops(session):
    result = session.paint(0, [(10, -50), (10, 20)], 1, radius=0)
    assert result.changed == 21 and session.labels(0)[10, :21].all()
    outside = session.paint(0, [(-30, -30), (-10, 500)], 1, radius=2)
    assert outside.changed == 0 and "outside the image" in outside.message
    assert session.paint(0, [(10, 5)], 1, radius=0).message.startswith("the stroke changed no")
    session.undo()
    assert not session.labels(0).any() and not session.can_undo


def test_undo_redo_per_stroke_store_only_changed_pixels(session):
    snapshots = [session.labels(0).copy()]
    session.paint(0, [(10, 10), (10, 50)], 1, radius=2)
    snapshots.append(session.labels(0).copy())
    second = session.paint(0, [(5, 30), (30, 30)], 2, radius=3)
    snapshots.append(session.labels(0).copy())
    session.erase(0, [(10, 10), (10, 20)], radius=1)
    snapshots.append(session.labels(0).copy())
    for expected in snapshots[-2::-1]:
        edit = session.undo()
        assert edit is not None
        assert_array_equal(session.labels(0), expected)
    assert session.undo() is None
    session.redo()
    edit = session.redo()
    assert edit.kind == "paint" and edit.n_pixels == second.changed
    assert edit.index.size == np.count_nonzero(snapshots[2] != snapshots[1])
    assert_array_equal(session.labels(0), snapshots[2])
    session.paint(0, [(60, 80)], 1, radius=0)  # a new edit clears redo
    assert not session.can_redo


def test_new_stroke_ends_open_stroke_and_context_manager(session):
    first = session.begin_stroke(0, 1, radius=1)
    first.extend([(20, 20), (20, 30)])
    session.begin_stroke(0, 2, radius=1).extend([(40, 40)])
    assert not first.active and session.labels(0)[20, 25] == 1
    session.end_stroke()
    with session.begin_stroke(0, 2, radius=0) as stroke:
        stroke.extend([(50, 50), (50, 55)])
    assert session.labels(0)[50, 52] == 2
    session.undo(), session.undo(), session.undo()
    assert not session.labels(0).any()


def test_labels_are_read_only_views(session):
    with pytest.raises(ValueError):
        session.labels(0)[0, 0] = 1
    assert session.labels(0).dtype == np.uint8 and session.labels(0).shape == (70, 90)


# -- classes --------------------------------------------------------------------------------


def test_class_management_and_counts(session):
    assert session.classes[0] == LabelClass("class 1", session.classes[0].colour)
    cid = session.add_class("nuclei", "#F70")
    assert cid == 3 and session.classes[2].colour == "#ff7700"
    assert session.classes[2].rgb == (255, 119, 0)
    session.rename_class("class 1", "background")
    session.recolour_class(2, (0, 128, 255))
    assert session.class_names == ["background", "class 2", "nuclei"]
    assert session.classes[1].colour == "#0080ff"
    session.paint(0, [(10, 10)], "background", radius=1)
    session.paint(0, [(30, 30)], 2, radius=1)
    session.paint(0, [(50, 50)], "nuclei", radius=2)
    assert session.label_counts() == {"background": 9, "class 2": 9, "nuclei": 21}
    with pytest.raises(LabelError, match="exists already"):
        session.add_class("nuclei")
    with pytest.raises(LabelError, match="exists already"):
        session.rename_class(2, "background")
    with pytest.raises(LabelError, match="not a colour"):
        session.recolour_class(1, "blue-ish")
    with pytest.raises(LabelError, match="no class"):
        session.class_id(4)


def test_remove_class_erases_its_labels_and_shifts_ids(session):
    session.add_class("third")
    session.paint(0, [(10, 10)], 1, radius=1)
    session.paint(0, [(30, 30)], 2, radius=1)
    session.paint(0, [(50, 50)], 3, radius=1)
    session.train()
    assert session.remove_class(2) == 9
    assert session.class_names == ["class 1", "third"]
    labels = session.labels(0)
    assert labels[30, 30] == 0 and labels[50, 50] == 2 and labels[10, 10] == 1
    assert session.classifier is None
    session.undo()  # undoes the "third" stroke, remapped to id 2
    assert session.labels(0)[50, 50] == 0
    session.redo()
    assert session.labels(0)[50, 50] == 2
    session.remove_class("third")
    with pytest.raises(LabelError, match="last class"):
        session.remove_class(1)
    assert session.labels(0)[10, 10] == 1  # nothing lost


def test_added_and_renamed_classes_keep_the_trained_model(session):
    scribble(session)
    session.train()
    session.rename_class(1, "dark")
    session.add_class("new")
    result = session.predict_region(0)
    assert list(result["class"].values) == ["dark", "class 2", "new"]
    assert float(result.probabilities.sel({"class": "new"}).max()) == 0.0


def test_many_classes_widen_labels_to_uint16(session):
    session.paint(0, [(10, 10)], 2, radius=0)
    for _ in range(253):
        session.add_class()
    assert session.labels(0).dtype == np.uint8
    session.add_class("256th")
    assert session.labels(0).dtype == np.uint16 and session.class_id("256th") == 256
    session.paint(0, [(20, 20)], 256, radius=0)
    assert session.labels(0)[20, 20] == 256 and session.labels(0)[10, 10] == 2
    session.undo()
    session.undo()
    assert not session.labels(0).any()


# -- images of several kinds -------------------------------------------------------------------


def test_volume_planes_match_classifier_predict():
    volume = np.stack([blobs(seed=s) for s in range(6)])
    with make_session(volume) as s:
        assert s.plane_sizes(0) == {"z": 6}
        with pytest.raises(LabelError, match="pass plane="):
            s.paint(0, [(5, 5)], 1)
        scribble(s, plane=1)
        s.paint(0, [(20, 20), (40, 70)], 1, radius=1, plane={"z": 4})
        assert s.labels(0).shape == (6, 70, 90) and s.labels(0)[1].any() and s.labels(0)[4].any()
        clf = s.train()
        ref = clf.predict(volume)
        fitted = brushlab.PixelClassifier(FS, random_state=0, **PARAMS).fit(volume, s.labels(0))
        assert_array_equal(fitted.predict(volume).probabilities.values, ref.probabilities.values)
        for z in (0, 3, 5):
            got = s.predict_region(0, plane=z)
            assert_array_equal(got.probabilities.values, ref.probabilities.values[:, z])
        assert s.plane_image(0, 2).shape == (70, 90)
        with pytest.raises(LabelError, match="outside 0..5"):
            s.paint(0, [(5, 5)], 1, plane=6)


def test_time_series_multichannel_and_several_sizes():
    series = np.stack([blobs((40, 50), seed=s) for s in range(3)])
    rgb = np.stack([blobs((50, 60), seed=s) for s in (7, 8, 9)], axis=-1)
    with make_session(series) as s:
        s.add_image(brushlab.as_image(series, dims="tyx"), name="movie")
        assert s.plane_sizes("movie") == {"t": 3} and s.plane_sizes(0) == {"z": 3}
        s.paint("movie", [(5, 5), (5, 40)], 1, radius=1, plane=2)
        s.paint("movie", [(35, 5), (30, 45)], 2, radius=1, plane=2)
        clf = s.train()
        ref = clf.predict(s.images[1]).probabilities.values
        assert_array_equal(s.predict_region("movie", plane=2).probabilities.values, ref[:, 2])
        i = s.add_image(rgb, name="rgb")
        assert s.labels(i).shape == (50, 60) and s.plane_image(i).shape == (50, 60, 3)
        with pytest.raises(ClassifierError, match="channel"):
            s.predict_region("rgb")
    small, big = blobs((40, 50), seed=1), blobs((90, 70), seed=2)
    with make_session(small, big) as s:
        scribble(s, 1)
        s.paint(0, [(5, 5), (30, 40)], 2, radius=1)
        clf = s.train()
        fitted = brushlab.PixelClassifier(FS, random_state=0, **PARAMS)
        fitted.fit([small, big], [s.labels(0), s.labels(1)])
        for i, img in enumerate((small, big)):
            assert_array_equal(s.predict_region(i).probabilities.values,
                               fitted.predict(img).probabilities.values)
        assert clf.training["n_images"] == 2


def test_incompatible_labelled_images_need_images_argument():
    with make_session(blobs(), np.stack([blobs(seed=s) for s in range(3)])) as s:
        scribble(s, 0)
        scribble(s, 1, plane=0)
        with pytest.raises(ImageError, match="images="):
            s.train()
        assert s.train(images=[1]).spatial_ndim == 3
        assert s.train(images=["image 0"]).spatial_ndim == 2


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.ones((1, 1), np.float32), "too small"),
        (np.ones((1, 40), np.uint8), "too small"),
        (np.full((30, 30), np.nan, np.float32), "NaN"),
        (np.where(np.eye(30) > 0, np.inf, 0).astype(np.float32), "NaN or infinite"),
        (np.array([["a", "b"], ["c", "d"]]), "dtype"),
        (np.zeros((0, 5)), "empty"),
    ],
)
def test_images_the_canvas_cannot_show_fail_at_add_image(session, image, match):
    session.paint(0, [(10, 10)], 1, radius=2)
    with pytest.raises(ImageError, match=match):
        session.add_image(image)
    assert len(session.images) == 1 and session.label_counts()["class 1"] == 21


def test_bad_painting_and_prediction_input(session):
    with pytest.raises(LabelError, match="no class 3"):
        session.paint(0, [(5, 5)], 3)
    with pytest.raises(LabelError, match="radius"):
        session.paint(0, [(5, 5)], 1, radius=-1)
    with pytest.raises(LabelError, match="NaN"):
        session.paint(0, [(np.nan, 5)], 1)
    with pytest.raises(LabelError, match=r"\(n, 2\)"):
        session.paint(0, [(1, 2, 3)], 1)
    with pytest.raises(LabelError, match="2D"):
        session.paint(0, [(5, 5)], 1, plane=0)
    with pytest.raises(ImageError, match="no image 3"):
        session.paint(3, [(5, 5)], 1)
    with pytest.raises(ImageError, match="no image named"):
        session.labels("nope")
    with pytest.raises(ClassifierError, match="train"):
        session.predict_region(0)
    with pytest.raises(LabelError, match="nothing is labelled"):
        session.train()
    session.paint(0, [(5, 5)], 2)
    with pytest.raises(LabelError, match="only class 'class 2'"):
        session.train()
    session.paint(0, [(50, 50)], 1)
    session.train()
    with pytest.raises(ImageError, match="empty or outside"):
        session.predict_region(0, (slice(100, 200), slice(0, 10)))
    with pytest.raises(ImageError, match="two slices"):
        session.predict_region(0, slice(0, 10))
    with pytest.raises(ClassifierError, match="level"):
        session.predict_region(0, level=-1)
    with pytest.raises(ClassifierError, match="FeatureSet"):
        session.predict_region(0, classifier=brushlab.PixelClassifier(n_trees=2).fit(
            session.images[0], session.labels(0)))
    with pytest.raises(ImageError, match="exists already"):
        session.add_image(blobs(), name="image 0")
    with pytest.raises(LabelError):
        Session(classes=[])
    with pytest.raises(LabelError, match="exists already"):
        Session(classes=["a", ("a", "#fff")])
    with pytest.raises(ClassifierError, match="classifier_params"):
        Session(classifier_params={"trees": 3})
    assert issubclass(LabelError, BrushlabError)


def test_class_changes_wait_for_the_open_stroke(session):
    session.begin_stroke(0, 1).extend([(10, 10)])
    with pytest.raises(LabelError, match="end the open stroke"):
        session.remove_class(1)
    with pytest.raises(LabelError, match="end the open stroke"):
        session.undo()
    session.end_stroke()
    session.remove_class(1)


# -- labels in and out ----------------------------------------------------------------------


def test_import_mask_and_label_image(session):
    mask = np.zeros((70, 90), bool)
    mask[10:20, 10:30] = True
    edit = session.import_labels(0, mask, class_id="class 2")
    assert edit.n_pixels == 200 and session.label_counts()["class 2"] == 200
    with pytest.raises(LabelError, match="class_id"):
        session.import_labels(0, mask)
    label_image = np.zeros((70, 90), np.uint16)
    label_image[15:25, 20:40] = 1
    label_image[50:60, 50:60] = 2
    session.import_labels(0, label_image, overwrite=False)
    assert session.labels(0)[15, 20] == 2 and session.labels(0)[22, 30] == 1
    session.undo()
    assert session.label_counts() == {"class 1": 0, "class 2": 200}
    session.import_labels(0, label_image)
    assert session.labels(0)[15, 20] == 1
    with pytest.raises(LabelError, match="up to 255"):
        session.import_labels(0, mask.astype(np.uint8) * 255)
    session.import_labels(0, mask.astype(np.uint8) * 255, class_id=1)
    with pytest.raises(LabelError, match="do not fit"):
        session.import_labels(0, mask[:10])
    with pytest.raises(LabelError, match="negative"):
        session.import_labels(0, -label_image.astype(np.int32))
    with pytest.raises(LabelError, match="fractional"):
        session.import_labels(0, label_image * 0.5)


def test_import_into_a_plane_and_from_a_file(tmp_path):
    volume = np.stack([blobs(seed=s) for s in range(3)])
    with make_session(volume) as s:
        mask = np.zeros((70, 90), np.uint8)
        mask[5:10, 5:10] = 1
        s.import_labels(0, mask, 2, plane=1)
        assert s.labels(0)[1, 5, 5] == 2 and s.labels(0).sum() == 50
        path = s.export_labels(0, tmp_path / "labels.tif")
        back = brushlab.imread(path)
        assert back.dims == ("z", "y", "x")
        assert_array_equal(back.values, s.labels(0))
        s.undo()
        s.import_labels(0, path)
        assert_array_equal(s.labels(0), back.values)


def test_export_png(session, tmp_path):
    scribble(session)
    path = session.export_labels(0, tmp_path / "labels.png")
    assert_array_equal(brushlab.imread(path).values, session.labels(0))


def test_segmentation_to_labels_keeps_user_labels(session):
    scribble(session)
    session.train()
    before = session.labels(0).copy()
    seg = session.predict_region(0).segmentation.values
    region = (slice(10, 40), slice(20, 70))
    edit = session.segmentation_to_labels(0, region)
    assert edit.kind == "segmentation"
    after = session.labels(0)
    inside = np.zeros_like(before, bool)
    inside[region] = True
    assert_array_equal(after[~inside], before[~inside])
    assert_array_equal(after[inside & (before > 0)], before[inside & (before > 0)])
    assert_array_equal(after[inside & (before == 0)], seg[inside & (before == 0)])
    session.undo()
    assert_array_equal(session.labels(0), before)
    session.segmentation_to_labels(0, overwrite=True)
    assert_array_equal(session.labels(0), seg)


# -- suggest ------------------------------------------------------------------------------------


def brute_force_window(unc, size):
    best, where = -1.0, None
    for y in range(unc.shape[0] - size + 1):
        for x in range(unc.shape[1] - size + 1):
            m = unc[y : y + size, x : x + size].mean()
            if m > best + 1e-9:
                best, where = m, (y, x)
    return where


def test_suggest_finds_the_most_uncertain_window(session):
    scribble(session)
    session.train()
    region = (slice(6, 66), slice(11, 81))
    unc = session.predict_region(0, region).uncertainty.values
    ys, xs = session.suggest(0, region, size=16)
    y, x = brute_force_window(unc, 16)
    assert (ys, xs) == (slice(6 + y, 22 + y), slice(11 + x, 27 + x))
    coarse = session.predict_region(0, level=1)  # a preview is the "last prediction" now
    ys, xs = session.suggest(0, size=16)
    y, x = brute_force_window(coarse.uncertainty.values, 8)
    assert (ys.start, xs.start) == (2 * y, 2 * x) and ys.stop - ys.start == 16
    ys, xs = session.suggest(0, (slice(0, 10), slice(0, 12)), size=64)
    assert (ys, xs) == (slice(0, 10), slice(0, 12))


@pytest.mark.gpu
def test_cupy_image_session_matches_cpu():
    import cupy

    image = blobs()
    with make_session(image) as cpu, make_session(cupy.asarray(image)) as gpu:
        for s in (cpu, gpu):
            scribble(s)
        clf_cpu, clf_gpu = cpu.train(), gpu.train()
        got = gpu.predict_region(0)
        assert isinstance(got.probabilities.values, np.ndarray)
        assert isinstance(gpu.plane_image(0), np.ndarray)
        ref = clf_gpu.predict(cupy.asarray(image))
        np.testing.assert_allclose(got.probabilities.values, ref.probabilities.values, atol=1e-5)
        want = clf_cpu.predict(image).segmentation.values
        assert (got.segmentation.values == want).mean() > 0.99
