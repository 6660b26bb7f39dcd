"""Model files: the zip container, round trips, and every way a file is refused."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesClassifier

import brushlab._core.container as container
import brushlab.classifier.forest_arrays as forest_arrays
import brushlab.classifier.modelfile as modelfile
from brushlab.classifier.modelfile import (
    FORMAT_NAME,
    FORMAT_VERSION,
    forest_from_arrays,
    forest_to_arrays,
    read_model_file,
    write_model_file,
)
from brushlab.errors import ModelFileError

from .test_forest_arrays import _assert_same_predictions, _fit, _queries

# --- the file container -------------------------------------------------------------------


def test_file_round_trip(tmp_path):
    forest = _fit(ExtraTreesClassifier, (1, 2, 5), class_weight="balanced")
    arrays, meta = forest_to_arrays(forest)
    path = write_model_file(tmp_path / "model.brushlab", arrays, {"classifier": meta, "note": "é"})
    assert path == tmp_path / "model.brushlab"
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        document = json.loads(archive.read("metadata.json"))
    assert names == {"metadata.json"} | {f"{name}.npy" for name in arrays}
    assert document["format"] == FORMAT_NAME and document["format_version"] == FORMAT_VERSION
    assert set(document["arrays"]) == set(arrays)
    read_arrays, metadata = read_model_file(str(path))
    assert metadata["note"] == "é"
    for name, array in arrays.items():
        assert read_arrays[name].dtype == array.dtype and np.array_equal(read_arrays[name], array)
    _assert_same_predictions(forest, forest_from_arrays(read_arrays, metadata["classifier"]))
    assert [p.name for p in tmp_path.iterdir()] == ["model.brushlab"]


def _npy(array, allow_pickle=False):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def _write_zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _crafted(path, arrays_bytes, manifest=None, **document):
    """Write a model file by hand: members are raw .npy bytes, the manifest is computed."""
    entries = {}
    for name, data in arrays_bytes.items():
        header = np.lib.format
        stream = io.BytesIO(data)
        header.read_magic(stream)
        shape, _, dtype = header.read_array_header_1_0(stream)
        digest = hashlib.sha256(data).hexdigest()
        entries[name] = {"dtype": dtype.str, "shape": list(shape), "sha256": digest}
    entries.update(manifest or {})
    doc = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "arrays": entries}
    doc.update(metadata={}, **document)
    members = {f"{name}.npy": data for name, data in arrays_bytes.items()}
    return _write_zip(path, {"metadata.json": json.dumps(doc), **members})


@pytest.fixture
def model_path(tmp_path):
    arrays = {"weights": np.arange(1000, dtype=np.float64), "ids": np.arange(5, dtype=np.int32)}
    return write_model_file(tmp_path / "model.brushlab", arrays, {"kind": "test"})


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ModelFileError, match=r"not found: .*nowhere\.brushlab; check the path"):
        read_model_file(tmp_path / "nowhere.brushlab")


def test_folder_is_rejected(tmp_path):
    with pytest.raises(ModelFileError, match="is a folder"):
        read_model_file(tmp_path)


@pytest.mark.parametrize(
    "content, seems",
    [
        (b"this is just some text, not a model", ""),
        (b"", ""),
        (pickle.dumps({"a": 1}), "looks like a Python pickle"),
        (_npy(np.zeros(3)), "looks like a single NumPy .npy array"),
    ],
)
def test_not_a_zip_is_rejected(tmp_path, content, seems):
    path = tmp_path / "model.brushlab"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="not a brushlab model file.*not a zip") as info:
        read_model_file(path)
    assert seems in str(info.value)


def test_truncated_file_is_damaged(model_path):
    data = model_path.read_bytes()
    model_path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="damaged.*re-save"):
        read_model_file(model_path)


def test_corrupt_member_is_damaged(tmp_path):
    path = write_model_file(tmp_path / "model.brushlab", {"w": _queries(200).ravel()}, {})
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("w.npy")
    assert info.compress_size > 1000
    data = bytearray(path.read_bytes())
    data[info.header_offset + 30 + len(info.filename) + 500] ^= 0xFF  # inside w.npy's data
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="damaged.*(CRC|sha256).*re-save"):
        read_model_file(path)


def test_zip_without_metadata_is_foreign(tmp_path):
    path = _write_zip(tmp_path / "model.brushlab", {"readme.txt": b"hello"})
    with pytest.raises(ModelFileError, match="a zip file that is not a brushlab classifier"):
        read_model_file(path)


def test_npz_is_recognised(tmp_path):
    path = tmp_path / "model.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ModelFileError, match="a NumPy .npz archive that is not a brushlab"):
        read_model_file(path)


def test_invalid_json_is_damaged(tmp_path):
    path = _write_zip(tmp_path / "model.brushlab", {"metadata.json": b"{not json"})
    with pytest.raises(ModelFileError, match="metadata.json is not valid JSON.*re-save"):
        read_model_file(path)


@pytest.mark.parametrize(
    "document, says",
    [
        ({"format": "napari-layer", "format_version": 1}, "a 'napari-layer' file"),
        ({"name": "something"}, "a zip file, not a brushlab classifier"),
        (["a", "list"], "a zip file, not a brushlab classifier"),
    ],
)
def test_foreign_format_is_rejected(tmp_path, document, says):
    path = _write_zip(tmp_path / "model.brushlab", {"metadata.json": json.dumps(document)})
    with pytest.raises(ModelFileError, match=re.escape(says)):
        read_model_file(path)


def test_newer_format_asks_for_upgrade(tmp_path):
    path = _crafted(tmp_path / "model.brushlab", {}, format_version=FORMAT_VERSION + 1)
    expected = re.escape(f"written by a newer brushlab (format {FORMAT_VERSION + 1});")
    expected += ".*upgrade brushlab to read it"
    with pytest.raises(ModelFileError, match=expected):
        read_model_file(path)


def test_missing_array_member_is_damaged(tmp_path):
    manifest = {"weights": {"dtype": "<f8", "shape": [3], "sha256": "0" * 64}}
    path = _crafted(tmp_path / "model.brushlab", {}, manifest=manifest)
    with pytest.raises(ModelFileError, match=r"'weights' listed in metadata.json is missing"):
        read_model_file(path)


@pytest.mark.parametrize(
    "entry, says",
    [
        ({"sha256": "0" * 64}, "sha256"),
        ({"dtype": "<f4"}, "metadata.json says float32"),
        ({"shape": [2, 2]}, r"metadata.json says float64 \(2, 2\)"),
        ({"shape": [10**6]}, "metadata.json says"),
        ({"dtype": "no-such-dtype"}, "describes array 'weights' badly"),
    ],
)
def test_array_not_matching_manifest_is_damaged(tmp_path, entry, says):
    data = _npy(np.arange(4.0))
    manifest = {"weights": {**_crafted_entry(data), **entry}}
    path = _crafted(tmp_path / "model.brushlab", {"weights": data}, manifest=manifest)
    with pytest.raises(ModelFileError, match=f"damaged.*{says}"):
        read_model_file(path)


def _crafted_entry(data):
    return {"dtype": "<f8", "shape": [4], "sha256": hashlib.sha256(data).hexdigest()}


# --- never unpickle ---------------------------------------------------------------------------


class _TouchOnUnpickle:
    """Unpickling this creates ``marker``: proof that code ran."""

    def __init__(self, marker):
        self.marker = Path(marker)

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("claimed", ["|O", "<f8"])
def test_pickle_payload_is_refused_and_never_runs(tmp_path, claimed):
    marker = tmp_path / "MARKER"
    payload = _npy(np.array([_TouchOnUnpickle(marker)], dtype=object), allow_pickle=True)
    # The payload is live: loading it the unsafe way would run it.
    np.load(io.BytesIO(payload), allow_pickle=True)
    assert marker.exists()
    marker.unlink()

    digest = hashlib.sha256(payload).hexdigest()
    manifest = {"weights": {"dtype": claimed, "shape": [1], "sha256": digest}}
    path = _crafted(tmp_path / "evil.brushlab", {"weights": payload}, manifest=manifest)
    with pytest.raises(ModelFileError, match="Python objects.*unpickling.*refuses"):
        read_model_file(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "module", [modelfile, forest_arrays, container], ids=lambda m: m.__name__
)
def test_source_never_unpickles(module):
    source = Path(module.__file__).read_text()
    assert not re.search(r"^\s*(import|from)\s+(pickle|joblib|cloudpickle|dill)\b", source, re.M)
    assert "allow_pickle=True" not in source
    calls = [m.start() for m in re.finditer(r"\bnp\.load\(", source)]
    for start in calls:
        depth, end = 0, start
        for end in range(start + len("np.load"), len(source)):
            depth += {"(": 1, ")": -1}.get(source[end], 0)
            if depth == 0:
                break
        assert "allow_pickle=False" in source[start : end + 1], source[start : end + 1]


# --- writing ----------------------------------------------------------------------------------


def test_object_arrays_are_rejected_up_front(tmp_path):
    with pytest.raises(ModelFileError, match="dtype object.*never Python objects"):
        write_model_file(tmp_path / "m.brushlab", {"x": np.array([{}, 1], dtype=object)}, {})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", 3])
def test_unusable_array_names_are_rejected(tmp_path, name):
    with pytest.raises(ModelFileError, match="cannot save an array named"):
        write_model_file(tmp_path / "m.brushlab", {name: np.zeros(2)}, {})


def test_metadata_must_be_json(tmp_path):
    with pytest.raises(ModelFileError, match="not plain JSON"):
        write_model_file(tmp_path / "m.brushlab", {}, {"when": object()})
    with pytest.raises(ModelFileError, match="not plain JSON"):
        write_model_file(tmp_path / "m.brushlab", {}, {"x": float("nan")})


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist; create it"):
        write_model_file(tmp_path / "no" / "m.brushlab", {}, {})


def test_failed_write_leaves_existing_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "model.brushlab"
    path.write_bytes(b"previous model")
    real_save, calls = np.lib.format.write_array, []

    def save_then_fail(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", save_then_fail)
    arrays = {"a": np.zeros(10), "b": np.ones(10), "c": np.arange(3)}
    with pytest.raises(OSError, match="disk full"):
        write_model_file(path, arrays, {})
    assert len(calls) == 2
    assert path.read_bytes() == b"previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.brushlab"]

    monkeypatch.setattr(np.lib.format, "write_array", real_save)
    write_model_file(path, arrays, {"n": 3})
    assert read_model_file(path)[1] == {"n": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["model.brushlab"]


# --- boosted trees (format 2): hostile arrays and metadata -----------------------------------


@pytest.fixture(scope="module")
def boosted_file(tmp_path_factory):
    import brushlab

    rng = np.random.default_rng(0)
    image = rng.random((40, 40)).astype(np.float32)
    labels = np.zeros((40, 40), np.uint8)
    labels[rng.random((40, 40)) < 0.3] = 1
    labels[(image > 0.5) & (labels == 1)] = 2
    clf = brushlab.PixelClassifier(
        brushlab.FeatureSet({"gaussian_smoothing": [1.0], "dog": [2.0]}), n_trees=4, n_jobs=1
    ).fit(image, labels)
    return clf.save(tmp_path_factory.mktemp("boosted") / "boosted.brushlab")


def _first_split_with_leaf(arrays):
    return int(np.flatnonzero(arrays["left_child"] < 0)[0])


def _set(name, index, value):
    def change(arrays, meta):
        where = index(arrays) if callable(index) else index
        arrays[name] = arrays[name].copy()
        arrays[name][where] = value

    return change


def _meta(key, value):
    def change(arrays, meta):
        meta["boosted_trees"][key] = value

    return change


def _share_leaf(arrays, meta):
    i = _first_split_with_leaf(arrays)
    arrays["right_child"] = arrays["right_child"].copy()
    arrays["right_child"][i] = arrays["left_child"][i]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (_set("left_child", 0, 10_000), "links to a missing node"),
        (_set("right_child", 1, 0), "links to a missing node"),  # backwards: a cycle
        (_set("left_child", _first_split_with_leaf, -1000), "links to a missing node"),
        (_share_leaf, "do not form trees"),
        (_set("split_feature", 0, 999), "feature outside"),
        (_set("split_feature", 0, -3), "feature outside"),
        (_set("threshold", 0, np.nan), "non-finite"),
        (_set("threshold", 0, np.inf), "non-finite"),
        (_set("leaf_value", 0, np.inf), "non-finite"),
        (_set("leaf_offsets", -1, 10_000), "one leaf more|leaf_value"),
        (lambda a, m: a.update(left_child=a["left_child"].astype(np.float64)), "left_child"),
        (lambda a, m: a.pop("threshold"), "no 'threshold' array"),
        (_meta("n_trees", True), "metadata entry 'n_trees'"),
        (_meta("n_trees", 3), "split_offsets"),
        (_meta("n_outputs", 2), "do not fit|do not divide|base_score"),
        (_meta("n_features", 99), "feature set computes"),
        (_meta("classes_", [1, 7]), "classes_"),
        (_meta("classes_", [1, "x"]), "classes"),
        (_meta("estimator", "XGBoost"), "cannot load"),
    ],
)
def test_hostile_boosted_arrays_are_refused(boosted_file, tmp_path, change, says):
    import brushlab

    arrays, meta = read_model_file(boosted_file)
    change(arrays, meta)
    path = write_model_file(tmp_path / "hostile.brushlab", arrays, meta)
    with pytest.raises(ModelFileError, match=says):
        brushlab.load_classifier(path)


def test_boosted_file_loads_and_is_format_2(boosted_file):
    import brushlab

    with zipfile.ZipFile(boosted_file) as archive:
        assert json.loads(archive.read("metadata.json"))["format_version"] == FORMAT_VERSION == 2
    assert brushlab.load_classifier(boosted_file).model == "boosted_trees"
