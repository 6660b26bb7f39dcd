"""PixelClassifier: boosted trees (or a random forest) on filter features, from sparse labels."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from brushlab._core.backend import array_module, is_cupy, to_numpy
from brushlab._core.threads import check_n_jobs, map_single_blas, resolve_n_jobs
from brushlab._core.tiling import iter_tiles, read_with_halo
from brushlab.classifier._files import ClassifierFiles
from brushlab.classifier._prediction import DEFAULT_TILE, TilePrediction
from brushlab.classifier.boosted_trees import DEFAULTS as BOOSTED_DEFAULTS
from brushlab.errors import ClassifierError, ImageError, LabelError
from brushlab.features import FeatureSet
from brushlab.io import check_image, check_labels, split_frames

__all__ = ["DEFAULT_TILE", "FIT_TILE", "MODELS", "PixelClassifier", "load_classifier"]

#: Built-in models: LightGBM boosted trees (the default, see
#: :mod:`brushlab.classifier.boosted_trees`) and scikit-learn's random forest (ilastik's kind).
MODELS = ("boosted_trees", "random_forest")
_FOREST_DEFAULTS = {"n_trees": 100, "min_samples_leaf": 1}
# Fitting computes features only on tiles that hold labels. Scribbles in 3D lie on a
# few planes, so thin 3D tiles waste the least halo per labelled voxel. In 2D, 256 x 256:
# with sigma 10 (a 60-pixel halo) 128 x 128 tiles computed 3.75x their area; fit of the
# ISBI scribbles 2.6 s vs 4.6 s (all 20 slices) and 0.47 s vs 0.72 s (3 slices).
FIT_TILE = {2: (256, 256), 3: (4, 128, 128)}


class PixelClassifier(ClassifierFiles, TilePrediction):
    """Pixel classifier on a :class:`~brushlab.FeatureSet`: boosted trees or a random forest.

    Parameters
    ----------
    features : FeatureSet, optional
        Filters to compute; ``FeatureSet.default()`` when None.
    n_trees : int, optional
        Boosting iterations (default 50) or trees in the forest (default 100).
    random_state : int, optional
        Seed; the same seed, data and labels give the same model.
    model : {"boosted_trees", "random_forest"}, default "boosted_trees"
        ``"boosted_trees"``: LightGBM gradient boosting
        (:class:`brushlab.boosted_trees.BoostedTrees`; defaults chosen on ISBI 2012,
        BBBC039 and blobs, see benchmarks/README.md): the accuracy of the forest at a
        fraction of its fit and predict time. ``"random_forest"``: scikit-learn's
        ``RandomForestClassifier``, the kind of classifier ilastik trains.
    class_weight : {None, "balanced"}, default None
        ``"balanced"`` weighs classes inversely to their labelled pixel counts,
        so a class with few scribbles is not drowned out.
    max_depth : int, optional
        Depth limit per tree.
    min_samples_leaf : int, optional
        Fewest labelled pixels per leaf (default 20 for boosted trees, 1 for the forest).
    max_features
        Features tried per split (random forest only).
    n_leaves : int, default 31
        Leaves per boosted tree.
    learning_rate : float, default 0.1
        Shrinkage of each boosted tree.
    subsample : float, default 0.5
        Share of the labelled pixels each boosted tree is fitted on.
    n_jobs : int, optional
        Threads for features, fitting and prediction (all cores when None; -1 all
        cores, -2 all but one...); more than 4 per core (at least 32) is refused.
    tile_shape : sequence of int, optional
        Spatial tile for prediction; bounds peak memory. Results do not depend on it.
    device : {"auto", "cpu", "gpu"}, default "auto"
        Where features are computed: "auto" follows the input array (cupy -> GPU).
    estimator : scikit-learn classifier, optional
        Any classifier with ``fit`` and ``predict_proba`` to use instead of the
        built-in models (as scikit-image's trainable segmentation allows). Only the
        built-in models can be saved with :meth:`save`.

    Examples
    --------
    >>> import numpy as np, brushlab
    >>> image = np.zeros((64, 64), np.float32); image[:, 32:] = 1
    >>> labels = np.zeros((64, 64), np.uint8); labels[5, 5:20] = 1; labels[5, 40:60] = 2
    >>> clf = brushlab.PixelClassifier(n_trees=10, random_state=0).fit(image, labels)
    >>> result = clf.predict(image)
    >>> int(result.segmentation[30, 50])
    2
    """

    def __init__(
        self,
        features: FeatureSet | None = None,
        n_trees: int | None = None,
        random_state: int | None = None,
        *,
        model: str = "boosted_trees",
        class_weight: str | None = None,
        max_depth: int | None = None,
        min_samples_leaf: int | None = None,
        max_features: str | int | float | None = "sqrt",
        n_leaves: int = BOOSTED_DEFAULTS["n_leaves"],
        learning_rate: float = BOOSTED_DEFAULTS["learning_rate"],
        subsample: float = BOOSTED_DEFAULTS["subsample"],
        n_jobs: int | None = None,
        tile_shape: Sequence[int] | None = None,
        device: str = "auto",
        estimator: Any = None,
    ) -> None:
        self.features = features if features is not None else FeatureSet.default()
        if not isinstance(self.features, FeatureSet):
            raise ClassifierError(f"features must be a brushlab.FeatureSet, not {type(features)}")
        if model not in MODELS:
            raise ClassifierError(f"model must be one of {MODELS}, not {model!r}")
        defaults = BOOSTED_DEFAULTS if model == "boosted_trees" else _FOREST_DEFAULTS
        n_trees = defaults["n_trees"] if n_trees is None else n_trees
        if int(n_trees) < 1:
            raise ClassifierError(f"n_trees must be at least 1, got {n_trees}")
        if int(n_leaves) < 2 or not float(learning_rate) > 0:
            raise ClassifierError(
                f"need n_leaves >= 2 and learning_rate > 0, got {n_leaves} and {learning_rate}"
            )
        if class_weight not in (None, "balanced"):
            raise ClassifierError(f"class_weight must be None or 'balanced', not {class_weight!r}")
        if not 0 < float(subsample) <= 1:
            raise ClassifierError(f"subsample must be in (0, 1], got {subsample}")
        if device not in ("auto", "cpu", "gpu"):
            raise ClassifierError(f"device must be 'auto', 'cpu' or 'gpu', not {device!r}")
        self.n_trees = int(n_trees)
        self.random_state = random_state
        self.model = model
        self.class_weight = class_weight
        self.max_depth = max_depth
        self.min_samples_leaf = int(
            defaults["min_samples_leaf"] if min_samples_leaf is None else min_samples_leaf
        )
        self.max_features = max_features
        self.n_leaves, self.learning_rate = int(n_leaves), float(learning_rate)
        self.subsample = float(subsample)
        self.n_jobs = n_jobs
        self.tile_shape = tuple(tile_shape) if tile_shape is not None else None
        self.device = device
        self.estimator = estimator
        self.class_names: list[str] | None = None
        self.n_channels: int | None = None
        self.spatial_ndim: int | None = None
        self.training: dict[str, Any] = {}
        self._model: Any = None

    # -- training --------------------------------------------------------------
    def fit(
        self, images: Any, labels: Any, class_names: Sequence[str] | None = None
    ) -> PixelClassifier:
        """Train on one or several images with sparse labels.

        Parameters
        ----------
        images : image or list of images
            Arrays, DataArrays or paths (see :func:`brushlab.imread`); sizes may differ.
        labels : array or list of arrays
            Integer labels shaped like each image without its channel axis:
            0 = unlabelled, 1..K = classes.
        class_names : sequence of str, optional
            Names of classes 1..K (default "class 1", ...).

        Returns
        -------
        PixelClassifier
            ``self``, trained.
        """
        from brushlab.io import as_image

        image_list = list(images) if isinstance(images, (list, tuple)) else [images]
        label_list = list(labels) if isinstance(labels, (list, tuple)) else [labels]
        if len(image_list) != len(label_list):
            raise LabelError(
                f"got {len(image_list)} images but {len(label_list)} label arrays: "
                "pass one label array per image"
            )
        if not image_list:
            raise LabelError("no images to train on: pass at least one image and its labels")
        t0 = time.perf_counter()
        xs, ys = [], []
        n_channels = ndim = None
        for i, (image, lab) in enumerate(zip(image_list, label_list)):
            img = as_image(image)
            check_image(img, where=f"training image {i}")
            fr = split_frames(img, self._device_for(img.data))
            frames, spacing, ch, nd = fr.arrays, fr.spacing, fr.n_channels, fr.ndim
            if n_channels is None:
                n_channels, ndim = ch, nd
            elif (ch, nd) != (n_channels, ndim):
                raise ImageError(
                    f"training image {i} has {ch} channel(s) and {nd} spatial dims, the first has "
                    f"{n_channels} and {ndim}: all training images need the same channels and dims"
                )
            lab_arr = check_labels(lab, img, i)
            lab_frames = lab_arr if "t" in img.dims else lab_arr[None]
            for data, lab_frame in zip(frames, lab_frames):
                x, y = self._labelled_features(data, lab_frame, spacing)
                xs.append(x)
                ys.append(y)
        x_all = np.concatenate(xs) if xs else np.empty((0, 0), np.float32)
        y_all = np.concatenate(ys) if ys else np.empty(0, np.int64)
        present = np.unique(y_all)
        n_classes = int(max(present.max(initial=0), len(class_names) if class_names else 0))
        names = (
            list(class_names) if class_names else [f"class {k}" for k in range(1, n_classes + 1)]
        )
        return self.fit_features(
            x_all,
            y_all,
            class_names=names,
            n_channels=int(n_channels or 1),
            spatial_ndim=int(ndim or 2),
            n_images=len(image_list),
            started=t0,
        )

    def fit_features(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        class_names: Sequence[str],
        n_channels: int,
        spatial_ndim: int,
        n_images: int = 1,
        model: Any = None,
        started: float | None = None,
    ) -> PixelClassifier:
        """Train on feature rows already computed (the Session's cache uses this).

        Parameters
        ----------
        x : numpy.ndarray
            ``(n, n_features)`` float32 rows, in this classifier's feature order.
        y : numpy.ndarray
            ``(n,)`` class ids 1..K.
        class_names : sequence of str
            Names of classes 1..K.
        n_channels, spatial_ndim : int
            Channels and spatial dims of the images the rows come from.
        n_images : int
            Images the labels come from (recorded in :attr:`training`).
        model : classifier, optional
            Estimator to fit instead of a new one from this classifier's settings
            (:meth:`new_model`).
        started : float, optional
            ``time.perf_counter()`` when training began (for the training summary).

        Returns
        -------
        PixelClassifier
            ``self``, trained.
        """
        t0 = time.perf_counter() if started is None else started
        present = np.unique(y)
        if present.size == 0:
            raise LabelError("the labels are all 0 (unlabelled): paint at least two classes")
        names = [str(n) for n in class_names]
        if present.size == 1:
            k = int(present[0])
            which = repr(names[k - 1]) if 0 < k <= len(names) else str(k)
            raise LabelError(f"only class {which} is labelled: paint at least two classes to train")
        if len(names) < int(present.max()):
            raise LabelError(
                f"labels go up to {int(present.max())} but only {len(names)} class names were given"
            )
        if len(set(names)) != len(names):
            raise LabelError(f"class names must be unique, got {names}")
        if model is None:
            model = self.estimator if self.estimator is not None else self.new_model()
        model.fit(x, y)
        self._model = model
        self.class_names = names
        self.n_channels, self.spatial_ndim = int(n_channels), int(spatial_ndim)
        self.training = {
            "labelled_pixels": {n: int((y == k).sum()) for k, n in enumerate(names, start=1)},
            "n_images": int(n_images),
            "fit_seconds": round(time.perf_counter() - t0, 3),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        return self

    def new_model(self) -> Any:
        """Return an unfitted model with this classifier's settings (see ``model``)."""
        if self.model == "random_forest":
            return self.new_forest()
        from brushlab.classifier.boosted_trees import BoostedTrees

        return BoostedTrees(
            self.n_trees,
            self.n_leaves,
            self.learning_rate,
            class_weight=self.class_weight,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            subsample=self.subsample,
            random_state=self.random_state,
            n_jobs=self._threads(),
        )

    def new_forest(self) -> Any:
        """Return an unfitted scikit-learn forest with this classifier's settings."""
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            n_estimators=self.n_trees,
            random_state=self.random_state,
            class_weight=self.class_weight,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            n_jobs=self._threads(),
        )

    @property
    def n_jobs(self) -> int | None:
        """Threads for features, fitting and prediction (None: all cores); checked when set."""
        return self._n_jobs

    @n_jobs.setter
    def n_jobs(self, value: int | None) -> None:
        self._n_jobs = check_n_jobs(value)

    def _threads(self) -> int:
        return resolve_n_jobs(self.n_jobs)

    def _device_for(self, data: Any) -> str:
        if self.device == "auto":
            return "gpu" if is_cupy(data) else "cpu"
        return self.device

    def _labelled_features(
        self, data: Any, labels: np.ndarray, spacing: list[float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Features of labelled pixels only, computed on the tiles that hold labels."""
        ndim = data.ndim - 1
        halo = self.features.halo(spacing)
        tiles = [t for t in iter_tiles(labels.shape, FIT_TILE[ndim]) if labels[t].any()]

        def one(tile: tuple[slice, ...]) -> tuple[np.ndarray, np.ndarray]:
            mask = labels[tile] > 0
            block = read_with_halo(data, tile, halo)
            origin = [t.start - h for t, h in zip(tile, halo)]
            feats = self.features.compute_block(block, spacing, halo, origin)
            picked = feats[:, array_module(feats).asarray(mask)]
            return to_numpy(picked).T, labels[tile][mask].astype(np.int64)

        parts = self._map(one, tiles)
        nf = self.features.n_features(ndim=ndim, n_channels=data.shape[0])
        if not parts:
            return np.empty((0, nf), np.float32), np.empty(0, np.int64)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """Run ``fn`` over ``items`` on this classifier's threads, BLAS single-threaded inside."""
        return map_single_blas(fn, items, self._threads())

    # -- prediction ------------------------------------------------------------
    @property
    def is_trained(self) -> bool:
        """Whether :meth:`fit` (or loading) has produced a model."""
        return self._model is not None

    def _require_trained(self) -> None:
        if self._model is None:
            raise ClassifierError("this PixelClassifier is not trained yet: call fit() first")

    # -- inspection ------------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        """Names of the features the model reads, in order."""
        self._require_trained()
        return self.features.names(ndim=self.spatial_ndim or 2, n_channels=self.n_channels or 1)

    @property
    def feature_importances(self) -> xr.DataArray:
        """Importance per feature, labelled by feature name, summing to 1.

        Boosted trees: total split gain (LightGBM's ``gain``); random forest: mean
        decrease in impurity.
        """
        self._require_trained()
        imp = getattr(self._model, "feature_importances_", None)
        if imp is None:
            raise ClassifierError("the injected estimator does not report feature_importances_")
        return xr.DataArray(
            np.asarray(imp, dtype=np.float64),
            dims=["feature"],
            coords={"feature": self.feature_names},
            name="feature_importance",
        )

    def __repr__(self) -> str:
        state = f"classes={self.class_names}" if self.is_trained else "untrained"
        return (
            f"PixelClassifier(model={self.model!r}, n_trees={self.n_trees}, {state}, "
            f"features={self.features!r})"
        )

def load_classifier(path: str | os.PathLike[str]) -> PixelClassifier:
    """Read a :class:`PixelClassifier` saved with :meth:`PixelClassifier.save`.

    Raises
    ------
    brushlab.errors.ModelFileError
        When the file is missing, corrupt, truncated, foreign or from a newer brushlab.
    """
    return PixelClassifier.load(path)
