"""Regression tests for issue 13's root causes 5, 7, 11, 12 and 13 (projects).

Each test builds the hostile or damaged input the probe used and checks that brushlab
refuses it with a BrushlabError that names the problem (or, for threads, that the
result is consistent).
"""

from __future__ import annotations

import json
import sys
import threading
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import brushlab
from brushlab.errors import BrushlabError, FeatureError, LabelError, ProjectError
from brushlab.features import FeatureSet
from brushlab.ilastik import import_ilastik
from brushlab.session._classes import make_classes
from tests.test_ilastik_import import scribbles_2d, write_ilp


def embedded_ilp(tmp_path: Path, *, blocks=None, names=("background", "cell")) -> Path:
    data = np.random.default_rng(0).random((40, 48, 1)).astype(np.float32)
    lanes = [{"axes": "yxc", "data": data, "blocks": scribbles_2d() if blocks is None else blocks,
              "block_axes": "yxc"}]
    return write_ilp(tmp_path / "p.ilp", lanes, names=names)


# -- root cause 7: 65535 classes, O(n) --------------------------------------------------------
def test_65535_classes_validate_quickly():
    names = [f"class {i}" for i in range(65535)]
    t0 = time.perf_counter()
    classes = make_classes(names)
    seconds = time.perf_counter() - t0
    assert len(classes) == 65535
    print(f"make_classes(65535 names): {seconds:.3f} s")  # O(n^2) took minutes
    with pytest.raises(LabelError, match="exists already"):
        make_classes([*names[:1000], "class 5"])
    with pytest.raises(LabelError, match="at most 65535"):
        make_classes([f"c{i}" for i in range(65536)])


# -- root cause 5: sigma and truncate bounds --------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [{"truncate": 1e6}, {"truncate": float("nan")}, {"truncate": float("inf")}, {"truncate": 0},
     {"truncate": "x"}],
)
def test_truncate_is_bounded(kwargs):
    with pytest.raises(FeatureError, match=r"truncate must be a number in \(0, 8\]"):
        FeatureSet({"gaussian": [1.0]}, **kwargs)


@pytest.mark.parametrize("sigma", [1e6, 64.5, float("inf"), float("nan"), -1.0])
def test_sigma_is_bounded(sigma):
    with pytest.raises(FeatureError, match=r"sigma must be a number in \(0, 64\]"):
        FeatureSet({"gaussian": [sigma]})


def test_feature_bounds_hold_for_files(tmp_path):
    fs = FeatureSet({"gaussian": [1.0, 64.0]}, truncate=8.0)  # the bounds themselves are valid
    assert FeatureSet.from_dict(fs.to_dict()) == fs
    with pytest.raises(FeatureError, match="truncate"):
        FeatureSet.from_dict({**fs.to_dict(), "truncate": 1e6})
    with pytest.raises(FeatureError, match="numeric sigmas"):
        FeatureSet.from_dict({"selection": {"gaussian": ["x"]}})
    with pytest.raises(FeatureError, match="not a FeatureSet description"):
        FeatureSet.from_dict({"selection": 3})
    # ilastik Scales: a huge scale is a ProjectError naming FeatureSelections/Scales
    ilp = embedded_ilp(tmp_path)
    with h5py.File(ilp, "a") as f:
        scales = f["FeatureSelections/Scales"]
        values = scales[()]
        values[2] = 1e6
        scales[...] = values
    with pytest.raises(ProjectError, match=r"Scales.*sigma must be a number in \(0, 64\]"):
        import_ilastik(ilp, precompute=False)


