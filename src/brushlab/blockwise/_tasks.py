"""What a Dask task does: read a chunk with its halo, predict it, write it; build the pyramid.

These functions run on the workers (threads of this process, or processes of a cluster)
and take only small, picklable arguments besides the classifier.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from brushlab._core.tiling import _mirror, iter_tiles
from brushlab.blockwise._plan import Job
from brushlab.classifier import PixelClassifier
from brushlab.classifier.results import derive_outputs
from brushlab.errors import ImageError
from brushlab.io import StoreReader, ome_zarr

__all__ = ["predict_chunk", "predict_task", "pyramid_task", "halo_read"]

_BLAS_LIMITED = [False]


def _limit_blas(driver_pid: int) -> None:
    """One BLAS thread per task in worker processes (the driver limits its own threads)."""
    if _BLAS_LIMITED[0] or os.getpid() == driver_pid:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    _BLAS_LIMITED[0] = True


def halo_read(region: Sequence[slice], halo: Sequence[int],
               shape: Sequence[int]) -> tuple[tuple[slice, ...], list[np.ndarray]]:
    """Return the source region to read for ``region`` plus ``halo``, and indices into it."""
    indices = [_mirror(np.arange(r.start - h, r.stop + h), n)
               for r, h, n in zip(region, halo, shape)]
    read = tuple(slice(int(i.min()), int(i.max()) + 1) for i in indices)
    return read, [i - r.start for i, r in zip(indices, read)]


def predict_chunk(clf: PixelClassifier, pixels: Any, job: Job,
                   cid: Sequence[int]) -> dict[str, Any]:
    """Return the derived outputs of one chunk: read with its halo, predicted tile by tile."""
    layout = job.layout
    region = tuple(slice(r.start + o, r.stop + o)
                   for r, o in zip(layout.region(cid), layout.offset))  # source pixels
    read, local = halo_read(region, job.halo, job.source_shape)
    if isinstance(pixels, StoreReader):
        data = pixels.read(int(cid[0]), dict(zip(layout.spatial_dims, read)))
    else:
        data = np.asarray(pixels)
    for axis, index in enumerate(local, start=1):
        if not (index.size == data.shape[axis] and np.array_equal(index, np.arange(index.size))):
            data = np.take(data, index, axis=axis)
    if job.check_finite and not np.isfinite(data).all():
        where = ", ".join(f"{d}={r.start}:{r.stop}" for d, r in zip(layout.spatial_dims, region))
        raise ImageError(f"the source holds NaN or infinite pixels near {where}"
                         f"{f' (t={cid[0]})' if layout.has_t else ''}; replace them (e.g. with "
                         "numpy.nan_to_num) first")
    shape = [r.stop - r.start for r in region]
    proba = np.empty((len(layout.class_names), *shape), dtype=np.float32)
    for tile in iter_tiles(shape, job.tile):
        block = data[(slice(None), *(slice(t.start, t.stop + 2 * h)
                                     for t, h in zip(tile, job.halo)))]
        origin = [r.start + t.start - h for r, t, h in zip(region, tile, job.halo)]
        proba[(slice(None), *tile)] = clf.predict_tile(block, halo=job.halo, origin=origin,
                                                       spacing=layout.spacing)
    return derive_outputs(proba, job.outputs)


def predict_task(clf: PixelClassifier, pixels: Any, job: Job, cid: tuple[int, ...]) -> None:
    """Predict chunk ``cid`` and write it (and its marker) into the output."""
    _limit_blas(job.driver_pid)
    outputs = predict_chunk(clf, pixels, job, cid)
    ome_zarr.write_chunk(Path(job.output), job.layout, cid, outputs)
    del outputs
    release_memory()


def pyramid_task(job: Job, level: int, cid: tuple[int, ...]) -> None:
    """Compute chunk ``cid`` of pyramid ``level`` from the level below."""
    _limit_blas(job.driver_pid)
    ome_zarr.downsample_chunk(Path(job.output), job.layout, level, cid)
    release_memory()


def release_memory() -> None:
    """Return freed heap memory to the system.

    glibc keeps the memory a task frees for later use; over hundreds of tasks the
    heap fragments and RSS creeps up with the size of the volume. Trimming after
    each task (as dask.distributed's workers do) keeps it flat and costs nothing
    measurable next to a chunk's prediction.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return None
