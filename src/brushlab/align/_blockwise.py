"""Align a stack of any length on Dask into a resumable OME-Zarr, a few sections in memory at once.

Two stages, each a set of Dask tasks that read only the sections they need:

1. every section pair is registered (two sections per task) and the chain is solved;
   the transforms are saved in the output (``alignment/transforms.npz``) before any
   pixel is written, so a resumed run does not register again;
2. every z-slab of ``chunks[0]`` sections is warped and written as whole Zarr chunks,
   then marked done (:func:`brushlab.io.ome_zarr.mark_done`); a restarted run with the same
   arguments writes only the slabs not marked.

The output follows :mod:`brushlab.io.ome_zarr`'s conventions: attributes
``brushlab.status = "incomplete"`` and no ``multiscales`` until every slab is written,
then one atomic replace of the root ``zarr.json``. Each section is warped whole, by
the same function as :func:`brushlab.align.align`, so both give the same pixels.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brushlab.align._align import _guide_index, apply_section
from brushlab.align._estimate import AlignOptions, SectionSource, estimate_transforms
from brushlab.align._runners import make_runner
from brushlab.align._transforms import SectionTransforms, load_transforms
from brushlab.errors import AlignmentError, BrushlabError
from brushlab.io import ome_zarr

__all__ = ["align_blockwise", "AlignOutput", "AlignEstimate"]

FORMAT_NAME = "brushlab-align"
FORMAT_VERSION = 1
TRANSFORMS = "alignment/transforms.npz"


@dataclass(frozen=True)
class AlignOutput:
    """What :func:`align_blockwise` did (``os.fspath`` gives the output path)."""

    path: Path
    transforms: SectionTransforms
    slabs_total: int
    slabs_computed: int
    seconds: float

    def __fspath__(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class AlignEstimate:
    """Expected cost of :func:`align_blockwise`, from one pair and one section timed."""

    sections: int
    pairs: int
    seconds_per_pair: float
    seconds_per_section: float
    wall_seconds: float
    output_bytes: int
    memory_per_task: int

    def __str__(self) -> str:
        return (f"{self.sections} sections, {self.pairs} pairs: about {self.wall_seconds:.0f} s, "
                f"output {self.output_bytes / 1e9:.2f} GB, about "
                f"{self.memory_per_task / 1e6:.0f} MB per task")


class _Reader:
    """Picklable ``read(z) -> (C, H, W)`` of one source (a file reader or an array)."""

    def __init__(self, src: Any) -> None:
        self.reader = src.reader
        self.frames = None if src.reader is not None else src.frames(
            (1, *src.spatial_shape[1:]))

    def __call__(self, z: int) -> np.ndarray:
        if self.reader is not None:
            return np.asarray(self.reader.read(0, {"z": slice(z, z + 1)}))[:, 0]
        assert self.frames is not None
        return np.asarray(self.frames[0, :, z])


def _open(source: Any, dims: Any) -> tuple[Any, _Reader]:
    from brushlab.io import open_source

    src = open_source(source, dims)
    image = src.image
    if src.n_frames != 1:
        raise AlignmentError(f"the source has {src.n_frames} time points; align one at a time")
    if src.spatial_dims != ("z", "y", "x") or image.sizes["z"] < 2:
        raise AlignmentError(f"align needs a stack of sections (z, y, x), got dims {image.dims}; "
                             "pass dims='zyx' if the first axis holds the sections")
    if image.dtype.kind not in "biuf":
        raise AlignmentError(f"the source has dtype {image.dtype}; alignment needs numeric pixels")
    return src, _Reader(src)


def _run_spec(src: Any, options: AlignOptions, chunks: tuple[int, ...]) -> dict[str, Any]:
    from brushlab._version import __version__

    return {"source": src.identity, "shape": [int(v) for v in src.image.shape],
            "dtype": str(src.image.dtype), "model": options.model,
            "reference": options.reference, "neighbors": options.neighbors,
            "method": options.method, "step": options.step, "stiffness": options.stiffness,
            "drift": options.drift,
            "guide": None if options.guide is None else type(options.guide).__name__,
            "chunks": list(chunks), "brushlab_version": __version__}


def _chunks(chunks: Any, shape: tuple[int, ...]) -> tuple[int, int, int]:
    if chunks is None:
        given = (1, 1024, 1024)
    elif isinstance(chunks, int):
        given = (1, chunks, chunks)
    else:
        given = tuple(int(c) for c in chunks)  # type: ignore[assignment]
        if len(given) != 3:
            raise AlignmentError(f"chunks {chunks} must be (z, y, x) or one int (y and x)")
    if min(given) < 1:
        raise AlignmentError(f"chunks must be positive, got {chunks}")
    return tuple(min(c, n) for c, n in zip(given, shape))  # type: ignore[return-value]


def align_blockwise(source: Any, output: str | os.PathLike[str], *, model: str = "affine",
                    reference: int = 0, guide: Any = None, guide_class: int | str | None = None,
                    neighbors: int = 2, method: str = "blocks", step: int = 64,
                    stiffness: float = 0.05, drift: float = 0.0, order: int = 1,
                    chunks: Any = None,
                    client: Any = None, n_workers: int | None = None, overwrite: bool = False,
                    estimate: bool = False, dims: Any = None,
                    progress: bool | None = None) -> AlignOutput | AlignEstimate:
    """Align a stack of any length section by section on Dask, into a resumable OME-Zarr.

    Takes the options of :func:`brushlab.align.align`, and:

    Parameters
    ----------
    source : path or array
        A Zarr/OME-Zarr folder, a TIFF, ``"file.h5/dataset"`` or an array (numpy, dask,
        xarray) with dims ``z, y, x`` (and ``c``).
    output : str or path-like
        The OME-Zarr folder to write (NGFF 0.5, one level, the source's dtype).
    chunks : int or (z, y, x), optional
        Zarr chunk of the output; ``z`` is also the sections one warping task writes
        (default ``(1, 1024, 1024)``).
    client : distributed.Client, optional
        Run on this cluster (the output must be on a file system its workers share);
        without one, ``n_workers`` threads.
    overwrite : bool, default False
        Replace an existing output. Otherwise an unfinished output of the same
        arguments is resumed, a complete one returned as it is, and anything else refused.
    estimate : bool, default False
        Write nothing: time one pair and one section and return an :class:`AlignEstimate`.

    Returns
    -------
    AlignOutput or AlignEstimate

    Examples
    --------
    >>> import tempfile, numpy as np, brushlab
    >>> from scipy import ndimage as ndi
    >>> from skimage import data
    >>> section = data.camera()[::2, ::2]
    >>> stack = np.stack([section, ndi.shift(section, (4, -6), order=1)])
    >>> out = align_blockwise(stack, tempfile.mkdtemp() + "/aligned.ome.zarr",
    ...                       model="translation", progress=False)
    >>> brushlab.imread(out).shape
    (2, 256, 256)
    """
    t0 = time.perf_counter()
    src, read = _open(source, dims)
    n, height, width = src.spatial_shape
    options = AlignOptions(model=model, reference=int(reference), neighbors=int(neighbors),
                           method=method, step=int(step), stiffness=float(stiffness),
                           drift=float(drift),
                           guide=guide, guide_class=_guide_index(guide, guide_class))
    if order not in (0, 1):
        raise AlignmentError(f"order must be 0 (nearest, for labels) or 1 (linear), not {order}")
    chunk = _chunks(chunks, (n, height, width))
    sections = SectionSource(read, n, (height, width), options)
    runner = make_runner(client, n_workers, progress)
    if estimate:
        return _estimate(sections, src, chunk, client, n_workers)
    target = Path(os.fspath(output))
    run = _run_spec(src, options, chunk)
    state = _prepare(target, src, chunk, run, overwrite=overwrite)
    slabs = -(-n // chunk[0])
    if state == "complete":
        return AlignOutput(target, load_transforms(target / TRANSFORMS), slabs, 0,
                           time.perf_counter() - t0)
    try:
        if (target / TRANSFORMS).is_file():
            transforms = load_transforms(target / TRANSFORMS)
        else:
            transforms = estimate_transforms(sections, runner)
            transforms.save(target / TRANSFORMS)
        done = ome_zarr.done_chunks(target)
        todo = [s for s in range(slabs) if ome_zarr.chunk_key((0, s)) not in done]
        calls = [(_write_slab, (read, transforms, str(target), s, chunk[0], order))
                 for s in todo]
        from brushlab.align._estimate import _run

        _run(calls, runner, "warping")
    except BaseException as exc:
        if hasattr(exc, "add_note"):
            exc.add_note(f"brushlab: {target} is incomplete; run the same call again to resume")
        raise
    seconds = time.perf_counter() - t0
    _finish(target, src, chunk, {"seconds": round(seconds, 3), "damaged": transforms.damaged})
    return AlignOutput(target, transforms, slabs, len(todo), seconds)


def _write_slab(read: _Reader, transforms: SectionTransforms, path: str, slab: int, depth: int,
                order: int) -> None:
    import zarr

    array = zarr.open_array(str(Path(path) / "0"), mode="r+")
    z0 = slab * depth
    z1 = min(z0 + depth, transforms.n_sections)
    out = np.stack([apply_section(read(z), transforms, z, order=order) for z in range(z0, z1)])
    if array.ndim == 4:  # (c, z, y, x)
        array[:, z0:z1] = np.moveaxis(out, 1, 0)
    else:
        array[z0:z1] = out[:, 0]
    ome_zarr.mark_done(Path(path), (0, slab))


def _axes(src: Any) -> list[dict[str, Any]]:
    unit = str(src.image.attrs.get("unit", "pixel"))
    axes: list[dict[str, Any]] = [{"name": "c", "type": "channel"}] if "c" in src.image.dims \
        else []
    for dim in ("z", "y", "x"):
        axis: dict[str, Any] = {"name": dim, "type": "space"}
        if unit != "pixel":
            axis["unit"] = unit
        axes.append(axis)
    return axes


def _prepare(target: Path, src: Any, chunk: tuple[int, ...], run: dict[str, Any], *,
             overwrite: bool) -> str:
    import zarr

    from brushlab._core.atomic import atomic_path

    info = (ome_zarr.read_attributes(target) or {}).get("brushlab")
    ours = isinstance(info, dict) and info.get("format") == FORMAT_NAME
    if target.exists() and not overwrite:
        if not ours:
            raise BrushlabError(f"{target} exists and is not a brushlab alignment output; choose "
                                "another path, or pass overwrite=True (--overwrite)")
        assert isinstance(info, dict)
        if info.get("run") != run:
            raise BrushlabError(f"{target} holds an alignment made with other arguments; pass "
                                "overwrite=True (--overwrite) to replace it, or choose another "
                                "output")
        return "complete" if info.get("status") == "complete" else "resume"
    if target.exists() and not (target / "zarr.json").is_file():
        raise BrushlabError(f"{target} exists and is not a Zarr store, so overwrite=True will "
                            "not delete it; remove it yourself or choose another path")
    if not target.parent.is_dir():
        raise BrushlabError(f"cannot write {target}: folder {target.parent} does not exist")
    n, h, w = src.spatial_shape
    lead = (src.n_channels,) if "c" in src.image.dims else ()
    with atomic_path(target) as temp:
        root = zarr.open_group(str(temp), mode="w-", zarr_format=3)
        root.create_array("0", shape=(*lead, n, h, w), chunks=(*(1,) * len(lead), *chunk),
                          dtype=src.image.dtype, fill_value=0,
                          dimension_names=[a["name"] for a in _axes(src)])
        zarr.open_group(str(temp / "alignment"), mode="w-", zarr_format=3)
        progress = zarr.open_group(str(temp / ome_zarr.PROGRESS_DIR), mode="w-", zarr_format=3)
        progress.attrs.put({"brushlab": "markers of the slabs written by an unfinished run"})
        (temp / ome_zarr.PROGRESS_DIR / "done").mkdir()
        root.attrs.put({"brushlab": {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                                     "status": "incomplete", "run": run,
                                     "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}})
    return "new"


def _finish(target: Path, src: Any, chunk: tuple[int, ...], summary: dict[str, Any]) -> None:
    from brushlab.io import spacing_of

    attrs = ome_zarr.read_attributes(target) or {}
    info = dict(attrs.get("brushlab", {}))
    spacing = spacing_of(src.image)
    lead = [1.0] if "c" in src.image.dims else []
    ome = {"version": ome_zarr.NGFF_VERSION, "multiscales": [{
        "name": "aligned", "axes": _axes(src),
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": lead + [spacing[d] for d in ("z", "y", "x")]}]}]}]}
    info.update(status="complete", finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), **summary)
    ome_zarr._update_attributes(target, {**attrs, "ome": ome, "brushlab": info})
    ome_zarr.remove_progress(target)


def _estimate(sections: SectionSource, src: Any, chunk: tuple[int, ...], client: Any,
              n_workers: int | None) -> AlignEstimate:
    from brushlab.align._estimate import _pair_task

    n = sections.n
    opts = sections.options
    pairs = sum(min(i, opts.neighbors) for i in range(n))
    t = time.perf_counter()
    _pair_task(sections, 0, 1)
    per_pair = time.perf_counter() - t
    identity = SectionTransforms(np.tile(np.eye(3), (n, 1, 1)), sections.shape, 0, "affine",
                                 ("reference",) + ("ok",) * (n - 1))
    t = time.perf_counter()
    apply_section(sections.read(0), identity, 0)
    per_section = time.perf_counter() - t
    if opts.model == "elastic":
        per_section += per_pair / 2
    parallel = n_workers or os.cpu_count() or 1
    if client is not None:
        parallel = sum(w.get("nthreads", 1) for w in
                       client.scheduler_info(n_workers=-1).get("workers", {}).values()) or 1
    h, w = sections.shape
    section_bytes = h * w * src.n_channels * src.image.dtype.itemsize
    memory = 2 * section_bytes + h * w * (4 * 4 + 8 * 6) * max(1, chunk[0])
    return AlignEstimate(n, pairs, per_pair, per_section,
                         (pairs * per_pair + n * per_section) / parallel,
                         n * section_bytes, memory)
