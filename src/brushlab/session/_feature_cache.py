"""Features per image tile, computed once in background threads and kept in an LRU cache.

Tiles follow :func:`brushlab._core.tiling.iter_tiles` and every block is computed with
its global ``origin``, as :meth:`PixelClassifier.predict` does, so cached
features are bit-identical to the ones ``predict`` computes whatever the tile
grid. Each tile is stored pixels-first, ``(*tile, n_features)`` C-contiguous:
the ``(pixels, features)`` rows a forest reads, with no copy per prediction.

Requests are served by a small priority pool: tiles a prediction or a fit waits
for jump ahead of background prefetching.
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from brushlab._core.backend import to_numpy
from brushlab._core.tiling import read_with_halo
from brushlab.errors import FeatureError
from brushlab.features import FeatureSet

__all__ = ["FeatureCache", "DEFAULT_TILE"]

DEFAULT_TILE = {2: (256, 256), 3: (32, 128, 128)}
URGENT, BACKGROUND = 0, 1

TileIndex = tuple[int, ...]


@dataclass
class _Source:
    frames: list[Any]  # per t: (C, *spatial), numpy or cupy
    spacing: list[float]
    shape: tuple[int, ...]  # spatial
    tile: tuple[int, ...]
    halo: tuple[int, ...]
    n_features: int

    @property
    def grid(self) -> tuple[int, ...]:
        return tuple(math.ceil(n / t) for n, t in zip(self.shape, self.tile))

    def box(self, index: TileIndex) -> tuple[slice, ...]:
        return tuple(
            slice(i * t, min((i + 1) * t, n)) for i, t, n in zip(index, self.tile, self.shape)
        )

    @property
    def tile_bytes(self) -> int:
        return int(np.prod(self.tile)) * self.n_features * 4


@dataclass
class _Job:
    key: tuple[int, int, TileIndex]
    future: Future[np.ndarray]
    priority: int
    started: bool = False


class _SingleThreadedBlas:
    """Hold BLAS at one thread while any feature job runs (the pool supplies the parallelism).

    threadpoolctl's limit is process-wide, so concurrent jobs share one limit,
    set by the first to enter and restored by the last to leave.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._limit: Any = None

    def __enter__(self) -> None:
        with self._lock:
            if self._count == 0:
                from threadpoolctl import threadpool_limits

                self._limit = threadpool_limits(limits=1)
            self._count += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._count -= 1
            if self._count == 0 and self._limit is not None:
                self._limit.restore_original_limits()
                self._limit = None


_BLAS = _SingleThreadedBlas()


