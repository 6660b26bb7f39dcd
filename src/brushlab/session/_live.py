"""Live updates: after each stroke, retrain and predict the visible region off the UI thread.

One worker thread per :class:`LiveUpdater`. A stroke bumps the generation and
wakes the worker; after a debounce it trains on the cached features of all
labelled pixels and predicts the view twice: a preview every
``2**preview_level``-th pixel, then full resolution. With boosted trees (the
default model) it trains the session's settings with fewer iterations on a
pool of at most 4096 labels (``LiveSettings``), and both overlays come from
it. With ``model="random_forest"`` it trains a small forest: the preview from
the first ``preview_trees`` trees, full resolution once the forest has grown to
``n_trees`` (warm start: the preview's trees are kept, not refitted).
Whenever a newer stroke or view arrives, the running work is abandoned at the
next checkpoint and its results are dropped, so a callback never receives an
overlay older than one it already has.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from brushlab.classifier import PixelClassifier
from brushlab.errors import BrushlabError, ClassifierError
from brushlab.session._predict import Cancelled, fit_classifier

if TYPE_CHECKING:
    from brushlab.session._session import Session

__all__ = ["LiveSettings", "LiveUpdate", "LiveUpdater"]

_log = logging.getLogger("brushlab")


@dataclass(frozen=True)
class LiveSettings:
    """Speed settings for live updates; :meth:`Session.train` keeps the full settings.

    With boosted trees (the default model) live updates train the session's settings
    with ``boosted_trees`` iterations on at most ``boosted_labels`` labels, and both
    overlays come from that model; ``preview_trees``, ``n_trees`` and ``max_samples``
    apply to random forests.

    Parameters
    ----------
    debounce_s : float, default 0.05
        A request that comes less than this after the previous one waits until
        ``debounce_s`` has passed with no newer request, so a burst of strokes
        (or undos) is served by one update; an isolated stroke starts at once
        (a leading-edge debounce: no added latency for ordinary painting).
    preview_level : int or None, default 2
        The first overlay predicts every ``2**preview_level``-th pixel; None
        (or 0) skips the preview.
    preview_trees : int, default 16
        Trees of the forest behind the preview.
    n_trees : int, default 32
        Trees of the full-resolution live forest (the preview's trees plus
        more, grown by warm start).
    max_samples : int or None, default 512
        Labelled pixels each tree is fitted on (a bootstrap sample, as
        scikit-learn's ``max_samples``): keeps fitting time flat as labels grow.
        As the trees together can see at most ``n_trees * max_samples`` distinct
        labels, the live forest is fitted on a uniform random pool of that many
        labelled pixels (every labelled class kept) when there are more.
        None = all labels for every tree. ``benchmarks/bench_interactive.py``
        measures time, accuracy and agreement with the full-settings forest.
    boosted_trees : int, default 16
        Boosting iterations of the live boosted model.
    boosted_labels : int or None, default 2048
        Labelled pixels the live boosted model trains on at most (a uniform random
        pool keeping every class); None = all. With ``boosted_trees`` chosen in
        ``benchmarks/bench_interactive.py``: at 10k labels 16 iterations on 2048
        labels gave the view accuracy of 32 on 4096 (0.764 vs 0.765) at half the
        training and prediction time.
    """

    debounce_s: float = 0.05
    preview_level: int | None = 2
    preview_trees: int = 16
    n_trees: int = 32
    max_samples: int | None = 512
    boosted_trees: int = 16
    boosted_labels: int | None = 2048

    def __post_init__(self) -> None:
        if not self.debounce_s >= 0:
            raise ClassifierError(f"debounce_s must be >= 0, got {self.debounce_s}")
        if self.preview_level is not None and not 0 <= self.preview_level <= 16:
            raise ClassifierError(f"preview_level must be 0..16 or None, got {self.preview_level}")
        if not 1 <= self.preview_trees <= self.n_trees:
            raise ClassifierError(
                f"need 1 <= preview_trees <= n_trees, got {self.preview_trees} and {self.n_trees}"
            )
        if not 1 <= self.boosted_trees <= 10_000:
            raise ClassifierError(f"boosted_trees must be 1..10000, got {self.boosted_trees}")
        if self.boosted_labels is not None and self.boosted_labels < 2:
            raise ClassifierError(f"boosted_labels must be None or >= 2, got {self.boosted_labels}")
        if self.max_samples is not None and self.max_samples < 1:
            raise ClassifierError(f"max_samples must be None or >= 1, got {self.max_samples}")


@dataclass(frozen=True)
class LiveUpdate:
    """One overlay (or error) delivered to a live callback.

    Attributes
    ----------
    generation : int
        The request it answers; higher is newer.
    image, plane, region
        The view it covers.
    level : int
        0 = full resolution, k = every ``2**k``-th pixel.
    final : bool
        Whether this is the last update for this generation.
    result : xarray.Dataset or None
        As :meth:`Session.predict_region`; None with an ``error``.
    error : str or None
        Why no overlay could be made (e.g. only one class is labelled).
    timings : dict
        ``latency_s`` since the request, ``train_s``, ``predict_s``.
    """

    generation: int
    image: int
    plane: tuple[int, ...]
    region: tuple[slice, slice] | None
    level: int
    final: bool
    result: xr.Dataset | None = None
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


class LiveUpdater:
    """Retrain and predict the visible region after strokes, on a worker thread.

    Create it with :meth:`Session.live`. Call :meth:`set_view` when the view
    moves and :meth:`notify_stroke` after each stroke (or undo, import...).

    Parameters
    ----------
    session : Session
        The session whose labels and cached features it reads.
    callback : callable
        Called with each :class:`LiveUpdate`, from the worker thread;
        exceptions it raises are logged and kept in :attr:`callback_errors`.
    settings : LiveSettings, optional
        Speed settings.
    """

    def __init__(
        self,
        session: Session,
        callback: Callable[[LiveUpdate], None],
        settings: LiveSettings | None = None,
    ) -> None:
        self.settings = settings if settings is not None else LiveSettings()
        self._session = session
        self._callback = callback
        self._cv = threading.Condition()
        self._generation = 0
        self._request_time = -np.inf
        self._burst = False
        self._pending = False
        self._busy = False
        self._stopped = False
        self._enabled = True
        self._view: tuple[int, tuple[slice, slice], tuple[int, ...], int] | None = None
        self._model: PixelClassifier | None = None
        self._model_version = -1
        self.dropped = 0
        self.callback_errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="brushlab-live", daemon=True)
        self._thread.start()

    # -- requests ----------------------------------------------------------------
    @property
    def generation(self) -> int:
        """Number of the newest request."""
        return self._generation

    @property
    def classifier(self) -> PixelClassifier | None:
        """The latest live model (forests: reduced settings), or None."""
        return self._model

    @property
    def enabled(self) -> bool:
        """The live toggle: when False, requests are remembered but not served."""
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        with self._cv:
            self._enabled = bool(value)
            self._cv.notify_all()

    def set_view(
        self, image: Any, region: Any = None, *, plane: Any = None, level: int = 0
    ) -> int:
        """Set the visible region (image pixels, one plane) and request its overlay.

        Parameters
        ----------
        image : int or str
            The image shown.
        region : tuple of slice, optional
            ``(y, x)`` image pixels in view (whole plane when None).
        plane : optional
            z and/or t index.
        level : int, default 0
            Resolution of the final overlay: every ``2**level``-th pixel. A view
            zoomed out so that one screen pixel covers several image pixels
            needs no more (predict only what is shown); the preview is
            ``settings.preview_level`` levels coarser.

        Returns
        -------
        int
            The request's generation.
        """
        s = self._session
        index = s.image_index(image)
        entry = s._entries[index]
        if not isinstance(level, (int, np.integer)) or not 0 <= int(level) <= 16:
            raise ClassifierError(f"level must be an integer from 0 to 16, got {level!r}")
        view = (index, entry.region(region), entry.plane(plane), int(level))
        with self._cv:
            self._view = view
            return self._request()

    def notify_stroke(self) -> int:
        """Request a retrain and a new overlay (labels changed); returns the generation."""
        with self._cv:
            return self._request()

    def _request(self) -> int:
        self._generation += 1
        now = time.perf_counter()
        self._burst = now - self._request_time < self.settings.debounce_s
        self._request_time = now
        self._pending = True
        self._cv.notify_all()
        return self._generation

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every request so far is served; False on timeout."""
        with self._cv:
            return self._cv.wait_for(
                lambda: self._stopped or not (self._pending or self._busy), timeout
            )

    def stop(self) -> None:
        """Stop the worker (pending requests are dropped)."""
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)

    # -- worker --------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._stopped or (self._pending and self._enabled))
                while self._burst and not self._stopped:
                    delay = self._request_time + self.settings.debounce_s - time.perf_counter()
                    if delay <= 0:
                        break
                    self._cv.wait(delay)
                if self._stopped:
                    return
                self._pending = False
                self._busy = True
                gen, view, t_request = self._generation, self._view, self._request_time
            retry = False
            try:
                retry = self._serve(gen, view, t_request)
            except Exception as exc:  # never let the worker die: report instead
                if not isinstance(exc, BrushlabError):
                    _log.exception("live update failed")
                if isinstance(exc, BrushlabError):
                    message = str(exc)
                else:
                    message = f"{type(exc).__name__}: {exc}"
                if view is not None:
                    failed = LiveUpdate(gen, view[0], view[2], view[1], 0, True, error=message)
                    self._deliver(gen, failed)
            finally:
                with self._cv:
                    self._busy = False
                    self._pending = self._pending or retry
                    self._cv.notify_all()

    def _stale(self, gen: int) -> bool:
        return self._stopped or gen != self._generation

    def _serve(
        self,
        gen: int,
        view: tuple[int, tuple[slice, slice], tuple[int, ...], int] | None,
        t_request: float,
    ) -> bool:
        """Train if labels changed, then predict the view; True asks for another round."""
        s = self._session
        version = s.version
        model = self._model
        base = view[3] if view is not None else 0
        extra = self.settings.preview_level or 0  # 0: no preview, full resolution only
        level = min(16, base + extra) if extra else 0
        timings: dict[str, float] = {}
        stages: list[tuple[PixelClassifier, int]] = []
        if model is None or self._model_version != version:
            t0 = time.perf_counter()
            names = s.class_names
            x, y, meta = s.training_rows(like=view[0] if view is not None else None)
            if s.version != version:
                return True
            preview, full = self._fit(x, y, names, meta, gen)
            if preview is None or full is None:
                return False
            timings["train_s"] = time.perf_counter() - t0
            if level:
                stages.append((preview, level))
            stages.append((full, base))
            self._model, self._model_version = full, version
        else:
            stages = [(model, level), (model, base)] if level else [(model, base)]
        if view is None:
            return False
        image, region, plane, _ = view
        for clf, stage_level in stages:
            t0 = time.perf_counter()
            try:
                result = s._predict(
                    image,
                    region,
                    plane=plane or None,
                    level=stage_level,
                    classifier=clf,
                    cancelled=lambda: self._stale(gen),
                )
            except Cancelled:
                self.dropped += 1
                return False
            timings["predict_s"] = time.perf_counter() - t0
            timings["latency_s"] = time.perf_counter() - t_request
            final = stage_level == base
            update = LiveUpdate(
                gen, image, plane, region, stage_level, final, result, None, dict(timings)
            )
            if not self._deliver(gen, update):
                return False
        return False

    def _fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        names: list[str],
        meta: dict[str, int],
        gen: int,
    ) -> tuple[PixelClassifier | None, PixelClassifier | None]:
        """Fit the preview model and the full live model (forest: the preview's trees plus more)."""
        s = self._session
        cfg = self.settings
        params = s.classifier_params
        if params.get("model", "boosted_trees") == "boosted_trees":
            # The session's boosted settings with boosted_trees iterations, on a pool of at most
            # boosted_labels labels: fit time bounded (benchmarks/bench_interactive.py).
            if cfg.boosted_labels is not None and len(y) > cfg.boosted_labels:
                keep = label_pool(y, cfg.boosted_labels, params.get("random_state"))
                x, y = x[keep], y[keep]
            live = {**params, "n_jobs": s.n_threads, "n_trees": cfg.boosted_trees}
            full = PixelClassifier(s.features, **live)
            fit_classifier(full, x, y, class_names=names, **meta)
            if self._stale(gen):
                self.dropped += 1
                return None, None
            return full, full
        clf = PixelClassifier(
            s.features,
            n_trees=cfg.preview_trees,
            random_state=params.get("random_state"),
            class_weight=params.get("class_weight"),
            max_depth=params.get("max_depth"),
            min_samples_leaf=params.get("min_samples_leaf", 1),
            max_features=params.get("max_features", "sqrt"),
            n_jobs=s.n_threads,
        )
        if cfg.max_samples is not None and len(y) > cfg.n_trees * cfg.max_samples:
            keep = label_pool(y, cfg.n_trees * cfg.max_samples, params.get("random_state"))
            x, y = x[keep], y[keep]
        forest = clf.new_forest()
        samples = None if cfg.max_samples is None or cfg.max_samples >= len(y) else cfg.max_samples
        forest.set_params(warm_start=True, max_samples=samples)
        fit_classifier(clf, x, y, class_names=names, model=forest, **meta)
        if self._stale(gen):
            self.dropped += 1
            return None, None
        if cfg.n_trees == cfg.preview_trees:
            return clf, clf
        grown = copy.copy(forest)
        grown.estimators_ = list(forest.estimators_)
        grown.set_params(n_estimators=cfg.n_trees)
        full = fit_classifier(
            copy.copy(clf), x, y, class_names=names, model=grown, **meta
        )
        full.n_trees = cfg.n_trees
        return clf, full

    def _deliver(self, gen: int, update: LiveUpdate) -> bool:
        with self._cv:
            if self._stale(gen):
                self.dropped += 1
                return False
        try:
            self._callback(update)
        except Exception as exc:
            _log.exception("live update callback failed")
            self.callback_errors.append(exc)
        return True


def label_pool(y: np.ndarray, size: int, seed: int | None) -> np.ndarray:
    """Pick a uniform random subset of ``size`` labels, keeping one of every class.

    Returns
    -------
    numpy.ndarray
        Sorted indices into ``y``.
    """
    rng = np.random.default_rng(seed)
    keep = rng.choice(len(y), size=size, replace=False)
    classes, first = np.unique(y, return_index=True)
    missing = first[~np.isin(classes, y[keep])]
    return np.sort(np.concatenate([keep, missing]))
