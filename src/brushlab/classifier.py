"""PixelClassifier: a random forest on filter features, trained from sparse labels."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ._backend import array_module, is_cupy, to_numpy
from ._layout import split_frames
from .errors import ClassifierError, ImageError, LabelError, ModelFileError
from .features import FeatureSet
from .tiling import iter_tiles, read_with_halo
from .validation import check_image, check_labels

__all__ = ["PixelClassifier", "load_classifier", "derive_outputs", "result_dataset", "OUTPUTS"]

OUTPUTS = ("probabilities", "segmentation", "uncertainty", "confidence")
DEFAULT_TILE = {2: (256, 256), 3: (64, 128, 128)}
# Fitting computes features only on tiles that hold labels. Scribbles in 3D lie on a
# few planes, so thin 3D tiles waste the least halo per labelled voxel.
FIT_TILE = {2: (128, 128), 3: (4, 128, 128)}


class PixelClassifier:
    """Random forest pixel classifier on a :class:`~brushlab.FeatureSet`.

    Parameters
    ----------
    features : FeatureSet, optional
        Filters to compute; ``FeatureSet.default()`` when None.
    n_trees : int, default 100
        Trees in the forest.
    random_state : int, optional
        Seed; the same seed, data and labels give the same forest.
    class_weight : {None, "balanced"}, default None
        ``"balanced"`` weighs classes inversely to their labelled pixel counts,
        so a class with few scribbles is not drowned out.
    max_depth, min_samples_leaf, max_features
        Passed to scikit-learn's ``RandomForestClassifier``.
    n_jobs : int, optional
        Threads for features, fitting and prediction (all cores when None).
    tile_shape : sequence of int, optional
        Spatial tile for prediction; bounds peak memory. Results do not depend on it.
    device : {"auto", "cpu", "gpu"}, default "auto"
        Where features are computed: "auto" follows the input array (cupy -> GPU).
    estimator : scikit-learn classifier, optional
        Any classifier with ``fit`` and ``predict_proba`` to use instead of the
        forest (as scikit-image's trainable segmentation allows). Only forests
        can be saved with :meth:`save`.

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
        n_trees: int = 100,
        random_state: int | None = None,
        *,
        class_weight: str | None = None,
        max_depth: int | None = None,
        min_samples_leaf: int = 1,
        max_features: str | int | float | None = "sqrt",
        n_jobs: int | None = None,
        tile_shape: Sequence[int] | None = None,
        device: str = "auto",
        estimator: Any = None,
    ) -> None:
        self.features = features if features is not None else FeatureSet.default()
        if not isinstance(self.features, FeatureSet):
            raise ClassifierError(f"features must be a brushlab.FeatureSet, not {type(features)}")
        if int(n_trees) < 1:
            raise ClassifierError(f"n_trees must be at least 1, got {n_trees}")
        if class_weight not in (None, "balanced"):
            raise ClassifierError(f"class_weight must be None or 'balanced', not {class_weight!r}")
        if device not in ("auto", "cpu", "gpu"):
            raise ClassifierError(f"device must be 'auto', 'cpu' or 'gpu', not {device!r}")
        self.n_trees = int(n_trees)
        self.random_state = random_state
        self.class_weight = class_weight
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
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
        from .images import as_image

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
        model : scikit-learn classifier, optional
            Estimator to fit instead of a new one from this classifier's settings.
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
            model = self.estimator if self.estimator is not None else self.new_forest()
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

    def _threads(self) -> int:
        return int(self.n_jobs) if self.n_jobs else (os.cpu_count() or 1)

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
        """Run ``fn`` over ``items`` on a thread pool, with BLAS single-threaded inside."""
        from threadpoolctl import threadpool_limits

        threads = min(self._threads(), max(1, len(items)))
        if threads == 1:
            return [fn(it) for it in items]
        with threadpool_limits(limits=1), ThreadPoolExecutor(threads) as pool:
            return list(pool.map(fn, items))

    # -- prediction ------------------------------------------------------------
    @property
    def is_trained(self) -> bool:
        """Whether :meth:`fit` (or loading) has produced a model."""
        return self._model is not None

    def _require_trained(self) -> None:
        if self._model is None:
            raise ClassifierError("this PixelClassifier is not trained yet: call fit() first")

    def predict(
        self,
        image: Any,
        *,
        outputs: Sequence[str] = OUTPUTS,
        tile_shape: Sequence[int] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> xr.Dataset:
        """Predict every pixel of ``image``.

        Parameters
        ----------
        image : array-like, DataArray or path
            With the channel count and spatial dims the classifier was trained on.
        outputs : sequence of str
            Any of ``probabilities``, ``segmentation``, ``uncertainty``, ``confidence``.
        tile_shape : sequence of int, optional
            Spatial tile (default: the classifier's); results do not depend on it.
        progress : callable, optional
            Called as ``progress(done, total)`` after each tile (from worker
            threads, one call at a time, with ``done`` counting up to ``total``).

        Returns
        -------
        xarray.Dataset
            ``probabilities`` (float32, dim ``class`` first, summing to 1),
            ``segmentation`` (1..K, smallest unsigned dtype), ``uncertainty``
            (1 - (p_max - p_second), as ilastik) and ``confidence`` (p_max), over
            the image's dims without ``c``.
        """
        from .images import as_image

        self._require_trained()
        unknown = set(outputs) - set(OUTPUTS)
        if unknown:
            raise ClassifierError(f"unknown outputs {sorted(unknown)}; choose from {OUTPUTS}")
        img = as_image(image)
        check_image(img, where="the image")
        fr = split_frames(img, self._device_for(img.data))
        frames, spacing, nd = fr.arrays, fr.spacing, fr.ndim
        self.check_compatible(fr.n_channels, nd)
        shape = frames[0].shape[1:]
        tile = tuple(tile_shape or self.tile_shape or DEFAULT_TILE[nd])
        if len(tile) != nd:
            raise ClassifierError(f"tile_shape {tile} must have {nd} entries for this image")
        halo = self.features.halo(spacing)
        k = len(self.class_names or [])
        proba = np.zeros((len(frames), k, *shape), dtype=np.float32)
        jobs = [(fi, t) for fi in range(len(frames)) for t in iter_tiles(shape, tile)]
        done = [0]
        lock = threading.Lock()

        def one(job: tuple[int, tuple[slice, ...]]) -> None:
            fi, t = job
            block = read_with_halo(frames[fi], t, halo)
            origin = [s.start - h for s, h in zip(t, halo)]
            p = self.predict_tile(block, halo=halo, origin=origin, spacing=spacing)
            index: tuple[Any, ...] = (fi, slice(None), *t)
            proba[index] = p
            with lock:  # tiles finish on several threads; report each count once, in order
                done[0] += 1
                if progress is not None:
                    progress(done[0], len(jobs))

        self._map(one, jobs)
        return self._result(proba, img, outputs)

    def predict_tile(
        self,
        block: Any,
        *,
        halo: Sequence[int],
        origin: Sequence[int],
        spacing: Sequence[float] | None = None,
    ) -> np.ndarray:
        """Class probabilities of one tile: the building block of every prediction path.

        In-memory :meth:`predict`, blockwise (Dask) prediction and the widget's
        viewport all call this, so they agree bit for bit.

        Parameters
        ----------
        block : array
            ``(C, *spatial)`` pixels of the tile grown by ``halo`` on each side
            (mirrored where the image ends; see :func:`brushlab.tiling.read_with_halo`).
        halo : sequence of int
            The halo ``block`` carries; at least ``self.features.halo(spacing)``.
        origin : sequence of int
            Global index of ``block``'s first pixel per spatial axis (tile start minus halo).
        spacing : sequence of float, optional
            Physical pixel size per spatial axis (1 when None).

        Returns
        -------
        numpy.ndarray
            ``(K, *tile)`` float32 probabilities, one row per class name.
        """
        self._require_trained()
        ndim = block.ndim - 1
        self.check_compatible(int(block.shape[0]), ndim)
        sp = [1.0] * ndim if spacing is None else [float(v) for v in spacing]
        return self.predict_features(self.features.compute_block(block, sp, halo, origin))

    def predict_features(self, feats: Any) -> np.ndarray:
        """Class probabilities ``(K, *tile)`` from channel-first features ``(F, *tile)``."""
        nf = feats.shape[0]
        tile_shape = feats.shape[1:]
        x = np.ascontiguousarray(to_numpy(feats).reshape(nf, -1).T)
        model = self._model
        if hasattr(model, "estimators_") and hasattr(model, "n_outputs_"):
            # The forest's own average, without joblib's per-call overhead per tile.
            acc = np.zeros((x.shape[0], len(model.classes_)), dtype=np.float64)
            for est in model.estimators_:
                acc += est.predict_proba(x, check_input=False)
            p = acc / len(model.estimators_)
        else:
            p = model.predict_proba(x)
        k = len(self.class_names or [])
        out = np.zeros((k, x.shape[0]), dtype=np.float32)
        for col, cls in enumerate(model.classes_):
            out[int(cls) - 1] = p[:, col]
        return out.reshape(k, *tile_shape)

    def check_compatible(self, n_channels: int, ndim: int) -> None:
        """Raise ClassifierError unless images with these channels and dims fit the model."""
        if n_channels != self.n_channels:
            raise ClassifierError(
                f"the classifier was trained on images with {self.n_channels} channel(s) but this "
                f"image has {n_channels}: use an image with the same channels, or retrain"
            )
        if ndim != self.spatial_ndim:
            raise ClassifierError(
                f"the classifier was trained on {self.spatial_ndim}D images but this image is "
                f"{ndim}D: pass dims= to imread, or retrain on {ndim}D data"
            )

    def _result(self, proba: np.ndarray, img: xr.DataArray, outputs: Sequence[str]) -> xr.Dataset:
        return result_dataset(proba, img, outputs, list(self.class_names or []))

    # -- inspection ------------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        """Names of the features the model reads, in order."""
        self._require_trained()
        return self.features.names(ndim=self.spatial_ndim or 2, n_channels=self.n_channels or 1)

    @property
    def feature_importances(self) -> xr.DataArray:
        """Mean decrease in impurity per feature, labelled by feature name."""
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
        return f"PixelClassifier(n_trees={self.n_trees}, {state}, features={self.features!r})"

    # -- files -----------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the trained classifier to ``path`` (trees as arrays plus JSON; no pickle).

        Returns
        -------
        pathlib.Path
            The written file.
        """
        from . import __version__
        from .modelfile import forest_to_arrays, write_model_file

        self._require_trained()
        arrays, forest_meta = forest_to_arrays(self._model)
        meta = {
            "kind": "pixel-classifier",
            "brushlab_version": __version__,
            "features": self.features.to_dict(),
            "class_names": self.class_names,
            "n_channels": self.n_channels,
            "spatial_ndim": self.spatial_ndim,
            "params": {
                "n_trees": self.n_trees,
                "random_state": self.random_state,
                "class_weight": self.class_weight,
                "max_depth": self.max_depth,
                "min_samples_leaf": self.min_samples_leaf,
                "max_features": self.max_features,
                "tile_shape": list(self.tile_shape) if self.tile_shape else None,
            },
            "training": self.training,
            "forest": forest_meta,
        }
        json.dumps(meta)  # fail here, before anything is written, if not JSON-able
        return write_model_file(path, arrays, meta)

    def export_bioimageio(
        self, path: str | os.PathLike[str], *, sample_image: Any, **kwargs: Any
    ) -> Path:
        """Write a BioImage Model Zoo package (format 0.5, ONNX weights) of this classifier.

        The ONNX graph computes the features (separable 1D convolutions with brushlab's
        kernels, eigenvalues in closed form, symmetric mirroring at the borders) and
        the forest (ONNX-ML ``TreeEnsembleClassifier``); onnxruntime reproduces
        :meth:`predict`'s probabilities. The package is validated with
        ``bioimageio.spec`` and its own test passes before it is written.

        Parameters
        ----------
        path : str or path-like
            A folder, or a ``.zip`` file.
        sample_image : image
            An image like the training ones: test tensors (a centre crop) and the cover.
        **kwargs
            ``name``, ``description``, ``authors``, ``license``, ``tags``, ``spacing``,
            ``overwrite``: see :func:`brushlab.dl.export_bioimageio`.

        Returns
        -------
        pathlib.Path
            The written package.

        Examples
        --------
        >>> clf.export_bioimageio("cells.zip", sample_image=image)  # doctest: +SKIP
        """
        from .dl import export_bioimageio

        return export_bioimageio(self, path, sample_image=sample_image, **kwargs)  # type: ignore[no-any-return]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PixelClassifier:
        """Read a classifier written by :meth:`save`."""
        from .modelfile import forest_from_arrays, read_model_file

        arrays, meta = read_model_file(path)
        if meta.get("kind") != "pixel-classifier":
            raise ModelFileError(f"{path} does not hold a brushlab pixel classifier")
        try:
            params = dict(meta["params"])
            clf = cls(
                FeatureSet.from_dict(meta["features"]),
                n_trees=int(params.pop("n_trees")),
                random_state=params.pop("random_state"),
                **params,
            )
            clf._model = forest_from_arrays(arrays, meta["forest"])
            clf.class_names = [str(n) for n in meta["class_names"]]
            clf.n_channels = int(meta["n_channels"])
            clf.spatial_ndim = int(meta["spatial_ndim"])
            clf.training = dict(meta.get("training", {}))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ModelFileError):
                raise
            raise ModelFileError(
                f"{path} is a brushlab model file with incomplete metadata ({exc}); re-save it"
            ) from exc
        return clf


def result_dataset(
    proba: np.ndarray, img: xr.DataArray, outputs: Sequence[str], class_names: Sequence[str]
) -> xr.Dataset:
    """Build the result Dataset of any classifier (the one builder of results).

    Parameters
    ----------
    proba : numpy.ndarray
        ``(T, K, *spatial)`` float32 class probabilities, one frame per time point.
    img : xarray.DataArray
        The predicted image (its dims, coords and spacing label the result).
    outputs : sequence of str
        Which of :data:`OUTPUTS` to include.
    class_names : sequence of str
        Names of the K classes.

    Returns
    -------
    xarray.Dataset
        See :meth:`PixelClassifier.predict`.
    """
    names = list(class_names)
    dims = [d for d in img.dims if d != "c"]
    has_t = "t" in img.dims
    p = proba if has_t else proba[0]
    if has_t:
        p = np.moveaxis(p, 1, 0)  # (class, t, ...)
    coords: dict[str, Any] = {"class": names}
    for d in dims:
        if d in img.coords:
            coords[str(d)] = img.coords[d]
    data: dict[str, Any] = {}
    for name, arr in derive_outputs(p, outputs).items():
        data[name] = (["class", *dims] if name == "probabilities" else dims, arr)
    attrs = {k: v for k, v in img.attrs.items() if k in ("spacing", "unit", "source")}
    return xr.Dataset(data, coords=coords, attrs=attrs)


def derive_outputs(probabilities: np.ndarray, outputs: Sequence[str] = OUTPUTS) -> dict[str, Any]:
    """Segmentation, uncertainty and confidence from class probabilities.

    Parameters
    ----------
    probabilities : numpy.ndarray
        ``(K, ...)`` probabilities, class first.
    outputs : sequence of str
        Which of :data:`OUTPUTS` to return.

    Returns
    -------
    dict
        ``probabilities`` (as given), ``segmentation`` (1..K, smallest unsigned
        dtype), ``uncertainty`` (1 - (p_max - p_second), as ilastik) and
        ``confidence`` (p_max), as asked.
    """
    p = probabilities
    k = p.shape[0]
    out: dict[str, Any] = {}
    if "probabilities" in outputs:
        out["probabilities"] = p
    if "segmentation" in outputs:
        out["segmentation"] = (np.argmax(p, axis=0) + 1).astype(np.min_scalar_type(k))
    if {"uncertainty", "confidence"} & set(outputs):
        if k >= 2:
            top2 = np.partition(p, k - 2, axis=0)[-2:]
            p_max, p_second = top2[1], top2[0]
        else:
            p_max, p_second = p[0], np.zeros_like(p[0])
        if "uncertainty" in outputs:
            out["uncertainty"] = (1.0 - (p_max - p_second)).astype(np.float32)
        if "confidence" in outputs:
            out["confidence"] = p_max.astype(np.float32)
    return out


def load_classifier(path: str | os.PathLike[str]) -> PixelClassifier:
    """Read a :class:`PixelClassifier` saved with :meth:`PixelClassifier.save`.

    Raises
    ------
    brushlab.errors.ModelFileError
        When the file is missing, corrupt, truncated, foreign or from a newer brushlab.
    """
    return PixelClassifier.load(path)
