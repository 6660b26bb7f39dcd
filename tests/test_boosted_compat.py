"""Random forests after the switch to boosted trees: old files, old projects, live, ilastik."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.testing import assert_array_equal

import brushlab
from brushlab.session import LiveSettings

from .test_session import blobs, make_session, scribble
from .test_session_live import VIEW, Recorder

DATA = Path(__file__).parent / "data"


def test_format1_forest_file_loads_and_predicts_identically():
    """A model file written by brushlab before boosted trees (tests/data/README.md)."""
    clf = brushlab.load_classifier(DATA / "forest_format1.brushlab")
    assert clf.model == "random_forest" and clf.n_trees == 5
    image = np.load(DATA / "forest_format1_image.npy")
    assert_array_equal(
        clf.predict(image).probabilities.values, np.load(DATA / "forest_format1_probabilities.npy")
    )


def test_format1_project_opens_predicts_identically_and_keeps_training_forests(tmp_path):
    from brushlab.project import open_project

    with open_project(DATA / "forest_format1_project.brushlab-project") as session:
        assert session.classifier.model == "random_forest"
        assert_array_equal(
            session.predict_region(0).probabilities.values,
            np.load(DATA / "forest_format1_project_probabilities.npy"),
        )
        # the project named no model: it was a forest project and retrains a forest
        assert session.classifier_params["model"] == "random_forest"
        assert session.train().model == "random_forest"


def test_new_projects_record_the_boosted_model(tmp_path):
    from brushlab.project import open_project, save_project

    with make_session(blobs()) as session:
        scribble(session)
        session.train()
        ref = session.predict_region(0).probabilities.values
        path = save_project(session, tmp_path / "p.brushlab-project")
    with open_project(path) as again:
        assert again.classifier_params["model"] == "boosted_trees"
        assert again.classifier.model == "boosted_trees"
        assert_array_equal(again.predict_region(0).probabilities.values, ref)


def test_live_with_a_forest_keeps_the_warm_started_small_forest():
    session = make_session(blobs(), classifier_params={"n_trees": 6, "model": "random_forest"})
    scribble(session)
    rec = Recorder()
    live = session.live(rec, LiveSettings(debounce_s=0.0, preview_trees=4, n_trees=8))
    live.set_view(0, VIEW)
    assert live.wait_idle(30)
    clf = live.classifier
    assert clf.n_trees == 8 and len(clf._model.estimators_) == 8
    live.stop()
    session.close()


def test_live_with_boosted_trees_equals_train_with_its_settings():
    session = make_session(blobs())
    scribble(session)
    rec = Recorder()
    live = session.live(rec, LiveSettings(debounce_s=0.0, preview_trees=5, n_trees=8,
                                          boosted_trees=5))
    live.set_view(0, VIEW)
    assert live.wait_idle(30)
    final = rec.updates[-1]
    assert final.final and final.error is None
    assert live.classifier.model == "boosted_trees" and live.classifier.n_trees == 5
    # few labels (under boosted_labels): the live model is Train's with n_trees=5
    # (boosted_trees; the forest settings n_trees/preview_trees do not apply)
    session.classifier_params = {**session.classifier_params, "n_trees": 5}
    session.train()
    assert_array_equal(
        final.result.probabilities.values, session.predict_region(0, VIEW).probabilities.values
    )
    live.stop()
    session.close()


def test_ilastik_import_trains_a_random_forest_unless_told(tmp_path):
    from .test_ilastik_import import halves, scribbles_2d, write_ilp

    lanes = [{"axes": "yxc", "data": halves()[..., None], "blocks": scribbles_2d(),
              "block_axes": "yxc", "nickname": "first"}]
    path = write_ilp(tmp_path / "p.ilp", lanes)
    with brushlab.import_ilastik(path, precompute=False,
                                 classifier_params={"n_trees": 10}) as session:
        assert session.train().model == "random_forest"
    with brushlab.import_ilastik(path, precompute=False,
                                 classifier_params={"model": "boosted_trees"}) as session:
        assert session.train().model == "boosted_trees"


def test_live_boosted_trees_fit_on_a_label_pool_beyond_its_size():
    session = make_session(blobs())
    scribble(session)
    rec = Recorder()
    live = session.live(rec, LiveSettings(debounce_s=0, boosted_labels=32))
    live.set_view(0, VIEW)
    assert live.wait_idle(30)
    assert rec.updates[-1].error is None
    assert live.classifier.model == "boosted_trees"
    assert sum(live.classifier.training["labelled_pixels"].values()) <= 32 + 2
    live.stop()
    session.close()
