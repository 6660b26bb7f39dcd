"""Blockwise prediction out of core: any size, on one machine or a Dask cluster, to OME-Zarr.

:func:`predict_blockwise` applies a trained :class:`~brushlab.PixelClassifier` chunk by
chunk. Each Dask task reads its chunk of the source plus the feature halo (mirrored at
the volume's edges exactly as :func:`brushlab._core.tiling.read_with_halo` mirrors the whole
image), predicts it tile by tile through
:meth:`~brushlab.PixelClassifier.predict_tile`, and writes whole Zarr chunks of the
output itself, so no task waits on a lock and the result equals in-memory
:meth:`~brushlab.PixelClassifier.predict` bit for bit. Finished chunks are recorded on
disk: a killed run restarted with the same arguments computes only what is missing.
See :mod:`brushlab.io.ome_zarr` for the layout of the output and how completeness is marked.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

from brushlab._core.progress import progress_bar
from brushlab.blockwise._estimate import BlockwiseEstimate, estimate_cost
from brushlab.blockwise._plan import (
    Engine,
    Job,
    checked_classifier,
    plan,
    run_spec,
)
from brushlab.blockwise._tasks import halo_read, predict_task, pyramid_task
from brushlab.classifier import PixelClassifier
from brushlab.errors import BrushlabError
from brushlab.io import Source, ome_zarr, open_source
from brushlab.io.ome_zarr import OutputLayout, chunk_key, output_status

__all__ = ["predict_blockwise", "BlockwiseResult", "BlockwiseEstimate", "output_status"]

_predict_task = predict_task  # looked up at each run, so that tests can wrap it


@dataclass(frozen=True)
class BlockwiseResult:
    """What :func:`predict_blockwise` did; usable wherever a path is (``os.fspath``).

    Attributes
    ----------
    path : pathlib.Path
        The complete OME-Zarr output.
    chunks_total : int
        Chunks of the output (over all time points).
    chunks_computed : int
        Chunks predicted by this call.
    chunks_resumed : int
        Chunks an earlier, interrupted run had already written.
    seconds : float
        Wall time of this call.
    """

    path: Path
    chunks_total: int
    chunks_computed: int
    chunks_resumed: int
    seconds: float

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)


@overload
def predict_blockwise(
    classifier: Any, source: Any, output: str | os.PathLike[str], *,
    chunks: Any = ..., roi: Any = ..., outputs: Sequence[str] = ..., client: Any = ...,
    overwrite: bool = ..., estimate: Literal[False] = ..., dims: Any = ...,
    roi_unit: str = ..., n_workers: int | None = ..., memory_limit: int | str | None = ...,
    tile_shape: Sequence[int] | None = ..., progress: bool | None = ...,
) -> BlockwiseResult: ...


@overload
def predict_blockwise(
    classifier: Any, source: Any, output: str | os.PathLike[str], *,
    chunks: Any = ..., roi: Any = ..., outputs: Sequence[str] = ..., client: Any = ...,
    overwrite: bool = ..., estimate: Literal[True], dims: Any = ...,
    roi_unit: str = ..., n_workers: int | None = ..., memory_limit: int | str | None = ...,
    tile_shape: Sequence[int] | None = ..., progress: bool | None = ...,
) -> BlockwiseEstimate: ...


def predict_blockwise(
    classifier: Any,
    source: Any,
    output: str | os.PathLike[str],
    *,
    chunks: Any = None,
    roi: Any = None,
    outputs: Sequence[str] = ("probabilities", "segmentation"),
    client: Any = None,
    overwrite: bool = False,
    estimate: bool = False,
    dims: Any = None,
    roi_unit: str = "pixel",
    n_workers: int | None = None,
    memory_limit: int | str | None = None,
    tile_shape: Sequence[int] | None = None,
    progress: bool | None = None,
) -> BlockwiseResult | BlockwiseEstimate:
    """Predict an image of any size chunk by chunk with Dask, into a resumable OME-Zarr.

    Parameters
    ----------
    classifier : PixelClassifier or path
        A trained classifier, or its model file.
    source : path, numpy/dask array or xarray.DataArray
        A Zarr or OME-Zarr folder, a TIFF or BigTIFF (read lazily), an HDF5 dataset as
        ``"file.h5/dataset"``, any other file :func:`brushlab.imread` reads (loaded
        whole), or an array (dask and xarray arrays stay lazy).
    output : str or path-like
        The OME-Zarr folder to write (NGFF 0.5; see :mod:`brushlab.io.ome_zarr`).
    chunks : int, sequence of int or dict, optional
        Spatial chunk of the output, which is also the block one task predicts:
        one size for every axis, one per axis, or ``{"z": 32, ...}``. Default
        1024 x 1024 in 2D and 64 x 256 x 256 in 3D, made smaller if it would not
        fit ``memory_limit``.
    roi : sequence or dict, optional
        Bounding box to predict: ``(start, stop)`` pairs (or slices) per spatial
        axis in z, y, x order, or a dict ``{"x": (100, 600), ...}`` (missing axes
        whole). Pixels unless ``roi_unit`` says otherwise. Features still see the
        image around the box, so the result equals the whole prediction cropped.
    outputs : sequence of str
        Any of ``probabilities``, ``segmentation``, ``uncertainty``, ``confidence``.
    client : distributed.Client, optional
        Run on this Dask cluster (a ``LocalCluster``, dask-jobqueue's ``SLURMCluster``,
        ...): the classifier goes to each worker once and the workers write the
        output themselves, so it must be on a file system they share. Without a
        client, Dask's threaded scheduler runs ``n_workers`` threads.
    overwrite : bool, default False
        Replace an existing output (a Zarr store) with a fresh run. When False, an
        existing output of the same arguments is resumed (or returned as it is when
        complete), and any other existing path is an error. The same arguments
        include the source's content fingerprint (sampled pixels, file sizes and
        modification times; see ``brushlab.blockwise._fingerprint``): an output
        of a source that changed since is refused, not resumed.
    estimate : bool, default False
        Run nothing: time one sample chunk and return a :class:`BlockwiseEstimate`
        (expected wall time, output size, memory per worker).
    dims : str or sequence of str, optional
        Names of the source's stored axes, as for :func:`brushlab.imread`.
    roi_unit : str, default "pixel"
        Unit of ``roi``: ``"pixel"``, ``"physical"`` (the image's unit), or a length
        unit such as ``"micrometer"`` or ``"nm"``.
    n_workers : int, optional
        Threads of the threaded scheduler (default: all cores); ignored with a client.
    memory_limit : int or str, optional
        Memory one worker may use, e.g. ``"4GB"``. Default: each worker's own limit
        with a client, else half the machine's memory. Chunks that would not fit
        are refused, with the chunk size that would.
    tile_shape : sequence of int, optional
        Tile in which each chunk's features are computed (default the
        classifier's); bounds memory, does not change results.
    progress : bool, optional
        Show a progress bar (tqdm, or a widget in a notebook) with blocks done and
        the ETA; by default only when stderr is a terminal or in a notebook.

    Returns
    -------
    BlockwiseResult or BlockwiseEstimate
        The run's summary (``os.fspath`` gives the output path), or the estimate.

    Raises
    ------
    ImageError
        If the source is missing or unreadable, the roi lies outside it, or a chunk
        holds NaN or infinite pixels (the output is then left incomplete).
    ClassifierError
        If the classifier is untrained or was trained on another channel count or
        number of spatial dims.
    BrushlabError
        If the output exists from another run or is not a Zarr store and
        ``overwrite`` is False, or the chunks exceed the memory budget.

    Examples
    --------
    >>> import tempfile, numpy as np, brushlab
    >>> from brushlab.blockwise._run import predict_blockwise
    >>> image = np.zeros((64, 64), np.float32); image[:, 32:] = 1
    >>> labels = np.zeros((64, 64), np.uint8); labels[5, 5:20] = 1; labels[5, 40:60] = 2
    >>> features = brushlab.FeatureSet({"gaussian": [1.0]})
    >>> clf = brushlab.PixelClassifier(features, n_trees=5, random_state=0).fit(image, labels)
    >>> out = predict_blockwise(clf, image, tempfile.mkdtemp() + "/pred.zarr", chunks=32)
    >>> out.chunks_computed
    4
    >>> brushlab.imread(out).dims  # the class probabilities as channels
    ('y', 'x', 'c')
    """
    t0 = time.perf_counter()
    clf = checked_classifier(classifier)
    src = open_source(source, dims)
    target = Path(os.fspath(output))
    engine = Engine(client, n_workers)
    job = plan(clf, src, target, chunks=chunks, roi=roi, roi_unit=roi_unit, outputs=outputs,
                tile_shape=tile_shape, engine=engine, memory_limit=memory_limit)
    layout = job.layout
    run = run_spec(clf, src, job)
    if estimate:
        return estimate_cost(clf, src, job, engine, memory_limit, _resumable_done(target, run))
    state = _prepare_output(target, layout, run, overwrite=overwrite, source=src)
    if state == "complete":
        ome_zarr.remove_progress(target)
        return BlockwiseResult(target, layout.n_chunks, 0, layout.n_chunks,
                               time.perf_counter() - t0)
    done = ome_zarr.done_chunks(target)
    todo = [cid for cid in layout.chunk_ids() if chunk_key(cid) not in done]
    try:
        _predict_chunks(clf, src, job, engine, todo, len(done), progress)
        _build_pyramid(job, engine, progress)
    except BaseException as exc:
        if hasattr(exc, "add_note"):
            exc.add_note(f"brushlab: {target} is incomplete; run the same call again to resume "
                         "(only missing chunks are computed)")
        raise
    seconds = time.perf_counter() - t0
    ome_zarr.finish_output(target, layout, {"seconds": round(seconds, 3),
                                            "chunks_computed": len(todo)})
    return BlockwiseResult(target, layout.n_chunks, len(todo), len(done), seconds)


# -- the output on disk -----------------------------------------------------------------


def _is_zarr(path: Path) -> bool:
    return path.is_dir() and any((path / n).exists() for n in ("zarr.json", ".zgroup", ".zarray"))


def _ours(path: Path) -> dict[str, Any] | None:
    info = (ome_zarr.read_attributes(path) or {}).get("brushlab")
    return info if isinstance(info, dict) and info.get("format") == ome_zarr.FORMAT_NAME else None


def _resumable_done(target: Path, run: Mapping[str, Any]) -> set[str]:
    info = _ours(target)
    if info is None or info.get("run") != run:
        return set()
    if info.get("status") == "complete":
        return {"*"}
    return ome_zarr.done_chunks(target)


def _prepare_output(target: Path, layout: OutputLayout, run: Mapping[str, Any], *,
                    overwrite: bool, source: Source) -> str:
    """Create, resume or refuse the output; returns "new", "resume" or "complete"."""
    from brushlab._core.atomic import atomic_path

    if source.reader is not None:
        src_path = Path(source.reader.path).resolve()
        out = target.resolve()
        if out == src_path or src_path in out.parents or out in src_path.parents:
            raise BrushlabError(f"the output {target} would overwrite the source "
                                f"{source.reader.path}; choose another output path")
    if target.exists() or target.is_symlink():
        info = _ours(target)
        if not overwrite:
            if info is None:
                raise BrushlabError(
                    f"{target} exists and is not a brushlab blockwise output; choose another "
                    "output path, or pass overwrite=True (--overwrite) to replace it")
            old_run = info.get("run", {})
            if (isinstance(old_run, dict) and old_run.get("source") == run.get("source")
                    and "source_fingerprint" in old_run
                    and old_run["source_fingerprint"] != run.get("source_fingerprint")):
                raise BrushlabError(
                    f"the source {run.get('source')} changed since {target} was started (its "
                    "sampled pixels, size or modification time differ), so the chunks already "
                    "written are stale: pass overwrite=True (--overwrite) to predict it anew, "
                    "or choose another output")
            diff = _differences(old_run, run)
            if diff:
                state = "complete" if info.get("status") == "complete" else "unfinished"
                raise BrushlabError(
                    f"{target} holds a {state} prediction made with other arguments ({diff}); "
                    "pass overwrite=True (--overwrite) to replace it, or choose another output")
            return "complete" if info.get("status") == "complete" else "resume"
        if not _is_zarr(target):
            raise BrushlabError(f"{target} exists and is not a Zarr store, so overwrite=True "
                                "will not delete it; remove it yourself or choose another path")
    elif not target.parent.is_dir():
        raise BrushlabError(f"cannot write {target}: folder {target.parent} does not exist; "
                            "create it first, e.g. Path(path).parent.mkdir(parents=True)")
    with atomic_path(target) as temp:  # an old output stays until the new one is in place
        ome_zarr.create_output(temp, layout, run)
    return "new"


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    keys = [k for k in new if old.get(k) != new[k]] + [k for k in old if k not in new]
    return "; ".join(f"{k}: {old.get(k)!r} then, {new.get(k)!r} now" for k in keys[:3])


# -- running --------------------------------------------------------------------------


def _execute(tasks: list[Any], keys: set[str], engine: Engine, bar: Any) -> None:
    """Compute ``tasks`` (dask.delayed) on the engine, ticking ``bar`` once per key."""
    import dask

    if engine.client is None:
        from dask.callbacks import Callback
        from threadpoolctl import threadpool_limits

        def tick(key: Any, *_: Any) -> None:
            if key in keys:
                bar.update(1)

        with threadpool_limits(limits=1), Callback(posttask=tick):
            dask.compute(*tasks, scheduler="threads", num_workers=engine.parallel)
        return
    from distributed import as_completed

    futures = engine.client.compute(tasks)
    try:
        for future in as_completed(futures):
            future.result()  # raises the task's error here
            bar.update(1)
    except BaseException:
        engine.client.cancel(futures)
        raise


def _predict_chunks(clf: PixelClassifier, src: Source, job: Job, engine: Engine,
                    todo: list[tuple[int, ...]], done: int, progress: bool | None) -> None:
    from dask import delayed

    if not todo:
        return
    layout = job.layout
    token = uuid.uuid4().hex[:8]
    clf_ref: Any = clf
    if engine.client is not None:  # once per worker, not once per task
        clf_ref = engine.client.scatter(clf, broadcast=True, hash=False)
    frames = src.frames(layout.chunks) if src.reader is None else None
    tasks, keys = [], set()
    for cid in todo:
        pixels: Any = src.reader
        if frames is not None:
            region = [slice(r.start + o, r.stop + o)
                      for r, o in zip(layout.region(cid), layout.offset)]
            read, _ = halo_read(region, job.halo, job.source_shape)
            pixels = frames[(cid[0], slice(None), *read)]
        key = f"brushlab-chunk-{token}-{chunk_key(cid)}"
        tasks.append(delayed(_predict_task, pure=False)(clf_ref, pixels, job, cid,
                                                        dask_key_name=key))
        keys.add(key)
    with progress_bar(layout.n_chunks, done, "predicting", progress) as bar:
        _execute(tasks, keys, engine, bar)


def _build_pyramid(job: Job, engine: Engine, progress: bool | None) -> None:
    from dask import delayed

    layout, target = job.layout, Path(job.output)
    jobs = ome_zarr.pyramid_tasks(layout)
    if not jobs:
        return
    token = uuid.uuid4().hex[:8]
    with progress_bar(len(jobs), 0, "pyramid", progress) as bar:
        for level in sorted({lev for lev, _ in jobs}):
            ome_zarr.create_level(target, layout, level)
            tasks, keys = [], set()
            for lev, cid in jobs:
                if lev == level:
                    key = f"brushlab-pyramid-{token}-{level}-{chunk_key(cid)}"
                    tasks.append(delayed(pyramid_task, pure=False)(job, level, cid,
                                                                    dask_key_name=key))
                    keys.add(key)
            _execute(tasks, keys, engine, bar)
