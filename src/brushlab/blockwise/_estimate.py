"""The cost of a blockwise prediction before it runs: one sample chunk, timed and measured."""

from __future__ import annotations

import math
import time
import tracemalloc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from brushlab.blockwise._plan import FLOAT_OUTPUTS, Engine, Job, classifier_bytes, size
from brushlab.blockwise._tasks import halo_read, predict_chunk
from brushlab.classifier import PixelClassifier
from brushlab.io import Source, ome_zarr
from brushlab.io.ome_zarr import OutputLayout, chunk_key

__all__ = ["BlockwiseEstimate", "estimate_cost"]


@dataclass(frozen=True)
class BlockwiseEstimate:
    """Expected cost of a blockwise prediction, from one sample chunk timed before anything runs.

    Attributes
    ----------
    chunks_total, chunks_todo : int
        Chunks of the output, and those still to compute (fewer when resuming).
    chunk_shape : tuple of int
        Spatial shape of one chunk.
    voxels_todo : int
        Voxels still to predict.
    sample_seconds : float
        Time of the sample chunk on one thread.
    parallel_tasks : int
        Tasks that run at once (threads, or all threads of all workers).
    wall_seconds : float
        Expected wall time of the prediction (building the pyramid adds a little).
    output_bytes, output_bytes_compressed : int
        Size of the output with its pyramid, uncompressed and as estimated from the
        sample compressed with the output's codec.
    memory_per_task, memory_per_worker, memory_limit : int
        Peak memory of the sample (measured), that times the threads of a worker plus
        the classifier, and the budget it was checked against.
    threads_per_worker : int
        Tasks one worker runs at once.
    """

    chunks_total: int
    chunks_todo: int
    chunk_shape: tuple[int, ...]
    voxels_todo: int
    sample_seconds: float
    parallel_tasks: int
    wall_seconds: float
    output_bytes: int
    output_bytes_compressed: int
    memory_per_task: int
    memory_per_worker: int
    memory_limit: int
    threads_per_worker: int

    def __str__(self) -> str:
        rate = np.prod(self.chunk_shape) / max(self.sample_seconds, 1e-9) / 1e6
        resumed = self.chunks_total - self.chunks_todo
        lines = [
            f"chunks:         {self.chunks_todo} of {self.chunks_total} to compute"
            + (f" ({resumed} done by an earlier run)" if resumed else "")
            + f", {' x '.join(map(str, self.chunk_shape))} each",
            f"sample chunk:   {self.sample_seconds:.2f} s on one thread ({rate:.2f} MVox/s)",
            f"expected time:  {_duration(self.wall_seconds)} with {self.parallel_tasks} "
            f"parallel task(s) ({self.voxels_todo / 1e6:,.1f} MVox)",
            f"output size:    {size(self.output_bytes_compressed)} compressed "
            f"({size(self.output_bytes)} uncompressed, with the pyramid)",
            f"memory:         {size(self.memory_per_task)} per task, "
            f"{size(self.memory_per_worker)} per worker ({self.threads_per_worker} thread(s)); "
            f"budget {size(self.memory_limit)}",
        ]
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def estimate_cost(clf: PixelClassifier, src: Source, job: Job, engine: Engine,
                  memory_limit: int | str | None, done: set[str]) -> BlockwiseEstimate:
    """Time one full-size chunk still to do on one thread, and measure its peak memory."""
    from threadpoolctl import threadpool_limits

    layout = job.layout
    every = list(layout.chunk_ids())
    todo = [] if "*" in done else [cid for cid in every if chunk_key(cid) not in done]
    full = [cid for cid in (todo or every)
            if all(r.stop - r.start == c for r, c in zip(layout.region(cid), layout.chunks))]
    sample = (full or todo or every)[len(full or todo or every) // 2]
    pixels: Any = src.reader
    if pixels is None:
        region = [slice(r.start + o, r.stop + o)
                  for r, o in zip(layout.region(sample), layout.offset)]
        read, _ = halo_read(region, job.halo, job.source_shape)
        pixels = np.asarray(src.frames(layout.chunks)[(sample[0], slice(None), *read)]
                            .compute(scheduler="sync"))
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        with threadpool_limits(limits=1):
            t0 = time.perf_counter()
            outputs = predict_chunk(clf, pixels, job, sample)
            seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if not tracing:
            tracemalloc.stop()
    sample_vox = math.prod(r.stop - r.start for r in layout.region(sample))
    voxels = sum(math.prod(r.stop - r.start for r in layout.region(c)) for c in todo)
    wall = (voxels / sample_vox * seconds / engine.parallel) if todo else 0.0
    if todo:
        wall = max(wall, seconds)
    raw, packed = _output_sizes(layout, outputs)
    per_worker = peak * engine.threads_per_worker + classifier_bytes(clf)
    return BlockwiseEstimate(
        chunks_total=layout.n_chunks, chunks_todo=len(todo), chunk_shape=layout.chunks,
        voxels_todo=int(voxels), sample_seconds=seconds, parallel_tasks=engine.parallel,
        wall_seconds=wall, output_bytes=raw, output_bytes_compressed=packed,
        memory_per_task=int(peak), memory_per_worker=int(per_worker),
        memory_limit=engine.budget(memory_limit), threads_per_worker=engine.threads_per_worker)


def _output_sizes(layout: OutputLayout, outputs: Mapping[str, Any]) -> tuple[int, int]:
    """Uncompressed bytes of the output with its pyramid, and compressed as the sample is."""
    from numcodecs import Zstd

    codec = Zstd(level=0)
    planes: list[np.ndarray] = list(outputs.get("probabilities", []))
    planes += [outputs[n] for n in FLOAT_OUTPUTS if n in outputs]
    float_ratio = (sum(len(codec.encode(np.ascontiguousarray(p))) for p in planes)
                   / max(1, sum(p.nbytes for p in planes))) if planes else 0.0
    seg = outputs.get("segmentation")
    seg_ratio = len(codec.encode(np.ascontiguousarray(seg))) / seg.nbytes if seg is not None else 0
    voxels = layout.n_frames * sum(math.prod(shape) for _, shape in ome_zarr.pyramid(layout))
    float_bytes = voxels * 4 * len(layout.channels)
    seg_bytes = voxels * layout.seg_dtype.itemsize if layout.segmentation else 0
    return int(float_bytes + seg_bytes), int(float_bytes * float_ratio + seg_bytes * seg_ratio)
