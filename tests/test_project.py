"""Projects: Session.save / brushlab.open_project round trips, autosave, bad input."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from numpy.testing import assert_array_equal

import brushlab
from brushlab.errors import BrushlabError, ProjectError
from brushlab.project import FORMAT_VERSION, ProjectWarning, _format, open_project
from brushlab.session import Session

FS = brushlab.FeatureSet({"gaussian_smoothing": [1.0], "dog": [2.0]})


def halves(shape=(40, 48), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.normal(0, 0.05, shape).astype(np.float32)
    image[..., shape[-1] // 2 :] += 1
    return image


def make_session(*images, **kwargs) -> Session:
    kwargs.setdefault("classifier_params", {"n_trees": 5})
    return Session(list(images) or [halves()], features=FS, precompute=False, **kwargs)


def scribble(s: Session, image=0, plane=None) -> None:
    s.paint(image, [(5, 3), (35, 3)], 1, 2, plane=plane)
    s.paint(image, [(5, 40), (35, 40)], 2, 2, plane=plane)


def same_session(a: Session, b: Session) -> None:
    assert a.image_names == b.image_names
    assert a.classes == b.classes
    assert a.features == b.features
    for i in range(len(a.images)):
        assert a.images[i].dims == b.images[i].dims
        assert a.images[i].attrs["spacing"] == b.images[i].attrs["spacing"]
        assert_array_equal(a.images[i].values, b.images[i].values)
        assert_array_equal(a.labels(i), b.labels(i))


def test_round_trip_embedded(tmp_path):
    volume = np.stack([halves(seed=s) for s in range(3)])
    vol = brushlab.as_image(volume, dims="zyx")
    vol.attrs["spacing"] = {"z": 2.0, "y": 0.5, "x": 0.5}
    s = make_session(halves(), classes=[("bg", "#102030"), "fg"])
    s.add_image(brushlab.as_image(vol), name="stack")
    s.add_image(brushlab.as_image(np.stack([halves(seed=4)] * 2), dims="tyx"), name="movie")
    scribble(s)
    scribble(s, "stack", plane=1)
    scribble(s, "movie", plane=1)
    clf = s.train(images=[0])
    s.view_state.update({"image": 1, "plane": {"z": 1}, "class": 2, "brush": 3.5, "zoom": 2})
    path = s.save(tmp_path / "p.blproj")
    assert sorted(os.listdir(tmp_path)) == ["p.blproj"]  # no temporary file left
    with open_project(path, precompute=False) as again:
        same_session(s, again)
        assert again.view_state == s.view_state
        assert again.training_history == s.training_history
        assert len(again.training_history) == 1
        assert not again.can_undo
        assert again.classifier is not None and again.classifier.class_names == ["bg", "fg"]
        assert_array_equal(
            again.classifier.predict(halves(seed=9)).probabilities.values,
            clf.predict(halves(seed=9)).probabilities.values,
        )
        assert again.classifier_params == s.classifier_params
    s.close()


def test_training_history_records_each_train(tmp_path):
    with make_session() as s:
        scribble(s)
        s.train()
        s.paint(0, [(20, 10), (20, 14)], 1, 1)
        s.train()
        first, second = s.training_history
        assert second["label_counts"]["class 1"] > first["label_counts"]["class 1"]
        assert second["label_counts"]["class 2"] == first["label_counts"]["class 2"]
        assert second["brushlab_version"] == brushlab.__version__
        assert second["images"] == ["image 0"] and second["n_trees"] == 5
        assert "T" in second["date"] and second["n_features"] == 2


def test_referenced_images_relative_absolute_relink(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    tifffile.imwrite(data / "a.tif", (halves() * 100).astype(np.uint16))
    np.save(data / "b.npy", halves(seed=1))
    projects = tmp_path / "projects"
    projects.mkdir()
    s = make_session(brushlab.imread(data / "a.tif"))
    s.add_image(brushlab.imread(data / "b.npy"))
    s.add_image(halves(seed=2), name="in memory")
    scribble(s)
    with pytest.raises(ProjectError, match="in memory"):
        s.save(projects / "ref.blproj", embed_images=False)
    path = s.save(projects / "ref.blproj", embed_images="auto")
    big = s.save(projects / "embedded.blproj")
    assert path.stat().st_size < big.stat().st_size
    doc = json.loads(zipfile.ZipFile(path).read("project.json"))
    assert [e["embedded"] for e in doc["images"]] == [False, False, True]
    assert doc["images"][0]["relative_path"] == "../data/a.tif"
    with open_project(path, precompute=False) as again:
        same_session(s, again)
    # Project and images moved together: found relative to the project file.
    moved = tmp_path / "elsewhere"
    shutil.copytree(tmp_path, moved / "copy")
    shutil.rmtree(data)
    with open_project(moved / "copy" / "projects" / "ref.blproj", precompute=False) as again:
        same_session(s, again)
    # Images moved away: a clear error naming the path, then relink / search_paths.
    with pytest.raises(ProjectError, match="a.tif") as info:
        open_project(path)
    assert "relink" in str(info.value) and str(data / "a.tif") in str(info.value)
    found = moved / "copy" / "data"
    with open_project(path, search_paths=[found], precompute=False) as again:
        same_session(s, again)
    relink = {str(data / "a.tif"): found / "a.tif", "image 1": found / "b.npy"}
    with open_project(path, relink=relink, precompute=False) as again:
        same_session(s, again)
    with pytest.raises(ProjectError, match="does not exist"):
        open_project(path, relink={str(data / "a.tif"): tmp_path / "nope.tif"})
    s.close()


def test_referenced_image_that_changed(tmp_path):
    np.save(tmp_path / "a.npy", halves())
    with make_session(brushlab.imread(tmp_path / "a.npy")) as s:
        path = s.save(tmp_path / "p.blproj", embed_images=False)
    np.save(tmp_path / "a.npy", halves(seed=5))
    with pytest.warns(ProjectWarning, match="other pixels"):
        open_project(path, precompute=False).close()
    np.save(tmp_path / "a.npy", halves((20, 20)))
    with pytest.raises(ProjectError, match="changed"):
        open_project(path)


def test_autosave_after_training(tmp_path):
    target = tmp_path / "auto.blproj"
    with make_session() as s:
        s.enable_autosave(target)
        scribble(s)
        assert not target.exists()
        s.train()
        with open_project(target, precompute=False) as again:
            assert len(again.training_history) == 1 and again.classifier is not None
        s.autosave = tmp_path / "missing-folder" / "auto.blproj"
        with pytest.warns(ProjectWarning, match="autosave"):
            s.train()  # training still succeeds
        assert len(s.training_history) == 2
        s.enable_autosave(None)
        s.train()
        assert len(open_project(target, precompute=False).training_history) == 1


def test_failed_save_leaves_previous_project(tmp_path, monkeypatch):
    with make_session() as s:
        scribble(s)
        path = s.save(tmp_path / "p.blproj")
        before = path.read_bytes()
        s.paint(0, [(20, 20)], 1, 3)
        s.view_state["bad"] = object()
        with pytest.raises(ProjectError, match="view_state"):
            s.save(path)
        del s.view_state["bad"]

        calls = []
        original = _format.ProjectWriter.add_array

        def failing(self, name, array, **kw):
            calls.append(name)
            if name.startswith("labels/"):
                raise OSError("disk full")
            return original(self, name, array, **kw)

        monkeypatch.setattr(_format.ProjectWriter, "add_array", failing)
        with pytest.raises(OSError, match="disk full"):
            s.save(path)
        assert calls  # the failure happened half way through writing
        assert path.read_bytes() == before
        assert sorted(os.listdir(tmp_path)) == ["p.blproj"]


def test_corrupt_truncated_foreign_and_newer_files(tmp_path):
    with make_session() as s:
        scribble(s)
        s.train()
        path = s.save(tmp_path / "p.blproj")
    data = path.read_bytes()
    cases = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "text": b"hello world",
    }
    for name, content in cases.items():
        bad = tmp_path / f"{name}.blproj"
        bad.write_bytes(content)
        with pytest.raises(ProjectError, match="not a readable brushlab project"):
            open_project(bad)
    # One flipped byte inside the labels member: caught by the CRC or the checksum.
    archive = zipfile.ZipFile(path)
    info = archive.getinfo("labels/000.npy")
    offset = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    flipped = bytearray(data)
    flipped[offset] ^= 0xFF
    bad = tmp_path / "flipped.blproj"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(ProjectError, match="damaged"):
        open_project(bad)

    def rewrite(target: Path, change) -> Path:
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(target, "w") as dst:
            for item in src.infolist():
                content = src.read(item)
                if item.filename == "project.json":
                    doc = json.loads(content)
                    change(doc)
                    content = json.dumps(doc).encode()
                dst.writestr(item, content)
        return target

    newer = rewrite(tmp_path / "newer.blproj", lambda d: d.update(format_version=99))
    with pytest.raises(ProjectError, match="upgrade brushlab"):
        open_project(newer)
    foreign = rewrite(tmp_path / "foreign.blproj", lambda d: d.update(format="something"))
    with pytest.raises(ProjectError, match="not a brushlab project"):
        open_project(foreign)

    def lie(d):
        d["members"]["labels/000.npy"]["sha256"] = "0" * 64

    with pytest.raises(ProjectError, match="checksum"):
        open_project(rewrite(tmp_path / "lie.blproj", lie))
    model = tmp_path / "model.brushlab"
    s.classifier.save(model)
    with pytest.raises(ProjectError, match="load_classifier"):
        open_project(model)
    with pytest.raises(ProjectError, match="not found"):
        open_project(tmp_path / "missing.blproj")


def test_object_arrays_are_never_unpickled(tmp_path):
    with make_session() as s:
        path = s.save(tmp_path / "p.blproj")
    import io
    import pickle

    buffer = io.BytesIO()
    np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    evil = buffer.getvalue()
    target = tmp_path / "evil.blproj"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(target, "w") as dst:
        doc = json.loads(src.read("project.json"))
        for item in src.infolist():
            if item.filename == "labels/000.npy":
                dst.writestr(item, evil)
            elif item.filename != "project.json":
                dst.writestr(item, src.read(item))
        import hashlib

        doc["members"]["labels/000.npy"] = {
            "dtype": "|O",
            "shape": [1],
            "sha256": hashlib.sha256(evil).hexdigest(),
        }
        dst.writestr("project.json", json.dumps(doc))
    assert pickle  # imported to build the payload only
    with pytest.raises(ProjectError, match="damaged"):
        open_project(target)


def test_format_version_rule(tmp_path, monkeypatch):
    """An older document is migrated step by step before it is parsed."""
    with make_session() as s:
        path = s.save(tmp_path / "p.blproj")
    monkeypatch.setattr(_format, "FORMAT_VERSION", FORMAT_VERSION + 1)
    seen = []

    def upgrade(doc):
        seen.append(doc["format_version"])
        return {**doc, "view_state": {"migrated": True}}

    monkeypatch.setitem(_format._UPGRADES, FORMAT_VERSION, upgrade)
    with open_project(path, precompute=False) as again:
        assert seen == [FORMAT_VERSION] and again.view_state == {"migrated": True}


def test_bad_arguments(tmp_path):
    with make_session() as s:
        with pytest.raises(ProjectError, match="embed_images"):
            s.save(tmp_path / "p.blproj", embed_images="yes")
        with pytest.raises(ProjectError, match="does not exist"):
            s.save(tmp_path / "nope" / "p.blproj")
        with pytest.raises(BrushlabError):
            s.save(tmp_path)
