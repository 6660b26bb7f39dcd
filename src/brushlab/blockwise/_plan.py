"""Planning a blockwise prediction: what to compute, in which chunks, within which memory.

Everything here runs before any task does, so every bad argument is refused before the
output exists: the classifier against the source, the region of interest, the chunk
shape against the memory budget of a worker, and the identity of the run (what must
match for an interrupted run to be resumed).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brushlab.blockwise._fingerprint import source_fingerprint
from brushlab.classifier import (
    DEFAULT_TILE,
    OUTPUTS,
    PixelClassifier,
    classifier_bytes,
    classifier_fingerprint,
    per_plane,
    plane_halo,
    plane_tile,
)
from brushlab.errors import BrushlabError, ClassifierError, ImageError
from brushlab.io import Source, spacing_of
from brushlab.io.ome_zarr import OutputLayout

__all__ = ["Job", "Engine", "plan", "checked_classifier", "run_spec", "size", "worker_bytes",
           "classifier_bytes", "DEFAULT_CHUNKS", "FLOAT_OUTPUTS"]

DEFAULT_CHUNKS = {2: (1024, 1024), 3: (64, 256, 256)}
_MIN_CHUNK = 16
# Float32 arrays alive per input pixel of a tile while its features are computed
# (Gaussian derivatives of the block and their products), measured with tracemalloc.
_WORK_PER_INPUT = 13
FLOAT_OUTPUTS = ("uncertainty", "confidence")


@dataclass(frozen=True)
class Job:
    """Everything a task needs besides the classifier and the pixels (small, picklable)."""

    layout: OutputLayout
    output: str
    source_shape: tuple[int, ...]
    halo: tuple[int, ...]
    tile: tuple[int, ...]
    outputs: tuple[str, ...]
    check_finite: bool
    driver_pid: int


def size(n: float) -> str:
    """Format a byte count for people (decimal units, as dask's memory limits)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def checked_classifier(classifier: Any) -> PixelClassifier:
    """Return a trained classifier, loading a model file if given its path.

    Any classifier with the tile interface works: ``predict_tile(block, halo=, origin=,
    spacing=)`` plus ``halo(spacing)``, ``fingerprint()``, ``work_channels(ndim,
    n_channels)`` and ``model_bytes`` (as :class:`brushlab.network.NetworkClassifier`).
    """
    if isinstance(classifier, (str, os.PathLike)):
        from brushlab.network import load_model_file

        classifier = load_model_file(classifier)
    tiled = all(hasattr(classifier, a) for a in ("predict_tile", "halo", "fingerprint"))
    if not isinstance(classifier, PixelClassifier) and not tiled:
        raise ClassifierError(f"classifier must be a brushlab.PixelClassifier, a "
                              f"NetworkClassifier or a model file, not {type(classifier).__name__}")
    if not classifier.is_trained:
        raise ClassifierError(f"this {type(classifier).__name__} is not trained yet: call fit() "
                              "first")
    return classifier  # type: ignore[no-any-return]


def _halo(clf: Any, spacing: Sequence[float]) -> tuple[int, ...]:
    """Margin a tile needs: a network's own ``halo(spacing)``, else its features' halo.

    The features' halo is per plane for a 2D model on a stack (:func:`plane_halo`).
    """
    own = getattr(clf, "halo", None)
    return tuple(int(h) for h in own(spacing)) if callable(own) else plane_halo(clf, spacing)


class Engine:
    """Where tasks run: Dask's threaded scheduler, or a distributed client's workers."""

    def __init__(self, client: Any, n_workers: int | None) -> None:
        self.client = client
        if client is None:
            threads = int(n_workers) if n_workers else (os.cpu_count() or 1)
            if threads < 1:
                raise BrushlabError(f"n_workers must be at least 1, got {n_workers}")
            self.threads_per_worker, self.parallel, self.worker_memory = threads, threads, 0
            return
        workers = dict(client.scheduler_info(n_workers=-1).get("workers", {}))
        if not workers:
            raise BrushlabError("the Dask client has no workers; start some (e.g. "
                                "cluster.scale(4)) and wait for them, then call again")
        counts = [int(w.get("nthreads", 1)) for w in workers.values()]
        limits = [int(w.get("memory_limit") or 0) for w in workers.values()]
        self.threads_per_worker, self.parallel = max(counts), sum(counts)
        self.worker_memory = min(limits) if all(limits) else 0

    def budget(self, memory_limit: int | str | None) -> int:
        """Bytes one worker may use."""
        if memory_limit is not None:
            return _parse_bytes(memory_limit)
        if self.worker_memory:
            return self.worker_memory
        total = _physical_memory()
        return total // 2 if self.client is None else total // max(1, self.parallel)


def _parse_bytes(value: int | str) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    from dask.utils import parse_bytes

    try:
        return int(parse_bytes(str(value)))
    except (ValueError, TypeError) as exc:
        raise BrushlabError(f"memory_limit {value!r} is not a size; use bytes or a string "
                            "such as '4GB'") from exc


def _physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 8 * 2**30


def plan(clf: PixelClassifier, src: Source, target: Path, *, chunks: Any, roi: Any,
          roi_unit: str, outputs: Sequence[str], tile_shape: Sequence[int] | None,
          engine: Engine, memory_limit: int | str | None) -> Job:
    """Check every argument against the classifier, the source and the memory budget.

    Default chunks shrink until a worker's tasks fit the budget; chunks the caller
    gave are refused instead, with the largest that would fit.
    """
    names = tuple(dict.fromkeys(outputs))
    unknown = sorted(set(names) - set(OUTPUTS))
    if unknown or not names:
        raise ClassifierError(f"unknown outputs {unknown or names}; choose from {OUTPUTS}")
    dims, ndim = src.spatial_dims, len(src.spatial_dims)
    if src.n_channels != clf.n_channels:
        raise ClassifierError(
            f"the classifier was trained on images with {clf.n_channels} channel(s) but "
            f"{src.image.attrs.get('source', 'the source')} has {src.n_channels} (dims "
            f"{src.image.dims}): use an image with the same channels, or pass dims= if the "
            "axes were named wrongly, or retrain")
    if ndim != clf.spatial_ndim and not per_plane(clf, ndim):  # 2D models do stacks per plane
        raise ClassifierError(
            f"the classifier was trained on {clf.spatial_ndim}D images but "
            f"{src.image.attrs.get('source', 'the source')} is {ndim}D (dims {src.image.dims}): "
            f"pass dims=, or retrain on {ndim}D data")
    if src.image.dtype.kind not in "biuf":
        raise ImageError(f"the source has dtype {src.image.dtype}; brushlab needs numeric pixels")
    box = _roi(roi, roi_unit, src)
    shape = tuple(s.stop - s.start for s in box)
    spacing_map = spacing_of(src.image)
    spacing = tuple(float(spacing_map[d]) for d in dims)
    halo = _halo(clf, spacing)
    tile = plane_tile(clf, tile_shape or clf.tile_shape or DEFAULT_TILE[ndim], ndim)
    if len(tile) != ndim or min(tile) < 1:
        raise BrushlabError(f"tile_shape {tile} must have {ndim} positive entries")
    given = _chunk_shape(chunks, dims)
    chunk = tuple(min(c, n) for c, n in zip(given or DEFAULT_CHUNKS[ndim], shape))
    limit = engine.budget(memory_limit)
    need = worker_bytes(clf, src, chunk, halo, tile, names, engine)
    if need > limit:
        smaller = _fitting_chunks(clf, src, chunk, halo, tile, names, engine, limit)
        if given is not None or smaller is None:
            hint = (f"use chunks={smaller} or smaller" if smaller else
                    "use fewer threads per worker (n_workers=) or more memory")
            raise BrushlabError(
                f"chunks {chunk} need about {size(need)} per worker "
                f"({engine.threads_per_worker} task(s) at once), over the memory budget of "
                f"{size(limit)}; {hint}, or raise memory_limit=")
        chunk = smaller
    classes = tuple(clf.class_names or ())
    channels = tuple(classes if "probabilities" in names else ()) + tuple(
        n for n in FLOAT_OUTPUTS if n in names)
    layout = OutputLayout(
        spatial_dims=dims, shape=shape, chunks=chunk, n_frames=src.n_frames,
        has_t="t" in src.image.dims, channels=channels, class_names=classes,
        segmentation="segmentation" in names, spacing=spacing,
        unit=str(src.image.attrs.get("unit", "pixel")), offset=tuple(s.start for s in box))
    return Job(layout, str(target), src.spatial_shape, halo, tile, names,
                src.image.dtype.kind == "f", os.getpid())


def _chunk_shape(chunks: Any, dims: Sequence[str]) -> tuple[int, ...] | None:
    if chunks is None:
        return None
    if isinstance(chunks, Mapping):
        unknown = sorted(set(map(str, chunks)) - set(dims))
        if unknown:
            raise BrushlabError(f"chunks name {unknown}, not spatial dims of this image {dims}")
        default = dict(zip(dims, DEFAULT_CHUNKS[len(dims)]))
        values = [chunks.get(d, default[d]) for d in dims]
    elif isinstance(chunks, (int, np.integer)):
        values = [chunks] * len(dims)
    else:
        values = list(chunks)
        if len(values) != len(dims):
            raise BrushlabError(f"chunks {tuple(values)} must have one size per spatial axis "
                                f"{dims}, or be one int")
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
               for v in values):
        raise BrushlabError(f"chunks must be positive integers, got {chunks!r}")
    return tuple(int(v) for v in values)


