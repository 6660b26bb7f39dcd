"""ObjectClassifier: classify objects from a few labelled ones (ilastik's Object Classification).

Each object is described by its row of :func:`brushlab.objects.measure` (size, intensity,
shape, and the pixel classifier's class and confidence when a prediction is given); a
random forest learns from a few objects labelled per class by id and predicts all others.
Model files hold the trees as arrays plus JSON (:mod:`brushlab.classifier.modelfile`), no pickle.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from brushlab._core.backend import array_module
from brushlab._core.threads import check_n_jobs
from brushlab.errors import ClassifierError, LabelError, ModelFileError
from brushlab.objects._common import SpacingLike, as_label_array, rewrap, unwrap
from brushlab.objects._measure import measure

__all__ = ["ObjectClassifier", "load_object_classifier"]

_NOT_FEATURES = ("label", "class")  # identity and text; positions are excluded by prefix
_POSITION = ("centroid_", "bbox_")


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


class ObjectClassifier:
    """Random forest on object measurements, trained from objects labelled by id.

    Parameters
    ----------
    classes : sequence of str, optional
        Names of classes 1..K. Default: the class names used in the annotations
        (sorted), or "class 1", ... for integer annotations.
    features : sequence of str, optional
        Columns of :func:`measure` to learn from. Default: every numeric column
        except positions (centroids and bounding boxes), which describe where an
        object is, not what it is.
    n_trees : int, default 100
        Trees in the forest.
    random_state : int, optional
        Seed; the same seed and annotations give the same forest.
    class_weight : {None, "balanced"}, default "balanced"
        Weigh classes inversely to their annotated object counts.
    n_jobs : int, optional
        Threads for fitting and prediction.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((40, 40), int)
    >>> for i, (y, x, r) in enumerate([(5, 5, 2), (5, 20, 4), (20, 5, 2), (20, 20, 4),
    ...                                (32, 8, 2), (32, 28, 4)], start=1):
    ...     labels[y - r:y + r + 1, x - r:x + r + 1] = i
    >>> clf = ObjectClassifier(["small", "big"], n_trees=10, random_state=0)
    >>> clf = clf.fit(labels, annotations={1: "small", 2: "big", 3: "small", 4: "big"})
    >>> clf.predict(labels)["class"].tolist()
    ['small', 'big', 'small', 'big', 'small', 'big']
    """

    def __init__(
        self,
        classes: Sequence[str] | None = None,
        *,
        features: Sequence[str] | None = None,
        n_trees: int = 100,
        random_state: int | None = None,
        class_weight: str | None = "balanced",
        n_jobs: int | None = None,
    ) -> None:
        if int(n_trees) < 1:
            raise ClassifierError(f"n_trees must be at least 1, got {n_trees}")
        if class_weight not in (None, "balanced"):
            raise ClassifierError(f"class_weight must be None or 'balanced', not {class_weight!r}")
        self.class_names: list[str] | None = list(classes) if classes is not None else None
        self.features: list[str] | None = list(features) if features is not None else None
        self.n_trees = int(n_trees)
        self.random_state = random_state
        self.class_weight = class_weight
        self.n_jobs = check_n_jobs(n_jobs)  # not 100000 threads from a file
        self.training: dict[str, Any] = {}
        self._model: Any = None

    # -- features ----------------------------------------------------------------------
    def measure(
        self,
        labels: Any,
        image: Any = None,
        *,
        result: xr.Dataset | None = None,
        spacing: SpacingLike = None,
    ) -> pd.DataFrame:
        """Measure the objects (:func:`brushlab.objects.measure`); one row per object id."""
        return measure(labels, image, result=result, spacing=spacing)

    def _matrix(self, table: pd.DataFrame) -> np.ndarray:
        assert self.features is not None
        missing = [f for f in self.features if f not in table.columns]
        if missing:
            raise ClassifierError(
                f"the objects lack the features {missing} this classifier was trained on: "
                "measure them the same way (pass the image, and the prediction result, if "
                "training had them)"
            )
        x = table[self.features].to_numpy(dtype=np.float64)
        x[~np.isfinite(x)] = np.nan  # forests send missing values down a learnt branch
        return x

    @staticmethod
    def default_features(table: pd.DataFrame) -> list[str]:
        """Return the numeric columns of a :func:`measure` table that describe objects."""
        return [
            str(c)
            for c in table.columns
            if c not in _NOT_FEATURES
            and not str(c).startswith(_POSITION)
            and pd.api.types.is_numeric_dtype(table[c])
        ]

    # -- training ----------------------------------------------------------------------
    def fit(
        self,
        labels: Any,
        image: Any = None,
        annotations: Mapping[int, int | str] | Sequence[Mapping[int, int | str]] = (),
        *,
        result: xr.Dataset | Sequence[xr.Dataset] | None = None,
        spacing: SpacingLike = None,
    ) -> ObjectClassifier:
        """Train from objects labelled by id, in one label image or several.

        Parameters
        ----------
        labels : label image or list of label images
            2D or 3D instance labels.
        image : image or list of images, optional
            Intensities of each label image (adds intensity features).
        annotations : mapping or list of mappings
            ``{object_id: class}`` per label image; a class is a name or an id 1..K.
        result : Dataset or list of Datasets, optional
            Pixel predictions of each image (adds class and confidence features).
        spacing : float, sequence or mapping, optional
            Pixel size per axis, when the inputs carry none.

        Returns
        -------
        ObjectClassifier
            ``self``, trained.
        """
        t0 = time.perf_counter()
        if not annotations:
            raise LabelError("no annotated objects: pass annotations={object_id: class, ...}")
        label_list = _as_list(labels)
        n = len(label_list)
        images = _as_list(image) if image is not None else [None] * n
        results = _as_list(result) if result is not None else [None] * n
        notes = list(annotations) if not isinstance(annotations, Mapping) else [annotations]
        if not (len(images) == len(results) == len(notes) == n):
            raise LabelError(
                f"got {n} label image(s), {len(images)} image(s), {len(results)} result(s) and "
                f"{len(notes)} annotation mapping(s): pass one of each per label image"
            )
        tables, targets = [], []
        for i, (lab, img, res, note) in enumerate(zip(label_list, images, results, notes)):
            table = self.measure(lab, img, result=res, spacing=spacing)
            unknown = sorted(int(k) for k in note if int(k) not in table.index)
            if unknown:
                raise LabelError(
                    f"annotations of label image {i} name object ids {unknown[:10]} that are not "
                    f"in it (it has {len(table)} objects, ids {list(table.index[:5])}...); "
                    "use ids from object_at() or the measurement table"
                )
            ids = [int(k) for k in note]
            tables.append(table.loc[ids])
            targets += [note[k] for k in note]
        y = self._encode(targets)
        if len(set(y.tolist())) < 2:
            raise LabelError(
                "the annotations name fewer than two classes: label at least one object of "
                "each of two classes"
            )
        table = pd.concat(tables) if tables else pd.DataFrame()
        if self.features is None:
            self.features = self.default_features(table)
        if not self.features:
            raise ClassifierError("no features to learn from: measure() gave no numeric columns")
        from sklearn.ensemble import RandomForestClassifier

        model = RandomForestClassifier(
            n_estimators=self.n_trees,
            random_state=self.random_state,
            class_weight=self.class_weight,
            n_jobs=self.n_jobs,
        )
        model.fit(self._matrix(table), y)
        self._model = model
        names = self.class_names or []
        self.training = {
            "annotated_objects": {n: int((y == k).sum()) for k, n in enumerate(names, start=1)},
            "n_label_images": n,
            "fit_seconds": round(time.perf_counter() - t0, 3),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        return self

    def _encode(self, targets: list[int | str]) -> np.ndarray:
        if not targets:
            raise LabelError("no annotated objects: pass annotations={object_id: class, ...}")
        if all(isinstance(t, str) for t in targets):
            if self.class_names is None:
                self.class_names = sorted(set(map(str, targets)))
            unknown = sorted(set(map(str, targets)) - set(self.class_names))
            if unknown:
                raise LabelError(
                    f"annotations use classes {unknown} not among {self.class_names}: fix the "
                    "names, or create the ObjectClassifier with classes=[...] naming them all"
                )
            return np.asarray([self.class_names.index(str(t)) + 1 for t in targets], np.int64)
        if not all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in targets):
            raise LabelError("annotation classes must be all names or all ids 1..K, not a mix")
        ids = np.asarray(targets, np.int64)
        k = int(ids.max())
        if ids.min() < 1:
            raise LabelError("annotation class ids start at 1 (0 would mean 'no class')")
        if self.class_names is None:
            self.class_names = [f"class {i}" for i in range(1, k + 1)]
        if k > len(self.class_names):
            raise LabelError(f"class id {k} is beyond the {len(self.class_names)} class names")
        return ids

    # -- prediction --------------------------------------------------------------------
    @property
    def is_trained(self) -> bool:
        """Whether :meth:`fit` (or loading) has produced a model."""
        return self._model is not None

    def predict(
        self,
        labels: Any,
        image: Any = None,
        *,
        result: xr.Dataset | None = None,
        spacing: SpacingLike = None,
        table: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Predict the class of every object.

        Parameters
        ----------
        labels, image, result, spacing
            As for :meth:`fit` (one label image).
        table : pandas.DataFrame, optional
            Measurements already made with :meth:`measure`, to reuse.

        Returns
        -------
        pandas.DataFrame
            Indexed by object id: ``class`` (name), ``class_id`` (1..K),
            ``probability`` (of that class) and ``probability_<name>`` per class.
        """
        if self._model is None:
            raise ClassifierError("this ObjectClassifier is not trained yet: call fit() first")
        if table is None:
            table = self.measure(labels, image, result=result, spacing=spacing)
        names = list(self.class_names or [])
        proba = np.zeros((len(table), len(names)))
        if len(table):
            p = self._model.predict_proba(self._matrix(table))
            for col, cls in enumerate(self._model.classes_):
                proba[:, int(cls) - 1] = p[:, col]
        k = np.argmax(proba, axis=1) if len(table) else np.zeros(0, np.int64)
        out = pd.DataFrame(index=table.index.copy())
        out["class"] = [names[i] for i in k]
        out["class_id"] = (k + 1).astype(np.int64)
        out["probability"] = proba[np.arange(len(table)), k] if len(table) else []
        for j, name in enumerate(names):
            out[f"probability_{name}"] = proba[:, j]
        return out

    @staticmethod
    def class_image(labels: Any, predictions: pd.DataFrame | Mapping[int, int]) -> Any:
        """Paint each object with its class id (0 background): a class image for overlays.

        Parameters
        ----------
        labels : array-like or xarray.DataArray
            The label image the predictions are of (numpy, cupy or xarray).
        predictions : DataFrame or mapping
            :meth:`predict`'s table (its ``class_id``), or ``{object_id: class_id}``.

        Returns
        -------
        array or xarray.DataArray
            uint8 class ids (uint16 beyond 255 classes), same kind as ``labels``.
        """
        src = unwrap(labels, what="the labels")
        lab = as_label_array(src.array, "the labels")
        if isinstance(predictions, pd.DataFrame):
            mapping = dict(zip(predictions.index.astype(np.int64), predictions["class_id"]))
        else:
            mapping = {int(k): int(v) for k, v in predictions.items()}
        top = int(lab.max()) if lab.size else 0
        k = max(mapping.values(), default=0)
        dtype = np.uint8 if k <= 255 else np.uint16
        lut = np.zeros(top + 1, dtype)
        for obj, cls in mapping.items():
            if 0 < obj <= top:
                lut[obj] = cls
        xp = array_module(lab)
        return rewrap(xp.asarray(lut)[lab.astype(xp.int64)], src, name="object_class")

    # -- files -------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the trained classifier (trees as arrays plus JSON; no pickle).

        Returns
        -------
        pathlib.Path
            The written file.
        """
        from brushlab._version import __version__
        from brushlab.classifier.modelfile import forest_to_arrays, write_model_file

        if self._model is None:
            raise ClassifierError("this ObjectClassifier is not trained yet: call fit() first")
        arrays, forest_meta = forest_to_arrays(self._model)
        meta = {
            "kind": "object-classifier",
            "brushlab_version": __version__,
            "class_names": self.class_names,
            "features": self.features,
            "params": {
                "n_trees": self.n_trees,
                "random_state": self.random_state,
                "class_weight": self.class_weight,
            },
            "training": self.training,
            "forest": forest_meta,
        }
        json.dumps(meta)
        return write_model_file(path, arrays, meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ObjectClassifier:
        """Read an object classifier written by :meth:`save`."""
        from brushlab.classifier.forest_arrays import check_model_fits
        from brushlab.classifier.modelfile import forest_from_arrays, read_model_file

        arrays, meta = read_model_file(path)
        if meta.get("kind") != "object-classifier":
            raise ModelFileError(
                f"{path} holds a {meta.get('kind', 'unknown')!r} model, not a brushlab object "
                "classifier; load pixel classifiers with brushlab.load_classifier"
            )
        try:
            params = dict(meta["params"])
            clf = cls(
                [str(n) for n in meta["class_names"]],
                features=[str(f) for f in meta["features"]],
                n_trees=int(params["n_trees"]),
                random_state=params["random_state"],
                class_weight=params["class_weight"],
            )
            clf._model = forest_from_arrays(arrays, meta["forest"])
            clf.training = dict(meta.get("training", {}))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ModelFileError):
                raise
            raise ModelFileError(
                f"{path} is an object classifier file with incomplete metadata ({exc}); re-save it"
            ) from exc
        check_model_fits(  # classes_ within 1..K, one feature per named measurement
            clf._model,
            n_classes=len(clf.class_names or []),
            n_features=len(clf.features or []),
            where=path,
        )
        return clf

    def __repr__(self) -> str:
        state = f"classes={self.class_names}" if self.is_trained else "untrained"
        return f"ObjectClassifier(n_trees={self.n_trees}, {state})"


def load_object_classifier(path: str | os.PathLike[str]) -> ObjectClassifier:
    """Read an :class:`ObjectClassifier` saved with :meth:`ObjectClassifier.save`."""
    return ObjectClassifier.load(path)