def test_model_file_with_huge_truncate_fails_fast(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.random((32, 32)).astype(np.float32)
    labels = np.zeros((32, 32), np.uint8)
    labels[:4], labels[-4:] = 1, 2
    clf = brushlab.PixelClassifier(FeatureSet({"gaussian": [1.0]}), n_trees=3).fit(image, labels)
    path = clf.save(tmp_path / "m.brushlab")
    edited = tmp_path / "edited.brushlab"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(edited, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "metadata.json":
                meta = json.loads(data)
                meta["metadata"]["features"]["truncate"] = 1e6
                data = json.dumps(meta).encode()
            dst.writestr(info, data)
    t0 = time.perf_counter()
    with pytest.raises(BrushlabError, match="truncate"):
        brushlab.load_classifier(edited)
    print(f"refused in {time.perf_counter() - t0:.3f} s")


# -- root cause 13: damaged project.json fields ---------------------------------------------------
def _project(tmp_path: Path) -> Path:
    session = brushlab.Session(np.zeros((16, 16), np.float32), classes=["a", "b"],
                               precompute=False)
    session.paint(0, [(3, 3)], "a", radius=1)
    return session.save(tmp_path / "p.blproj")


def _edit_document(path: Path, edit) -> Path:
    out = path.with_name("edited.blproj")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "project.json":
                doc = json.loads(data)
                edit(doc)
                data = json.dumps(doc).encode()
            dst.writestr(info, data)
    return out


def _set(keys, value):
    def edit(doc):
        target = doc
        for k in keys[:-1]:
            target = target[k]
        if value is KeyError:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
    return edit


@pytest.mark.parametrize(
    ("keys", "value", "named"),
    [
        (["features"], KeyError, "'features' is missing"),
        (["features"], [1], "'features' is list"),
        (["features", "truncate"], 1e6, "'features' cannot be used.*truncate"),
        (["features", "selection"], {"gaussian": ["x"]}, "'features' cannot be used"),
        (["classes"], {"a": 1}, "'classes' is dict"),
        (["classes", 0], "a", r"classes\[0\] is str"),
        (["classes", 0, "name"], 5, r"'classes\[0\].name' is int"),
        (["classes", 0, "colour"], KeyError, r"'classes\[0\].colour' is missing"),
        (["classes", 0, "colour"], "red-ish", "inconsistent.*not a colour"),
        (["classes", 1, "name"], "a", "inconsistent.*exists already"),
        (["images"], None, "'images' is NoneType"),
        (["images", 0], 3, r"images\[0\] is int"),
        (["images", 0, "dims"], ["y", "q"], r"images\[0\].dims/shape"),
        (["images", 0, "shape"], [16, -1], r"images\[0\].dims/shape"),
        (["images", 0, "shape"], [16, "16"], r"images\[0\].dims/shape"),
        (["images", 0, "labels"], 7, r"'images\[0\].labels' is int"),
        (["images", 0, "name"], KeyError, r"'images\[0\].name' is missing"),
        (["images", 0, "spacing"], {"y": "big"}, r"images\[0\].spacing has 'y'"),
        (["images", 0, "embedded"], "yes", r"'images\[0\].embedded' is str"),
        (["classifier_params"], [1], "'classifier_params' is list"),
        (["classifier_params"], {"n_trees": [1]}, r"classifier_params\['n_trees'\]"),
        (["classifier"], 12, "'classifier' is int"),
        (["training_history"], {"x": 1}, "'training_history' is dict"),
        (["view_state"], [1], "'view_state' is list"),
        (["members", "labels/000.npy", "shape"], [float("inf")], r"shape is \[inf\]"),
        (["members", "labels/000.npy", "shape"], [16, -16], r"members\['labels/000.npy'\].shape"),
        (["members", "labels/000.npy", "dtype"], "|O", "not a numeric dtype"),
        (["members", "labels/000.npy", "dtype"], "qq", "not a numeric dtype"),
        (["members", "labels/000.npy", "sha256"], 5, "sha256' is int"),
        (["members", "labels/000.npy"], [], r"members\['labels/000.npy'\] is list"),
    ],
)
def test_damaged_project_fields_raise_project_error(tmp_path, keys, value, named):
    edited = _edit_document(_project(tmp_path), _set(keys, value))
    with pytest.raises(ProjectError, match=named):
        brushlab.open_project(edited, precompute=False)


# -- root cause 12: painting from two threads ---------------------------------------------------
def test_two_threads_painting_then_undo_all_leaves_nothing():
    session = brushlab.Session(np.zeros((96, 96), np.float32), classes=["a", "b"],
                               precompute=False)
    session._history.max_steps = 100_000
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def painter(cls: str, seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            start.wait()
            for _ in range(1500):
                points = rng.integers(0, 96, size=(4, 2))
                session.paint(0, points, cls, radius=float(rng.integers(0, 5)))
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    # Switch threads as often as possible: before the fix, 3 runs of 3 left 12-48 pixels.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=painter, args=(c, i)) for i, c in enumerate("ab")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors
    assert session.labels(0).any()
    while session.undo() is not None:
        pass
    assert int(np.count_nonzero(session.labels(0))) == 0
    while session.redo() is not None:
        pass
    again = session.labels(0).copy()
    while session.undo() is not None:
        pass
    assert not session.labels(0).any() and again.any()


def test_strokes_from_two_threads_never_mix_classes():
    session = brushlab.Session(np.zeros((64, 128), np.float32), classes=["a", "b"],
                               precompute=False)
    session._history.max_steps = 10_000
    refused = {"a": 0, "b": 0}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def painter(cls: str, x0: int) -> None:
        rng = np.random.default_rng(x0)
        try:
            start.wait()
            done = 0
            while done < 60:
                try:
                    session.begin_stroke(0, cls, radius=2)
                except LabelError as exc:  # the other thread's stroke is open
                    assert "open in thread" in str(exc)
                    refused[cls] += 1
                    time.sleep(0)
                    continue
                for _ in range(3):
                    session.extend_stroke(rng.integers([0, x0], [64, x0 + 60], size=(2, 2)))
                session.end_stroke()
                done += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=painter, args=a) for a in (("a", 2), ("b", 66))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    labels = session.labels(0)
    assert set(np.unique(labels[:, :64])) <= {0, 1} and set(np.unique(labels[:, 64:])) <= {0, 2}
    assert (labels == 1).any() and (labels == 2).any()
    while session.undo() is not None:
        pass
    assert not session.labels(0).any()


def test_other_threads_stroke_is_refused_clearly():
    session = brushlab.Session(np.zeros((32, 32), np.float32), classes=["a", "b"],
                               precompute=False)
    session.begin_stroke(0, "a")
    session.extend_stroke([(5, 5)])
    outcome: list[str] = []

    def other() -> None:
        for call in (lambda: session.begin_stroke(0, "b"), lambda: session.extend_stroke([(9, 9)]),
                     session.end_stroke, lambda: session.paint(0, [(9, 9)], "b")):
            try:
                call()
                outcome.append("ran")
            except LabelError as exc:
                outcome.append(str(exc))

    t = threading.Thread(target=other, name="painter-2")
    t.start()
    t.join()
    assert all("thread" in text for text in outcome), outcome
    result = session.end_stroke()
    assert result.class_id == 1 and result.changed > 0
    assert set(np.unique(session.labels(0))) == {0, 1}


# -- root cause 11: blockwise resume after the source changed ------------------------------------
def _blockwise_setup(tmp_path: Path):
    from brushlab.io._writers import write_image

    rng = np.random.default_rng(3)
    image = rng.random((48, 64)).astype(np.float32)
    labels = np.zeros(image.shape, np.uint8)
    labels[:, :8], labels[:, -8:] = 1, 2
    image[:, 32:] += 1
    clf = brushlab.PixelClassifier(FeatureSet({"gaussian": [1.0]}), n_trees=3,
                                   random_state=0).fit(image, labels)
    source = write_image(tmp_path / "image.zarr", image)
    return clf, image, source


def _zarr_mtimes(path: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_atime_ns, p.stat().st_mtime_ns) for p in path.rglob("*")}


def _rewrite_keeping_mtimes(source: Path, pixels: np.ndarray) -> None:
    """Overwrite the zarr's pixels in place, then restore every timestamp (worst case)."""
    import zarr

    stamps = _zarr_mtimes(source)
    array = zarr.open_array(str(source / "0") if (source / "0").is_dir() else str(source),
                            mode="r+")
    array[...] = pixels.reshape(array.shape)
    for p, ns in stamps.items():
        if p.exists():
            import os

            os.utime(p, ns=ns)


@pytest.mark.parametrize("keep_mtimes", [False, True])
def test_blockwise_refuses_to_resume_after_the_source_changed(tmp_path, keep_mtimes):
    from brushlab.blockwise._run import predict_blockwise
    from brushlab.io.ome_zarr import output_status

    clf, image, source = _blockwise_setup(tmp_path)
    out = tmp_path / "out.zarr"
    first = predict_blockwise(clf, source, out, chunks=16, progress=False)
    assert first.chunks_computed == 12 and output_status(out)["status"] == "complete"
    again = predict_blockwise(clf, source, out, chunks=16, progress=False)
    assert again.chunks_computed == 0  # unchanged source: the output is reused
    changed = image[::-1].copy()  # same path, shape and dtype; other pixels
    if keep_mtimes:
        _rewrite_keeping_mtimes(source, changed)
    else:
        time.sleep(0.01)
        import zarr

        node = zarr.open(str(source), mode="r+")
        array = node if isinstance(node, zarr.Array) else node["0"]
        array[...] = changed.reshape(array.shape)
    with pytest.raises(BrushlabError, match="changed since .* was started.*overwrite=True"):
        predict_blockwise(clf, source, out, chunks=16, progress=False)
    fresh = predict_blockwise(clf, source, out, chunks=16, progress=False, overwrite=True)
    assert fresh.chunks_computed == 12
    expected = clf.predict(changed).segmentation.values
    got = brushlab.imread(out / "labels" / "segmentation").values
    np.testing.assert_array_equal(got.reshape(expected.shape), expected)


def test_source_fingerprint_samples_and_stamps(tmp_path):
    from brushlab.blockwise._fingerprint import source_fingerprint
    from brushlab.io._lazy import open_source

    _, image, source = _blockwise_setup(tmp_path)
    a = source_fingerprint(open_source(source))
    assert a == source_fingerprint(open_source(source))
    assert a["files"]["count"] >= 2 and a["files"]["bytes"] > 0
    in_memory = source_fingerprint(open_source(image))
    assert in_memory["files"] is None
    assert in_memory["sample_sha256"] != source_fingerprint(open_source(image + 1))["sample_sha256"]