def task_bytes(clf: PixelClassifier, src: Source, chunk: Sequence[int], halo: Sequence[int],
                tile: Sequence[int], outputs: Sequence[str]) -> int:
    """Peak memory of one task, from the block size and the feature count."""
    ndim, n_ch = len(chunk), src.n_channels
    k = len(clf.class_names or ())
    vox = math.prod(chunk)
    block = math.prod(c + 2 * h for c, h in zip(chunk, halo))
    sub = [min(t, c) for t, c in zip(tile, chunk)]
    sub_vox = math.prod(sub)
    sub_block = math.prod(t + 2 * h for t, h in zip(sub, halo))
    n_feat = (clf.work_channels(ndim, n_ch) if hasattr(clf, "work_channels")
              else clf.features.n_features(ndim=ndim, n_channels=n_ch))
    source = 2 * block * n_ch * src.image.dtype.itemsize  # read, then mirrored
    # probabilities, their partitioned copy, argmax (int64, twice) and the float outputs
    derived = vox * (8 * k + 17 + 8 * sum(n in outputs for n in FLOAT_OUTPUTS))
    features = sub_block * n_ch * 4 * _WORK_PER_INPUT + sub_vox * (8 * n_feat + 16 * k)
    return int(source + derived + features)


def worker_bytes(clf: PixelClassifier, src: Source, chunk: Sequence[int], halo: Sequence[int],
                  tile: Sequence[int], outputs: Sequence[str], engine: Engine) -> int:
    per_task = task_bytes(clf, src, chunk, halo, tile, outputs)
    return per_task * engine.threads_per_worker + classifier_bytes(clf)


