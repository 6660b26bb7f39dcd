"""Model files: forests as arrays plus JSON, round trips, and every way a file is refused."""

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
from sklearn.ensemble import (
    ExtraTreesClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier

import brushlab.modelfile as modelfile
from brushlab.errors import ModelFileError
from brushlab.modelfile import (
    FORMAT_NAME,
    FORMAT_VERSION,
    forest_from_arrays,
    forest_to_arrays,
    read_model_file,
    write_model_file,
)

N_FEATURES = 6


def _data(classes, n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    # Labels depend on the features, unevenly, so trees are deep and classes imbalanced.
    score = X[:, 0] + 0.5 * X[:, 1] ** 2 - X[:, 2] * X[:, 3] + 0.3 * rng.normal(size=n)
    bins = np.quantile(score, np.linspace(0, 1, len(classes) + 1)[1:-1] ** 0.7)
    y = np.asarray(classes)[np.digitize(score, bins)]
    return X, y


def _queries(n=2000, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, N_FEATURES)) * 2).astype(np.float32)


def _fit(kind=RandomForestClassifier, classes=(0, 1), **params):
    X, y = _data(classes)
    return kind(n_estimators=12, random_state=0, **params).fit(X, y)


def _assert_same_predictions(original, restored):
    X = _queries()
    assert np.array_equal(original.predict_proba(X), restored.predict_proba(X))
    assert np.array_equal(original.predict(X), restored.predict(X))
    assert np.array_equal(original.classes_, restored.classes_)
    assert original.classes_.dtype == restored.classes_.dtype


# --- forest <-> arrays ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", [RandomForestClassifier, ExtraTreesClassifier])
@pytest.mark.parametrize("classes", [(0, 1), (0, 1, 2, 3, 4), (1, 2, 5)])
@pytest.mark.parametrize("class_weight", [None, "balanced"])
def test_round_trip_is_bit_identical(kind, classes, class_weight):
    forest = _fit(kind, classes, class_weight=class_weight)
    arrays, meta = forest_to_arrays(forest)
    restored = forest_from_arrays(arrays, meta)
    assert type(restored) is kind
    _assert_same_predictions(forest, restored)
    assert np.array_equal(forest.feature_importances_, restored.feature_importances_)
    assert [e.tree_.max_depth for e in forest.estimators_] == [
        e.tree_.max_depth for e in restored.estimators_
    ]


def test_arrays_are_few_plain_and_meta_is_json():
    forest = _fit(classes=(1, 2, 5), class_weight={1: 2.0, 2: 1.0, 5: 0.5}, max_depth=7)
    arrays, meta = forest_to_arrays(forest)
    assert len(arrays) <= 12
    assert all(a.dtype.kind in "iuf" for a in arrays.values())
    total = sum(e.tree_.node_count for e in forest.estimators_)
    assert arrays["node_offsets"].tolist()[-1] == total == len(arrays["threshold"])
    assert arrays["value"].shape == (total, 3)
    meta = json.loads(json.dumps(meta, allow_nan=False))
    assert meta["classes_"] == [1, 2, 5] and meta["n_classes_"] == 3
    assert meta["params"]["max_depth"] == 7 and meta["params"]["n_estimators"] == 12
    restored = forest_from_arrays(arrays, meta)
    assert restored.class_weight == {1: 2.0, 2: 1.0, 5: 0.5}
    assert restored.get_params()["max_depth"] == 7
    _assert_same_predictions(forest, restored)


def test_string_labels_and_missing_values_round_trip():
    X, y = _data(("background", "cell", "membrane"))
    X[::7, 1] = np.nan  # trees learn where missing values go
    forest = RandomForestClassifier(n_estimators=8, random_state=0).fit(X, y)
    restored = forest_from_arrays(*forest_to_arrays(forest))
    queries = _queries()
    queries[::3, 1] = np.nan
    assert np.array_equal(forest.predict_proba(queries), restored.predict_proba(queries))
    assert np.array_equal(forest.predict(queries), restored.predict(queries))


