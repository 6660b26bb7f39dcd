"""Session: the headless state behind the labelling widget (labels, features, model)."""

from __future__ import annotations

import copy
import os
import weakref
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from brushlab._core.threads import resolve_n_jobs
from brushlab.classifier import PixelClassifier, per_plane, predict_plane_region, preload
from brushlab.errors import ClassifierError, ImageError, LabelError
from brushlab.features import FeatureSet
from brushlab.session._feature_cache import FeatureCache
from brushlab.session._images import ImageEntry
from brushlab.session._label_verbs import LabelVerbs
from brushlab.session._labelling import ImageRef, LabelEditor
from brushlab.session._network import NetworkTraining
from brushlab.session._persistence import SessionPersistence, TrainedHooks, training_record
from brushlab.session._predict import fit_classifier, fit_order, gather_rows, predict_box
from brushlab.session._regions import assemble_result, most_uncertain_window

if TYPE_CHECKING:
    from brushlab.session._live import LiveSettings, LiveUpdate, LiveUpdater

__all__ = ["Session"]


class Session(NetworkTraining, SessionPersistence, LabelVerbs, LabelEditor):
    """All state of an interactive labelling session, without any UI.

    A widget drives a Session and draws what it returns; tests and scripts call
    the same methods. On top of :class:`LabelEditor` (images, labels, classes,
    strokes, undo) it keeps a feature cache, computed once per image tile in
    background threads and never again on a stroke, and the classifier trained
    from the cached features of the labelled pixels.

    Parameters
    ----------
    images : image or sequence of images, optional
        Anything :func:`brushlab.as_image` accepts (2D, 3D, time series,
        multichannel; sizes may differ). More with :meth:`add_image`.
    classes : sequence, optional
        Class names, ``(name, colour)`` pairs or :class:`LabelClass` objects;
        default ``["class 1", "class 2"]``. Class ids are positions + 1.
    features : FeatureSet, optional
        ``FeatureSet.default()`` when None.
    classifier_params : dict, optional
        Keyword arguments of :class:`PixelClassifier` used by :meth:`train`
        (``model``, ``n_trees``, ``class_weight``, ``n_jobs``...); ``random_state``
        defaults to 0 so training is reproducible, ``model`` to ``"boosted_trees"``.
    cache_bytes : int, default 1 GiB
        Memory cap of the feature cache (least recently used tiles go first).
    tile_shape : dict, optional
        Feature tile per spatial ndim (default ``{2: (256, 256), 3: (32, 128, 128)}``).
    precompute : bool, default True
        Start computing an image's features in the background when it is
        added, if they fit in ``cache_bytes``.

    Examples
    --------
    >>> import numpy as np, brushlab
    >>> from brushlab.session import Session
    >>> image = np.zeros((64, 64), np.float32); image[:, 32:] = 1
    >>> fs = brushlab.FeatureSet({"gaussian_smoothing": [1.0], "dog": [2.0]})
    >>> with Session(image, features=fs, classifier_params={"n_trees": 10}) as s:
    ...     _ = s.paint(0, [(10, 5), (50, 5)], class_id=1, radius=2)
    ...     _ = s.paint(0, [(10, 50), (50, 50)], class_id=2, radius=2)
    ...     clf = s.train()
    ...     int(s.predict_region(0).segmentation[30, 60])
    2
    """

    def __init__(
        self,
        images: Any = None,
        classes: Iterable[Any] | None = None,
        features: FeatureSet | None = None,
        classifier_params: dict[str, Any] | None = None,
        *,
        cache_bytes: int = 2**30,
        tile_shape: dict[int, Sequence[int]] | None = None,
        precompute: bool = True,
    ) -> None:
        self._features = features if features is not None else FeatureSet.default()
        if not isinstance(self._features, FeatureSet):
            raise ClassifierError(f"features must be a brushlab.FeatureSet, not {type(features)}")
        params = {"random_state": 0, "model": "boosted_trees", **(classifier_params or {})}
        if "features" in params:
            raise ClassifierError("pass features= to Session, not inside classifier_params")
        try:
            PixelClassifier(self._features, **params)
        except TypeError as exc:
            raise ClassifierError(f"classifier_params: {exc}") from exc
        self.classifier_params = params
        self.n_threads = resolve_n_jobs(params.get("n_jobs"))  # checked by PixelClassifier
        self.precompute = bool(precompute)
        self._classifier: PixelClassifier | None = None
        self._results: dict[tuple[int, tuple[int, ...]], xr.Dataset] = {}
        self._live: weakref.WeakSet[LiveUpdater] = weakref.WeakSet()
        self._cache = FeatureCache(
            self._features, max_bytes=cache_bytes, n_threads=self.n_threads, tile_shape=tile_shape
        )
        self._pool: ThreadPoolExecutor | None = None
        self._finalizer = weakref.finalize(self, _shutdown, self._cache, [None])
        #: JSON-able state of a view (image, plane, class, brush...), saved in projects verbatim.
        self.view_state: dict[str, Any] = {}
        #: One record per :meth:`train` call (label counts, date, brushlab version).
        self.training_history: list[dict[str, Any]] = []
        #: Project file saved after each :meth:`train` (None: off); see :meth:`enable_autosave`.
        self.autosave: str | os.PathLike[str] | None = None
        self.autosave_embed_images: bool | str = True
        self._trained_hooks = TrainedHooks()
        self._stop_autosave: Callable[[], None] | None = None
        super().__init__(images, classes)

    # -- features ----------------------------------------------------------------
    @property
    def features(self) -> FeatureSet:
        """The feature set every image's features are computed with."""
        return self._features

    def set_features(self, features: FeatureSet) -> None:
        """Switch to another feature set (ilastik's feature selection dialog).

        The cached features are dropped and computed anew in the background;
        the classifier, trained on the old features, is forgotten. Labels stay.

        Parameters
        ----------
        features : FeatureSet
            The new selection.
        """
        if not isinstance(features, FeatureSet):
            raise ClassifierError(f"features must be a brushlab.FeatureSet, not {type(features)}")
        if features == self._features:
            return
        with self._lock:
            old = self._cache
            self._cache = FeatureCache(
                features, max_bytes=old.max_bytes, n_threads=self.n_threads,
                tile_shape=dict(old.tile_shape),  # type: ignore[arg-type]
            )
            self._features = features
            self._classifier = None
            self._results.clear()
            for entry in self._entries:
                self._image_added(entry)
            self._changed()
        old.close()
        self._finalizer.detach()  # shut the new cache down with the session, not the old one
        self._finalizer = weakref.finalize(self, _shutdown, self._cache, [self._pool])

    @property
    def feature_cache(self) -> FeatureCache:
        """The cache of per-tile features (``stats`` counts computations)."""
        return self._cache

    def prefetch(
        self, image: ImageRef, region: Any = None, *, plane: Any = None, wait: bool = False
    ) -> int:
        """Queue the features of an image (or a region of one plane) for background computation.

        Parameters
        ----------
        image : int or str
            The image.
        region : optional
            ``(y, x)`` slices of one plane; None with ``plane=None`` means the
            whole image (every plane and time point).
        plane : optional
            The plane ``region`` lies in.
        wait : bool, default False
            Block until they are computed.

        Returns
        -------
        int
            Tiles queued or already cached.
        """
        entry = self._entry(image)
        if self.classifier_params.get("model", "boosted_trees") == "boosted_trees":
            preload()  # the first Train / live overlay should not wait for imports
        if region is None and plane is None:
            futures = self._cache.prefetch(entry.key)
        else:
            p = entry.plane(plane)
            box = entry.box(p, entry.region(region))
            futures = self._cache.prefetch(entry.key, [entry.frame_of(p)], box)
        if wait:
            for f in futures:
                f.result()
        return len(futures)

    # -- training and prediction ---------------------------------------------------
    @property
    def classifier(self) -> PixelClassifier | None:
        """The classifier :meth:`train` last returned (None before, and after a class deletion)."""
        return self._classifier

    def train(self, images: Iterable[ImageRef] | None = None) -> PixelClassifier:
        """Train a :class:`PixelClassifier` on the labels, with the full ``classifier_params``.

        Features of labelled pixels come from the cache (missing tiles are
        computed first). The forest equals what ``PixelClassifier.fit`` trains on
        the same images and labels, and ``classifier.predict(image)`` equals
        :meth:`predict_region` over the whole image.

        Parameters
        ----------
        images : iterable of int or str, optional
            Images to learn from; default all that have labels. They must share
            channel count and spatial dims.

        Returns
        -------
        PixelClassifier
            Trained; also kept as :attr:`classifier` for :meth:`predict_region`.

        Raises
        ------
        LabelError
            If fewer than two classes are labelled.
        ImageError
            If the images differ in channels or dims.
        """
        indices = None if images is None else [self.image_index(i) for i in images]
        x, y, meta = self.training_rows(indices)
        clf = PixelClassifier(self._features, **self.classifier_params)
        fit_classifier(clf, x, y, class_names=self.class_names, **meta)
        with self._lock:
            if len(clf.class_names or []) == len(self._classes):
                self._classifier = clf
        self.training_history.append(training_record(self, clf))
        self._trained_hooks.run(self, clf)  # the autosave, when enabled, is one of them
        return clf

    def training_rows(
        self,
        images: Sequence[int] | None = None,
        *,
        like: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
        """Feature rows and class ids of every labelled pixel, in ``PixelClassifier.fit`` order.

        Parameters
        ----------
        images : sequence of int, optional
            Image indices (default: all with labels).
        like : int, optional
            Keep only images with the channels and dims of this image.

        Returns
        -------
        tuple
            ``x`` ``(n, n_features)`` float32, ``y`` ``(n,)`` int64 and
            ``{"n_channels", "ndim", "n_images"}``.
        """
        with self._lock:
            chosen = range(len(self._entries)) if images is None else images
            picked = []
            for i in chosen:
                e = self._entries[i]
                if like is not None:
                    ref = self._entries[like]
                    if (e.n_channels, e.ndim) != (ref.n_channels, ref.ndim):
                        continue
                per_frame = []
                for t, lab in enumerate(e.labels if "t" in e.plane_dims else e.labels[None]):
                    coords = np.array(np.nonzero(lab))
                    if coords.shape[1]:
                        coords = coords[:, fit_order(coords, lab.shape)]
                        per_frame.append((t, coords, lab[tuple(coords)].astype(np.int64)))
                if per_frame:
                    picked.append((e, per_frame))
        if not picked:
            raise LabelError("nothing is labelled yet: paint at least two classes to train")
        first = picked[0][0]
        for e, _ in picked[1:]:
            if (e.n_channels, e.ndim) != (first.n_channels, first.ndim):
                raise ImageError(
                    f"labelled images {first.name!r} ({first.n_channels} channel(s), "
                    f"{first.ndim}D) and {e.name!r} ({e.n_channels}, {e.ndim}D) cannot train one "
                    "classifier: pass images= to train on compatible ones"
                )
        xs, ys = [], []
        for e, per_frame in picked:
            for t, coords, values in per_frame:
                xs.append(gather_rows(self._cache, e.key, t, coords))
                ys.append(values)
        meta = {"n_channels": first.n_channels, "ndim": first.ndim, "n_images": len(picked)}
        return np.concatenate(xs), np.concatenate(ys), meta

    def predict_region(
        self,
        image: ImageRef,
        region: Any = None,
        *,
        plane: Any = None,
        level: int = 0,
        classifier: PixelClassifier | None = None,
    ) -> xr.Dataset:
        """Predict a region of one plane from cached features.

        Parameters
        ----------
        image : int or str
            The image.
        region : tuple of slice, optional
            ``(y, x)`` slices (or ``(start, stop)`` pairs); the whole plane when None.
        plane : optional
            z and/or t index for 3D or time-lapse images.
        level : int, default 0
            Predict every ``2**level``-th pixel along y and x (a quick preview
            from the same cached features); 0 = full resolution.
        classifier : PixelClassifier, optional
            Trained on this session's feature set; default :attr:`classifier`.

        Returns
        -------
        xarray.Dataset
            ``probabilities`` (class, y, x), ``segmentation``, ``uncertainty``
            and ``confidence`` (y, x), with ``y``/``x`` coordinates holding the
            image pixel of each value; attrs ``image``, ``plane``, ``level``,
            ``step`` and ``region``.
        """
        return self._predict(image, region, plane=plane, level=level, classifier=classifier)

    def _predict(
        self,
        image: ImageRef,
        region: Any = None,
        *,
        plane: Any = None,
        level: int = 0,
        classifier: PixelClassifier | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> xr.Dataset:
        entry = self._entry(image)
        index = self._entries.index(entry)
        clf = classifier if classifier is not None else self._classifier
        if clf is None or not clf.is_trained:
            raise ClassifierError("no trained classifier yet: paint two classes and call train()")
        if per_plane(clf, entry.ndim):  # a 2D model on a stack: its own 2D features, per plane
            return self._predict_plane(entry, index, clf, region, plane, level)
        if clf.features != self._features:
            raise ClassifierError(
                "this classifier uses another FeatureSet than the session's cached features: "
                "use classifier.predict(image) instead"
            )
        clf.check_compatible(entry.n_channels, entry.ndim)
        if not isinstance(level, (int, np.integer)) or not 0 <= int(level) <= 16:
            raise ClassifierError(f"level must be an integer from 0 to 16, got {level!r}")
        p = entry.plane(plane)
        ys, xs = entry.region(region)
        step = 2 ** int(level)
        proba = predict_box(
            self._cache,
            entry.key,
            entry.frame_of(p),
            entry.box(p, (ys, xs)),
            step,
            clf,
            self._predict_pool(),
            cancelled,
        )
        result = assemble_result(
            proba.reshape(proba.shape[0], *proba.shape[-2:]),
            list(clf.class_names or []),
            (ys, xs),
            step,
            attrs={"image": index, "plane": list(p), "level": int(level)},
        )
        with self._lock:
            self._results[(index, p)] = result
        return result

    def _predict_plane(self, entry: ImageEntry, index: int, clf: PixelClassifier, region: Any,
                       plane: Any, level: int) -> xr.Dataset:
        clf.check_compatible(entry.n_channels, entry.ndim)
        p, (ys, xs), step = entry.plane(plane), entry.region(region), 2 ** int(level)
        frame = entry.frames[entry.frame_of(p)]
        proba = predict_plane_region(clf, frame, p[-1], (ys, xs), entry.spacing, step)
        result = assemble_result(proba, list(clf.class_names or []), (ys, xs), step,
                                 attrs={"image": index, "plane": list(p), "level": int(level)})
        with self._lock:
            self._results[(index, p)] = result
        return result

    def _predict_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.n_threads, thread_name_prefix="brushlab-predict"
                )
                self._finalizer.detach()
                self._finalizer = weakref.finalize(self, _shutdown, self._cache, [self._pool])
            return self._pool

    def suggest(
        self, image: ImageRef, region: Any = None, *, plane: Any = None, size: int = 64
    ) -> tuple[slice, slice]:
        """Find the ``size`` x ``size`` window of highest mean uncertainty in a region.

        Uses the last prediction of that plane when it covers the region (a
        live preview counts), else predicts the region first.

        Returns
        -------
        tuple of slice
            ``(y, x)`` window in image pixels, inside ``region`` (smaller when
            the region is).
        """
        entry = self._entry(image)
        index = self._entries.index(entry)
        p = entry.plane(plane)
        ys, xs = entry.region(region)
        if int(size) < 1:
            raise ImageError(f"the suggestion window size must be at least 1, got {size}")
        with self._lock:
            result = self._results.get((index, p))
        if result is None or not _covers(result, ys, xs):
            result = self.predict_region(index, (ys, xs), plane=p or None)
        return most_uncertain_window(result, (ys, xs), int(size))

    # -- live updates ------------------------------------------------------------
    def live(
        self,
        callback: Callable[[LiveUpdate], None],
        settings: LiveSettings | None = None,
    ) -> LiveUpdater:
        """Start a :class:`LiveUpdater`: retrain and predict the view after each stroke.

        Parameters
        ----------
        callback : callable
            Receives each :class:`LiveUpdate` (on a worker thread).
        settings : LiveSettings, optional
            Debounce, preview level, live forest size; see :class:`LiveSettings`.
        """
        from brushlab.session._live import LiveUpdater

        updater = LiveUpdater(self, callback, settings)
        self._live.add(updater)
        return updater

    # -- lifetime ----------------------------------------------------------------
    def close(self) -> None:
        """Stop live updaters and background threads; the labels stay readable."""
        for updater in list(self._live):
            updater.stop()
        self._finalizer()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Session({len(self._entries)} image(s), {self._classes_text()}, "
            f"trained={self._classifier is not None})"
        )

    # -- hooks -------------------------------------------------------------------
    def _image_added(self, entry: ImageEntry) -> None:
        self._cache.add_source(entry.key, entry.frames, entry.spacing)
        if self.precompute and self._cache.nbytes(entry.key) <= self._cache.max_bytes:
            self._cache.prefetch(entry.key)

    def _classes_changed(self, removed: bool) -> None:
        clf = self._classifier
        if removed:  # the forest's class ids no longer match
            self._classifier = None
            self.network = None
            self._results.clear()
        elif clf is not None and len(clf.class_names or []) <= len(self._classes):
            # Renamed or added classes: a copy with the new names (an added class gets p = 0).
            renamed = copy.copy(clf)
            renamed.class_names = self.class_names
            self._classifier = renamed


def _covers(result: xr.Dataset, ys: slice, xs: slice) -> bool:
    y0, y1 = result.attrs["region"][0]
    x0, x1 = result.attrs["region"][1]
    return y0 <= ys.start and ys.stop <= y1 and x0 <= xs.start and xs.stop <= x1


def _shutdown(cache: FeatureCache, pools: list[ThreadPoolExecutor | None]) -> None:
    cache.close()
    for pool in pools:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
