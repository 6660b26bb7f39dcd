"""Gradient-boosted trees (LightGBM) as brushlab's default pixel-classifier engine.

Why boosted trees: with the labels a user paints over a stack in a few minutes
(scribbles on all 20 ISBI 2012 slices, ~48k pixels, 0.9 %), a 100-tree random forest
grows deep trees: ~28 s to fit and ~39 s to predict 2048x2048 on 2 cores. 50 boosted
trees of 31 leaves reach the same membrane F1 in about a second of fitting and a
fraction of the prediction time (figures and how the defaults were chosen:
``benchmarks/README.md``, "Classifier engine").

Defaults (chosen on ISBI 2012, BBBC039 and blobs, see ``benchmarks/select_engine.py`` and
benchmarks/README.md): 50 trees, 31 leaves, learning rate 0.1, at least 20 labelled pixels
per leaf (fewer when there are few labels, so the first scribbles still split), each tree
fitted on a seeded random half of the labels (``subsample=0.5``, only with enough labels
for whole trees), 63 histogram bins from 8,192 labels on (255 below), no class
balancing. The same seed gives the same model whatever the thread count. ISBI membrane
F1 on slices 15-19 outside the scribbles, ilastik's 49 features, with a real user's label
count (scribbles on all 20 slices, ~48k pixels) and with sparse scribbles (3 slices,
~2.5k pixels):

===================================  =========  ======  ==================
LightGBM, same features and labels   realistic  sparse  note
===================================  =========  ======  ==================
50 x 31                              0.7416     0.7111  the earlier default
50 x 31, subsample 0.5               0.7437     0.7172
50 x 31, subsample 0.5, 63 bins      0.7423     0.7200  default; fit 2/3
40 x 31, lr 0.125, subsample 0.5     0.7423     0.7190  0.8x predict
50 x 15, subsample 0.5               0.7347     0.7178
100 x 31, extra trees                0.7484     0.7202  2x predict
===================================  =========  ======  ==================

(the skimage + scikit-learn RF(100) peer: 0.7436 and 0.7113). Class balancing cost 0.011
F1 on ISBI with the 41 features of the time, so it stays off.

:class:`BoostedTrees` trains with LightGBM, then keeps the model as plain arrays
(:mod:`brushlab.classifier.boosted_arrays`): that is what a model file stores, and prediction runs
on a LightGBM booster rebuilt from those validated arrays. Probabilities are the softmax
of the raw scores (two classes: one score ``s`` per pixel, softmax of ``(0, s)``).
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import numpy as np

from brushlab._core.backend import to_numpy
from brushlab.classifier.boosted_arrays import (
    booster_from_arrays,
    booster_to_arrays,
    check_boosted_arrays,
)
from brushlab.classifier.boosted_onnx import prediction_session
from brushlab.errors import ClassifierError, ModelFileError

__all__ = ["BoostedTrees", "softmax_scores", "DEFAULTS", "preload"]

_LIGHTGBM = object()  # marks a model predicting with LightGBM (no onnxruntime)
_SESSION_LOCK = threading.Lock()

#: Default settings of :class:`BoostedTrees` (see the module docstring for how they were chosen).
DEFAULTS: dict[str, Any] = {
    "n_trees": 50,
    "n_leaves": 31,
    "learning_rate": 0.1,
    "min_samples_leaf": 20,
    "subsample": 0.5,
}


# Histogram bins per feature: with many labels 63 instead of LightGBM's 255 trains in two
# thirds of the time (Session.train at 10k labels: ~200 vs ~305 ms on a quiet 2-core
# machine) at ISBI membrane F1 0.7423 vs 0.7437 with a real user's label count. With few
# labels fitting is fast anyway and coarse bins hurt: BBBC039 (~280 labelled pixels per
# image) instance F1 0.858 vs 0.890 (benchmarks/README.md, "Classifier engine").
_MAX_BIN, _FEW_LABELS_MAX_BIN, _MANY_LABELS = 63, 255, 8192

_PRELOADED = threading.Event()


def preload(*, background: bool = True) -> None:
    """Import the libraries boosted trees train and predict with, once per process.

    LightGBM, onnx and onnxruntime take about a second to import on a 2-core machine;
    a Session calls this when it starts computing features, so that the first Train or
    live overlay does not wait for them. Missing optional libraries are skipped.

    Parameters
    ----------
    background : bool, default True
        Import on a daemon thread and return at once.

    Examples
    --------
    >>> preload(background=False)
    """

    def run() -> None:
        import importlib

        for name in ("lightgbm", "onnx", "onnxruntime"):
            try:
                importlib.import_module(name)
            except ImportError:  # the core install has no onnx; LightGBM then predicts
                pass

    if _PRELOADED.is_set():
        return
    _PRELOADED.set()
    if background:
        threading.Thread(target=run, name="brushlab-preload", daemon=True).start()
    else:
        run()


def softmax_scores(scores: np.ndarray, n_classes: int) -> np.ndarray:
    """Class probabilities from raw boosted scores.

    Parameters
    ----------
    scores : numpy.ndarray
        ``(n, n_outputs)`` raw scores; one column for two classes (the score of the
        second class against a first class fixed at 0), else one per class.
    n_classes : int
        Classes the model separates.

    Returns
    -------
    numpy.ndarray
        ``(n, n_classes)`` float32 probabilities, each row summing to 1.

    Examples
    --------
    >>> softmax_scores(np.array([[0.0], [2.0]]), 2).round(3)
    array([[0.5  , 0.5  ],
           [0.119, 0.881]], dtype=float32)
    """
    s = np.asarray(scores, dtype=np.float64).reshape(len(scores), -1)
    if n_classes == 2 and s.shape[1] == 1:
        s = np.concatenate([np.zeros_like(s), s], axis=1)
    s = s - s.max(axis=1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=1, keepdims=True)
    return s.astype(np.float32)


class BoostedTrees:
    """LightGBM gradient-boosted trees with a scikit-learn-like interface, stored as arrays.

    Parameters
    ----------
    n_trees : int, default 50
        Boosting iterations (one tree per iteration for two classes, one per class else).
    n_leaves : int, default 31
        Leaves per tree.
    learning_rate : float, default 0.1
        Shrinkage of each tree's contribution.
    class_weight : {None, "balanced"}, default None
        ``"balanced"`` weighs each labelled pixel inversely to its class's count.
    max_depth : int, optional
        Depth limit per tree (none when None).
    min_samples_leaf : int, default 20
        Fewest labelled pixels in a leaf; lowered (to at least 1) when the labels are
        fewer than ``2 * n_leaves * min_samples_leaf``, so that the first few
        scribbles still give trees that split.
    subsample : float, default 0.5
        Share of the labelled pixels each tree is fitted on, drawn anew per tree
        (stochastic gradient boosting; 1 = all). Used only when that share still holds
        ``n_leaves * min_samples_leaf`` pixels; with fewer labels every tree sees all.
    random_state : int, optional
        Seed of that subsampling: the same seed, data and labels give the same model,
        whatever the thread count.
    n_jobs : int, optional
        Threads for fitting (all cores when None). Prediction uses ``predict_threads``.
    predict_threads : int, default 1
        Threads per :meth:`predict_proba` call: brushlab predicts tiles on a thread
        pool already, so one thread per call.

    Examples
    --------
    >>> x = np.random.default_rng(0).random((500, 4)).astype(np.float32)
    >>> y = np.where(x[:, 0] > 0.5, 2, 1)
    >>> model = BoostedTrees(n_trees=10).fit(x, y)
    >>> model.classes_.tolist(), model.predict_proba(x[:2]).shape
    ([1, 2], (2, 2))
    """

    def __init__(
        self,
        n_trees: int = DEFAULTS["n_trees"],
        n_leaves: int = DEFAULTS["n_leaves"],
        learning_rate: float = DEFAULTS["learning_rate"],
        *,
        class_weight: str | None = None,
        max_depth: int | None = None,
        min_samples_leaf: int = DEFAULTS["min_samples_leaf"],
        subsample: float = DEFAULTS["subsample"],
        random_state: int | None = None,
        n_jobs: int | None = None,
        predict_threads: int = 1,
    ) -> None:
        if int(n_trees) < 1 or int(n_leaves) < 2 or not float(learning_rate) > 0:
            raise ClassifierError(
                f"need n_trees >= 1, n_leaves >= 2 and learning_rate > 0, got {n_trees}, "
                f"{n_leaves} and {learning_rate}"
            )
        if class_weight not in (None, "balanced"):
            raise ClassifierError(f"class_weight must be None or 'balanced', not {class_weight!r}")
        if not 0 < float(subsample) <= 1:
            raise ClassifierError(f"subsample must be in (0, 1], got {subsample}")
        self.subsample = float(subsample)
        self.n_trees, self.n_leaves = int(n_trees), int(n_leaves)
        self.learning_rate = float(learning_rate)
        self.class_weight = class_weight
        self.max_depth = max_depth
        self.min_samples_leaf = int(min_samples_leaf)
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.predict_threads = int(predict_threads)
        self.classes_: np.ndarray | None = None
        self.arrays: dict[str, np.ndarray] | None = None
        self.meta: dict[str, Any] = {}
        self._booster: Any = None
        self._session: Any = None

    def get_params(self) -> dict[str, Any]:
        """Return the settings as a JSON-able dict (what a model file records)."""
        return {
            "n_trees": self.n_trees,
            "n_leaves": self.n_leaves,
            "learning_rate": self.learning_rate,
            "class_weight": self.class_weight,
            "max_depth": self.max_depth,
            "min_samples_leaf": self.min_samples_leaf,
            "subsample": self.subsample,
            "random_state": self.random_state,
        }

    # -- training -------------------------------------------------------------------
    def fit(self, x: Any, y: Any, sample_weight: Any = None) -> BoostedTrees:
        """Train on feature rows ``x`` ``(n, F)`` and class ids ``y`` ``(n,)``.

        Returns
        -------
        BoostedTrees
            ``self``, trained.
        """
        import os

        import lightgbm as lgb

        x = np.ascontiguousarray(to_numpy(x), dtype=np.float32)
        y = np.asarray(y)
        classes, index = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ClassifierError("boosted trees need at least two labelled classes")
        weight = None if sample_weight is None else np.asarray(sample_weight, np.float64)
        if self.class_weight == "balanced":
            counts = np.bincount(index)
            balanced = (len(y) / (classes.size * counts))[index]
            weight = balanced if weight is None else weight * balanced
        binary = classes.size == 2
        # One thread up to 100k labelled pixels: LightGBM's OpenMP threads gain nothing on
        # so few rows and lose seconds when other jobs share the cores (benchmarks/README.md).
        threads = min(int(self.n_jobs or os.cpu_count() or 1), max(1, len(y) // 100_000))
        # With the first few scribbles (tens of pixels) a tree must still be able to split:
        # fewer pixels per leaf, so that n_leaves leaves fit in the labels, and no
        # subsampling unless a subsample can still grow a whole tree.
        min_leaf = max(1, min(self.min_samples_leaf, len(y) // (2 * self.n_leaves)))
        whole_tree = self.n_leaves * self.min_samples_leaf
        fraction = self.subsample if len(y) * self.subsample >= whole_tree else 1.0
        params = {
            "objective": "binary" if binary else "multiclass",
            "num_class": 1 if binary else int(classes.size),
            "num_leaves": self.n_leaves,
            "learning_rate": self.learning_rate,
            "max_depth": -1 if self.max_depth is None else int(self.max_depth),
            "min_data_in_leaf": min_leaf,
            # each tree on a random share of the labels (stochastic gradient boosting)
            "bagging_fraction": fraction,
            "bagging_freq": 1 if fraction < 1 else 0,
            "max_bin": _MAX_BIN if len(y) >= _MANY_LABELS else _FEW_LABELS_MAX_BIN,
            "use_missing": False,  # features are finite; arrays store no missing branches
            "seed": 0 if self.random_state is None else int(self.random_state),
            "deterministic": True,
            "force_col_wise": True,
            "num_threads": threads,
            "verbose": -1,
        }
        data = lgb.Dataset(x, index, weight=weight, params=params, free_raw_data=True)
        booster = lgb.train(params, data, num_boost_round=self.n_trees)
        arrays, meta = booster_to_arrays(booster)
        meta.update(
            estimator="LightGBM",
            lightgbm_version=lgb.__version__,
            classes_=[int(c) for c in classes],
            params=self.get_params(),
            subsample_used=fraction,
            min_samples_leaf_used=min_leaf,
        )
        self.classes_ = classes.astype(np.int64)
        self.arrays, self.meta = arrays, meta
        # Predict with the booster rebuilt from the arrays, as after loading a model
        # file: a saved and reloaded model predicts exactly what the fitted one did.
        self._booster = self._session = None
        return self

    # -- prediction -----------------------------------------------------------------
    @property
    def n_features_in_(self) -> int:
        """Features per row the model reads."""
        self._require()
        return int(self.meta["n_features"])

    def _require(self) -> None:
        if self.arrays is None:
            raise ClassifierError("these boosted trees are not trained yet: call fit() first")

    def booster(self) -> Any:
        """Return LightGBM's booster of these trees (rebuilt from the arrays after loading)."""
        self._require()
        if self._booster is None:
            self._booster = booster_from_arrays(self.arrays or {}, self.meta)
        return self._booster

    def _rows(self, x: Any) -> np.ndarray:
        x = np.ascontiguousarray(to_numpy(x), dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_features_in_:
            raise ClassifierError(
                f"got rows of shape {x.shape}, the model reads {self.n_features_in_} features"
            )
        return x

    def raw_scores(self, x: Any) -> np.ndarray:
        """Raw scores ``(n, n_outputs)`` float64 from LightGBM: base score plus leaf values.

        The reference :meth:`predict_proba` is checked against (it runs LightGBM's own
        predictor, about half as fast).
        """
        x = self._rows(x)
        scores = self.booster().predict(x, raw_score=True, num_threads=self.predict_threads)
        scores = np.asarray(scores, dtype=np.float64).reshape(len(x), -1)
        return scores + (self.arrays or {})["base_score"]

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities ``(n, len(classes_))`` float32: softmax of the raw scores.

        Runs the trees in onnxruntime (:func:`brushlab.classifier.boosted_onnx.prediction_session`),
        the graph the Model Zoo export writes; equal to ``softmax_scores(raw_scores(x))``
        up to float32 rounding of the leaf sums. Without onnxruntime (the core install has
        none: ``pip install "brushlab[dl]"`` adds it) LightGBM's own predictor runs instead,
        about half as fast, with the same classes and probabilities up to that rounding.
        """
        self._require()
        x = self._rows(x)
        with _SESSION_LOCK:  # tiles predict on several threads: build the session once
            if self._session is None:
                try:
                    self._session = prediction_session(
                        self.arrays or {}, self.meta, len(np.asarray(self.classes_)),
                        threads=self.predict_threads,
                    )
                except ImportError:  # the core install (a cluster worker) has no onnxruntime
                    self._session = _LIGHTGBM
        if self._session is _LIGHTGBM:
            n_classes = len(np.asarray(self.classes_))
            return softmax_scores(self.raw_scores(x), n_classes).astype(np.float32)
        return np.asarray(self._session.run(None, {"x": x})[0])

    def predict(self, x: Any) -> np.ndarray:
        """Most probable class per row."""
        return np.asarray(self.classes_)[np.argmax(self.predict_proba(x), axis=1)]

    @property
    def feature_importances_(self) -> np.ndarray:
        """Total split gain per feature, normalised to sum to 1 (as LightGBM's ``gain``)."""
        self._require()
        a = self.arrays or {}
        gain = np.bincount(a["split_feature"], weights=a["split_gain"],
                           minlength=self.n_features_in_)
        total = gain.sum()
        return gain / total if total > 0 else gain

    @property
    def nbytes(self) -> int:
        """Bytes of the model's arrays (what ships to each blockwise worker)."""
        return int(sum(a.nbytes for a in (self.arrays or {}).values()))

    # -- arrays ---------------------------------------------------------------------
    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Return the trained model as plain arrays and JSON metadata (a model file's content)."""
        self._require()
        return dict(self.arrays or {}), dict(self.meta)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> BoostedTrees:
        """Rebuild from :meth:`to_arrays` output, validating everything first.

        Raises
        ------
        ModelFileError
            If the arrays or metadata are inconsistent (see
            :func:`brushlab.classifier.boosted_arrays.check_boosted_arrays`).
        """
        if meta.get("estimator") != "LightGBM":
            raise ModelFileError(
                f"the model file holds a {meta.get('estimator')!r} boosted model, which this "
                "brushlab cannot load; upgrade brushlab if a newer one wrote the file"
            )
        checked = check_boosted_arrays(arrays, meta)
        labels = meta.get("classes_")
        if (
            not isinstance(labels, list)
            or not all(isinstance(c, int) and not isinstance(c, bool) for c in labels)
            or len(set(labels)) != len(labels)
            or len(labels) < 2
            or (meta["n_outputs"] != (1 if len(labels) == 2 else len(labels)))
        ):
            raise ModelFileError(
                f"the boosted trees in this model file are damaged: classes {labels!r} do not "
                f"fit {meta.get('n_outputs')} outputs; re-save the classifier with brushlab"
            )
        params = meta.get("params")
        known = cls().get_params()
        if not isinstance(params, dict):
            raise ModelFileError("the boosted trees in this model file lack their 'params'")
        try:
            model = cls(**{k: v for k, v in params.items() if k in known})
        except (TypeError, ValueError, ClassifierError) as exc:
            raise ModelFileError(f"the boosted trees' params are unusable ({exc})") from exc
        model.arrays, model.meta = checked, dict(meta)
        model.classes_ = np.asarray(labels, dtype=np.int64)
        return model

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        # rebuilt from the arrays where it is unpickled (dask workers): neither pickles
        state["_booster"] = state["_session"] = None
        return state

    def __dask_tokenize__(self) -> str:
        digest = hashlib.sha256(repr(sorted(self.meta.items())).encode())
        for name, array in sorted((self.arrays or {}).items()):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def __repr__(self) -> str:
        state = f"classes={self.classes_.tolist()}" if self.classes_ is not None else "untrained"
        return (f"BoostedTrees(n_trees={self.n_trees}, n_leaves={self.n_leaves}, "
                f"learning_rate={self.learning_rate}, {state})")