@pytest.mark.parametrize(
    "estimator",
    [
        DecisionTreeClassifier().fit(*_data((0, 1))),
        RandomForestRegressor(n_estimators=2).fit(_data((0, 1))[0], np.arange(300.0)),
        RandomForestClassifier(),
        RandomForestClassifier(n_estimators=2).fit(
            _data((0, 1))[0], np.stack([np.arange(300) % 2, np.arange(300) % 3], axis=1)
        ),
        "not an estimator",
    ],
    ids=["tree", "regressor", "unfitted", "multi-output", "str"],
)
def test_only_fitted_single_output_forests_can_be_saved(estimator):
    with pytest.raises(ModelFileError, match="RandomForestClassifier or ExtraTreesClassifier"):
        forest_to_arrays(estimator)


def test_missing_go_to_left_defaults_when_absent():
    forest = _fit()
    arrays, meta = forest_to_arrays(forest)
    del arrays["missing_go_to_left"]  # as written by a scikit-learn without that field
    _assert_same_predictions(forest, forest_from_arrays(arrays, meta))


def test_unmappable_node_field_is_rejected():
    arrays, meta = forest_to_arrays(_fit())
    del arrays["threshold"]
    with pytest.raises(ModelFileError, match="threshold"):
        forest_from_arrays(arrays, meta)


def test_unknown_estimator_kind_is_rejected():
    arrays, meta = forest_to_arrays(_fit())
    meta["estimator"] = "GradientBoostingClassifier"
    with pytest.raises(ModelFileError, match="'GradientBoostingClassifier'.*upgrade brushlab"):
        forest_from_arrays(arrays, meta)


@pytest.mark.parametrize(
    "name, index, value",
    [
        ("children_left", 0, 10**9),  # outside the tree
        ("children_left", 0, 0),  # a loop back to itself
        ("children_right", 0, -1),  # a split with one child
        ("feature", 0, N_FEATURES),  # a feature the input does not have
    ],
)
def test_inconsistent_tree_is_rejected_before_predict(name, index, value):
    arrays, meta = forest_to_arrays(_fit())
    arrays[name] = arrays[name].copy()
    arrays[name][index] = value
    with pytest.raises(ModelFileError, match="damaged.*re-save"):
        forest_from_arrays(arrays, meta)


@pytest.mark.parametrize(
    "change",
    [
        lambda a, m: a.update(value=a["value"][:, :1]),
        lambda a, m: a.update(node_offsets=a["node_offsets"][::-1].copy()),
        lambda a, m: a.update(threshold=a["threshold"].astype(np.int64)),
        lambda a, m: m.update(n_classes_=7),
        lambda a, m: m.update(tree_max_depth=[3]),
        lambda a, m: m.update(n_outputs_=2),
        lambda a, m: m.pop("n_features_in_"),
    ],
)
def test_inconsistent_arrays_or_metadata_are_rejected(change):
    arrays, meta = forest_to_arrays(_fit(classes=(0, 1, 2)))
    change(arrays, meta)
    with pytest.raises(ModelFileError):
        forest_from_arrays(arrays, meta)


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


def test_source_never_unpickles():
    source = Path(modelfile.__file__).read_text()
    assert not re.search(r"^\s*(import|from)\s+(pickle|joblib|cloudpickle|dill)\b", source, re.M)
    assert "allow_pickle=True" not in source
    calls = [m.start() for m in re.finditer(r"\bnp\.load\(", source)]
    assert calls, "expected np.load calls to check"
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
    real_save, calls = np.save, []

    def save_then_fail(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(np, "save", save_then_fail)
    arrays = {"a": np.zeros(10), "b": np.ones(10), "c": np.arange(3)}
    with pytest.raises(OSError, match="disk full"):
        write_model_file(path, arrays, {})
    assert len(calls) == 2
    assert path.read_bytes() == b"previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.brushlab"]

    monkeypatch.setattr(np, "save", real_save)
    write_model_file(path, arrays, {"n": 3})
    assert read_model_file(path)[1] == {"n": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["model.brushlab"]
