"""Forests to plain arrays plus JSON and back: exact round trips, inconsistencies refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.ensemble import (
    ExtraTreesClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier

from brushlab.classifier.forest_arrays import forest_from_arrays, forest_to_arrays
from brushlab.errors import ModelFileError

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