class FeatureCache:
    """Per-tile features of several images for one :class:`~brushlab.FeatureSet`.

    Parameters
    ----------
    features : FeatureSet
        The filters; one cache serves one feature set.
    max_bytes : int, default 1 GiB
        Memory cap; least recently used tiles are dropped beyond it (and
        recomputed if asked for again).
    n_threads : int, optional
        Worker threads (all cores when None).
    tile_shape : dict, optional
        Tile per spatial ndim, e.g. ``{2: (256, 256), 3: (32, 128, 128)}``;
        results do not depend on it.
    """

    def __init__(
        self,
        features: FeatureSet,
        *,
        max_bytes: int = 2**30,
        n_threads: int | None = None,
        tile_shape: dict[int, Sequence[int]] | None = None,
    ) -> None:
        if int(max_bytes) <= 0:
            raise FeatureError(f"the feature cache needs a positive size, got {max_bytes} bytes")
        self.features = features
        self.max_bytes = int(max_bytes)
        self.n_threads = int(n_threads) if n_threads else (os.cpu_count() or 1)
        self.tile_shape = {**DEFAULT_TILE, **{k: tuple(v) for k, v in (tile_shape or {}).items()}}
        self._sources: dict[int, _Source] = {}
        self._tiles: OrderedDict[tuple[int, int, TileIndex], np.ndarray] = OrderedDict()
        self._jobs: dict[tuple[int, int, TileIndex], _Job] = {}
        self._heap: list[tuple[int, int, _Job]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._workers: list[threading.Thread] = []
        self._closed = False
        self._bytes = 0
        self._stats = {"computed": 0, "hits": 0, "misses": 0, "evicted": 0}

    # -- sources ---------------------------------------------------------------
    def add_source(self, key: int, frames: Sequence[Any], spacing: Sequence[float]) -> None:
        """Register an image: its per-time ``(C, *spatial)`` frames and pixel spacing."""
        ndim = frames[0].ndim - 1
        if ndim not in self.tile_shape:
            raise FeatureError(f"no tile shape for {ndim} spatial dims")
        tile = tuple(int(t) for t in self.tile_shape[ndim])
        if len(tile) != ndim or min(tile) < 1:
            raise FeatureError(f"tile shape {tile} does not fit {ndim} spatial dims")
        sp = [float(s) for s in spacing]
        with self._cv:
            self._sources[key] = _Source(
                frames=list(frames),
                spacing=sp,
                shape=tuple(int(n) for n in frames[0].shape[1:]),
                tile=tile,
                halo=tuple(self.features.halo(sp)),
                n_features=self.features.n_features(ndim=ndim, n_channels=int(frames[0].shape[0])),
            )

    def n_features(self, key: int) -> int:
        """Features per pixel of source ``key``."""
        return self._sources[key].n_features

    def nbytes(self, key: int) -> int:
        """Bytes all tiles of source ``key`` take (every frame)."""
        src = self._sources[key]
        return int(np.prod(src.shape)) * src.n_features * 4 * len(src.frames)

    def tile_box(self, key: int, index: TileIndex) -> tuple[slice, ...]:
        """Spatial slices of tile ``index`` of source ``key``."""
        return self._sources[key].box(index)

    def tiles_in(self, key: int, region: Sequence[slice]) -> list[TileIndex]:
        """Grid indices of the tiles overlapping ``region`` (spatial slices), C order."""
        src = self._sources[key]
        ranges = [
            range(r.start // t, (r.stop - 1) // t + 1) for r, t in zip(region, src.tile)
        ]
        return [tuple(ix) for ix in itertools.product(*ranges)]

    def tile_of(self, key: int, coords: np.ndarray) -> np.ndarray:
        """Grid index per pixel: ``coords`` ``(ndim, n)`` -> ``(ndim, n)``."""
        tile = np.asarray(self._sources[key].tile)[:, None]
        return coords // tile

    # -- requests --------------------------------------------------------------
    def request(
        self, key: int, frame: int, index: TileIndex, *, urgent: bool = True
    ) -> Future[np.ndarray]:
        """Return a future of tile ``index``'s features, ``(*tile, n_features)`` float32.

        Cached tiles resolve at once; a tile already queued is not queued twice
        (an urgent request moves it ahead of background work).
        """
        tkey = (key, int(frame), tuple(int(i) for i in index))
        priority = URGENT if urgent else BACKGROUND
        with self._cv:
            if self._closed:
                raise FeatureError("this feature cache is closed (its session was closed)")
            if key not in self._sources:
                raise FeatureError(f"no image {key} in the feature cache")
            arr = self._tiles.get(tkey)
            if arr is not None:
                self._tiles.move_to_end(tkey)
                self._stats["hits"] += 1
                done: Future[np.ndarray] = Future()
                done.set_result(arr)
                return done
            job = self._jobs.get(tkey)
            if job is None:
                self._stats["misses"] += 1
                job = _Job(tkey, Future(), priority)
                self._jobs[tkey] = job
                self._push(job, priority)
            elif priority < job.priority and not job.started:
                job.priority = priority
                self._push(job, priority)  # the stale heap entry is skipped when popped
            return job.future

    def get(self, key: int, frame: int, index: TileIndex) -> np.ndarray:
        """Features of one tile, computing them now if needed."""
        return self.request(key, frame, index).result()

    def prefetch(
        self,
        key: int,
        frames: Iterable[int] | None = None,
        region: Sequence[slice] | None = None,
    ) -> list[Future[np.ndarray]]:
        """Queue tiles for background computation and return their futures.

        Parameters
        ----------
        key : int
            The source.
        frames : iterable of int, optional
            Time indices (all when None).
        region : sequence of slice, optional
            Spatial region (the whole image when None).
        """
        src = self._sources[key]
        region = tuple(region) if region is not None else tuple(slice(0, n) for n in src.shape)
        tiles = self.tiles_in(key, region)
        chosen = range(len(src.frames)) if frames is None else frames
        return [self.request(key, f, t, urgent=False) for f in chosen for t in tiles]

    @property
    def stats(self) -> dict[str, int]:
        """Tiles ``computed`` and ``evicted``, request ``hits``/``misses``, ``bytes`` held."""
        with self._cv:
            return {**self._stats, "bytes": self._bytes, "tiles": len(self._tiles)}

    def clear(self) -> None:
        """Drop every cached tile (queued work still runs)."""
        with self._cv:
            self._tiles.clear()
            self._bytes = 0

    def close(self) -> None:
        """Stop the workers; pending requests fail with FeatureError."""
        with self._cv:
            self._closed = True
            pending = list(self._jobs.values())
            self._jobs.clear()
            self._heap.clear()
            self._tiles.clear()
            self._bytes = 0
            self._cv.notify_all()
        for job in pending:
            if not job.future.done():
                job.future.set_exception(FeatureError("the session was closed"))

    # -- workers ---------------------------------------------------------------
    def _push(self, job: _Job, priority: int) -> None:
        heapq.heappush(self._heap, (priority, next(self._seq), job))
        if len(self._workers) < self.n_threads:
            worker = threading.Thread(
                target=self._work, name=f"brushlab-features-{len(self._workers)}", daemon=True
            )
            self._workers.append(worker)
            worker.start()
        self._cv.notify()

    def _next_job(self) -> _Job | None:
        with self._cv:
            while True:
                if self._closed:
                    return None
                while self._heap:
                    _, _, job = heapq.heappop(self._heap)
                    if not job.started and self._jobs.get(job.key) is job:
                        job.started = True
                        return job
                self._cv.wait()

    def _work(self) -> None:
        while True:
            job = self._next_job()
            if job is None:
                return
            try:
                arr = self._compute(*job.key)
            except BaseException as exc:  # hand any failure to whoever waits for the tile
                with self._cv:
                    self._jobs.pop(job.key, None)
                if not job.future.done():
                    job.future.set_exception(exc)
                continue
            with self._cv:
                self._jobs.pop(job.key, None)
                if not self._closed and job.key[0] in self._sources:
                    self._store(job.key, arr)
                self._stats["computed"] += 1
            if not job.future.done():
                job.future.set_result(arr)

    def _compute(self, key: int, frame: int, index: TileIndex) -> np.ndarray:
        src = self._sources[key]
        box = src.box(index)
        block = read_with_halo(src.frames[frame], box, src.halo)
        origin = [b.start - h for b, h in zip(box, src.halo)]
        with _BLAS:
            feats = self.features.compute_block(block, src.spacing, src.halo, origin)
        out = np.ascontiguousarray(np.moveaxis(to_numpy(feats), 0, -1))
        out.setflags(write=False)
        return out

    def _store(self, tkey: tuple[int, int, TileIndex], arr: np.ndarray) -> None:
        self._tiles[tkey] = arr
        self._bytes += arr.nbytes
        while self._bytes > self.max_bytes and len(self._tiles) > 1:
            _, old = self._tiles.popitem(last=False)
            self._bytes -= old.nbytes
            self._stats["evicted"] += 1