def _fitting_chunks(clf: PixelClassifier, src: Source, chunk: Sequence[int],
                    halo: Sequence[int], tile: Sequence[int], outputs: Sequence[str],
                    engine: Engine, limit: int) -> tuple[int, ...] | None:
    """Halve the longest axis of ``chunk`` until a worker's tasks fit ``limit``."""
    shape = list(chunk)
    while worker_bytes(clf, src, shape, halo, tile, outputs, engine) > limit:
        axis = int(np.argmax(shape))
        if shape[axis] <= _MIN_CHUNK:
            return None
        shape[axis] = max(_MIN_CHUNK, shape[axis] // 2)
    return tuple(shape)


def _roi(roi: Any, unit: str, src: Source) -> tuple[slice, ...]:
    dims, shape = src.spatial_dims, src.spatial_shape
    if roi is None:
        return tuple(slice(0, n) for n in shape)
    if isinstance(roi, Mapping):
        items = {str(k): v for k, v in roi.items()}
        unknown = sorted(set(items) - set(dims))
        if unknown:
            raise ImageError(f"roi names {unknown}, which are not spatial dims of the image "
                             f"(spatial dims {dims}); give (start, stop) for {', '.join(dims)}")
    else:
        seq = list(roi)
        if len(seq) != len(dims):
            raise ImageError(f"roi has {len(seq)} entries but the image has {len(dims)} spatial "
                             f"dims {dims}; give one (start, stop) per axis, or a dict")
        items = dict(zip(dims, seq))
    scale = _roi_scale(unit, src)
    out = []
    for dim, n, per in zip(dims, shape, scale):
        value = items.get(dim)
        if value is None:
            out.append(slice(0, n))
            continue
        if isinstance(value, slice):
            if value.step not in (None, 1):
                raise ImageError(f"roi {dim} is {value}; a bounding box has no step")
            start, stop = value.start, value.stop
        else:
            try:
                start, stop = value
            except (TypeError, ValueError):
                raise ImageError(f"roi {dim} is {value!r}; give (start, stop)") from None
        lo = 0 if start is None else _roi_pixel(dim, start, per, unit, math.floor)
        hi = n if stop is None else _roi_pixel(dim, stop, per, unit, math.ceil)
        if not 0 <= lo < hi <= n:
            extent = f"{n} pixels" + ("" if unit == "pixel" else f" = {n / per:g} {unit}")
            raise ImageError(f"roi {dim}={start}:{stop} ({lo}:{hi} in pixels) is empty or lies "
                             f"outside the image, whose {dim} has {extent}; give a box with "
                             f"0 <= start < stop <= {n} pixels")
        out.append(slice(lo, hi))
    return tuple(out)


def _roi_pixel(dim: str, value: Any, per: float, unit: str, rounding: Any) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ImageError(f"roi {dim} bound {value!r} is not a number") from None
    if unit == "pixel":
        if not number.is_integer():
            raise ImageError(f"roi {dim} bound {value!r} is not a whole pixel; give pixels as "
                             "integers, or physical sizes with roi_unit='physical'")
        return int(number)
    return int(rounding(number * per + (1e-9 if rounding is math.floor else -1e-9)))


def _roi_scale(unit: str, src: Source) -> list[float]:
    """Pixels per roi unit along each spatial axis."""
    from brushlab.io import METERS as _METERS
    from brushlab.io import unit_name as _unit_name

    spacing = spacing_of(src.image)
    if unit == "pixel":
        return [1.0] * len(src.spatial_dims)
    image_unit = str(src.image.attrs.get("unit", "pixel"))
    if image_unit == "pixel":
        raise ImageError(f"roi_unit={unit!r} but the image has no physical pixel size; give the "
                         "roi in pixels (roi_unit='pixel'), or set the spacing of the source")
    name = image_unit if unit == "physical" else _unit_name(unit)
    if name == image_unit:
        factor = 1.0
    elif name in _METERS and image_unit in _METERS:
        factor = _METERS[name] / _METERS[image_unit]
    else:
        raise ImageError(f"roi_unit {unit!r} cannot be converted to the image's unit "
                         f"{image_unit!r}; use 'pixel', 'physical' or a length unit")
    return [factor / spacing[d] for d in src.spatial_dims]


def run_spec(clf: PixelClassifier, src: Source, job: Job) -> dict[str, Any]:
    """Describe what identifies a run: resuming is allowed only when all of it matches."""
    from brushlab._version import __version__

    layout = job.layout
    spec = {
        "source": src.identity,
        "source_sizes": {str(d): int(n) for d, n in src.image.sizes.items()},
        "source_dtype": str(src.image.dtype),
        "source_fingerprint": source_fingerprint(src),
        "roi": {d: [o, o + n] for d, o, n in zip(layout.spatial_dims, layout.offset,
                                                 layout.shape)},
        "chunks": list(layout.chunks),
        "outputs": list(job.outputs),
        "classifier": classifier_fingerprint(clf),
        "classes": list(layout.class_names),
        "brushlab_version": __version__,
    }
    return dict(json.loads(json.dumps(spec)))
