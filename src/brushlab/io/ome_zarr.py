"""The OME-Zarr output of blockwise prediction: layout, progress markers, pyramid, completeness.

One output is one NGFF 0.5 image (Zarr v3) that ome-zarr-py and napari read:

- the root image holds the float outputs as channels (the class probabilities,
  then ``uncertainty`` and ``confidence`` if asked for), axes ``t?, c, z?, y, x``;
- ``labels/segmentation`` holds the segmentation as an NGFF label image, with the
  class names as label properties. When only the segmentation is asked for, it
  is the root image itself.

Each image is a multiscale pyramid (levels ``"0"``, ``"1"``, ...): ``x`` and ``y``
halve at every level, ``z`` only once its pixels are no larger than those of ``y``
(a thin EM stack keeps its slices); probabilities are averaged, labels take the
most frequent value of each window.

Completeness: while a run is under way the root group has no ``multiscales``
metadata, so viewers see no image, and its attribute ``brushlab.status`` is
``"incomplete"``. Each finished chunk leaves an empty marker file in
``.brushlab-progress/done/``. The pyramid and the NGFF metadata are written only
after every chunk; the root ``zarr.json`` is then replaced atomically with
``status: "complete"`` and the markers are removed.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brushlab._core.atomic import write_json_atomic
from brushlab._core.colours import palette_rgb
from brushlab.errors import BrushlabError
from brushlab.io._ngff import NGFF_VERSION, ngff_axes, omero_channels

__all__ = ["OutputLayout", "output_status", "NGFF_VERSION"]

FORMAT_NAME = "brushlab-blockwise"
FORMAT_VERSION = 1
PROGRESS_DIR = ".brushlab-progress"
LABELS_PATH = "labels/segmentation"
_SLAB_BYTES = 64 * 2**20  # input read at once when building a pyramid level


@dataclass(frozen=True)
class OutputLayout:
    """Geometry and content of a blockwise output, shared by the planner and the tasks.

    Parameters
    ----------
    spatial_dims : tuple of str
        ``("y", "x")`` or ``("z", "y", "x")``.
    shape : tuple of int
        Spatial shape of level 0 (the region of interest).
    chunks : tuple of int
        Spatial Zarr chunk shape; also the block one task predicts and writes.
    n_frames : int
        Time points (1 without a ``t`` axis).
    has_t : bool
        Whether the output has a ``t`` axis.
    channels : tuple of str
        Float channels of the root image: class names, then ``"uncertainty"`` and
        ``"confidence"`` where asked for (empty when only the segmentation is).
    class_names : tuple of str
        Classes 1..K.
    segmentation : bool
        Whether a segmentation is written.
    spacing : tuple of float
        Physical pixel size per spatial axis.
    unit : str
        Unit of ``spacing`` (``"pixel"`` when unknown).
    offset : tuple of int
        Start of the region of interest in source pixels, per spatial axis.
    """

    spatial_dims: tuple[str, ...]
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    n_frames: int
    has_t: bool
    channels: tuple[str, ...]
    class_names: tuple[str, ...]
    segmentation: bool
    spacing: tuple[float, ...]
    unit: str
    offset: tuple[int, ...]

    @property
    def seg_dtype(self) -> np.dtype:
        """Smallest unsigned dtype holding 1..K."""
        return np.dtype(np.min_scalar_type(len(self.class_names)))

    @property
    def image_is_segmentation(self) -> bool:
        """True when only the segmentation is written (it is then the root image)."""
        return not self.channels

    def grid(self) -> tuple[int, ...]:
        """Chunks per spatial axis."""
        return tuple(-(-n // c) for n, c in zip(self.shape, self.chunks))

    def chunk_ids(self) -> Iterator[tuple[int, ...]]:
        """``(frame, *chunk index)`` of every chunk, frames first, then C order."""
        for index in np.ndindex(self.n_frames, *self.grid()):
            yield tuple(int(i) for i in index)

    def region(self, cid: Sequence[int]) -> tuple[slice, ...]:
        """Spatial slices of chunk ``cid`` in level-0 (output) pixels."""
        return tuple(slice(i * c, min((i + 1) * c, n))
                     for i, c, n in zip(cid[1:], self.chunks, self.shape))

    @property
    def n_chunks(self) -> int:
        """Chunks to predict over all frames."""
        return int(self.n_frames * np.prod(self.grid()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (stored in the output)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


# -- markers and status ---------------------------------------------------------------


def chunk_key(cid: Sequence[int]) -> str:
    """File name of the marker of chunk ``cid``."""
    return "_".join(str(int(i)) for i in cid)


def mark_done(path: Path, cid: Sequence[int]) -> None:
    """Record chunk ``cid`` as written (after all its arrays are)."""
    (path / PROGRESS_DIR / "done" / chunk_key(cid)).touch()


def done_chunks(path: Path) -> set[str]:
    """Marker names of the chunks already written."""
    folder = path / PROGRESS_DIR / "done"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def read_attributes(path: Path) -> dict[str, Any] | None:
    """Attributes of the Zarr v3 group at ``path``, or None when it is none."""
    meta = path / "zarr.json"
    if not meta.is_file():
        return None
    try:
        doc = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    if doc.get("node_type") != "group":
        return None
    attrs = doc.get("attributes", {})
    return attrs if isinstance(attrs, dict) else {}


def output_status(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Tell whether a blockwise output is complete, and how far an unfinished one got.

    Parameters
    ----------
    path : str or path-like
        An output of :func:`brushlab.blockwise._run.predict_blockwise`.

    Returns
    -------
    dict
        ``status`` (``"complete"`` or ``"incomplete"``), ``chunks_done``,
        ``chunks_total`` and ``run`` (the arguments that identify the run).

    Raises
    ------
    BrushlabError
        If ``path`` is not a brushlab blockwise output.

    Examples
    --------
    >>> import tempfile
    >>> from brushlab.errors import BrushlabError
    >>> try:
    ...     output_status(tempfile.mkdtemp())
    ... except BrushlabError as err:
    ...     print("not a brushlab blockwise output" in str(err))
    True
    """
    target = Path(path)
    attrs = read_attributes(target)
    info = (attrs or {}).get("brushlab")
    if not isinstance(info, dict) or info.get("format") != FORMAT_NAME:
        raise BrushlabError(f"{target} is not a brushlab blockwise output (no "
                            f"'brushlab.format: {FORMAT_NAME}' in its zarr.json attributes)")
    total = int(info.get("chunks_total", 0))
    complete = info.get("status") == "complete"
    return {"status": "complete" if complete else "incomplete",
            "chunks_done": total if complete else len(done_chunks(target)),
            "chunks_total": total, "run": info.get("run", {})}


def _update_attributes(path: Path, attrs: Mapping[str, Any]) -> None:
    """Replace the attributes of the group at ``path`` in one atomic file replace."""
    meta = path / "zarr.json"
    doc = json.loads(meta.read_text())
    doc["attributes"] = dict(attrs)
    write_json_atomic(meta, doc)


# -- creating and writing -------------------------------------------------------------


def _image_axes(layout: OutputLayout, *, channels: bool) -> list[dict[str, Any]]:
    dims = ["t"] * layout.has_t + ["c"] * channels + list(layout.spatial_dims)
    return ngff_axes(dims, layout.unit)


def _arrays(layout: OutputLayout) -> dict[str, tuple[str, bool, np.dtype]]:
    """``{role: (group path, has channel axis, dtype)}`` of the images written."""
    if layout.image_is_segmentation:
        return {"segmentation": ("", False, layout.seg_dtype)}
    out = {"image": ("", True, np.dtype(np.float32))}
    if layout.segmentation:
        out["segmentation"] = (LABELS_PATH, False, layout.seg_dtype)
    return out


def level_chunks(layout: OutputLayout, level: int) -> tuple[int, ...]:
    """Spatial Zarr chunk shape of pyramid ``level``.

    Level 1 is written by the prediction tasks themselves when every chunk halves
    exactly (one level-0 chunk gives one whole level-1 chunk); other levels use the
    chunk shape of level 0, clipped to the level's shape.
    """
    levels = pyramid(layout)
    if level == 1 and inline_level_1(layout):
        return tuple(c // s for c, s in zip(layout.chunks, levels[1][0]))
    return tuple(min(c, n) for c, n in zip(layout.chunks, levels[level][1]))


def inline_level_1(layout: OutputLayout) -> bool:
    """Whether the prediction tasks write level 1 too (no re-reading of level 0)."""
    levels = pyramid(layout)
    return len(levels) > 1 and all(c % s == 0 for c, s in zip(layout.chunks, levels[1][0]))


def create_level(path: Path, layout: OutputLayout, level: int) -> None:
    """Create (replacing) the arrays of pyramid ``level``."""
    import zarr

    shape = pyramid(layout)[level][1]
    for group_path, channels, dtype in _arrays(layout).values():
        lead_shape = ((layout.n_frames,) if layout.has_t else ()) + (
            (len(layout.channels),) if channels else ())
        names = [a["name"] for a in _image_axes(layout, channels=channels)]
        group = zarr.open_group(str(path / group_path) if group_path else str(path), mode="a")
        group.create_array(
            str(level), shape=(*lead_shape, *shape),
            chunks=(*(1,) * len(lead_shape), *level_chunks(layout, level)),
            dtype=dtype, fill_value=0, dimension_names=names, overwrite=True,
        )


def create_output(path: Path, layout: OutputLayout, run: Mapping[str, Any]) -> None:
    """Write an empty, incomplete output at ``path`` (a folder that does not exist yet)."""
    import zarr

    root = zarr.open_group(str(path), mode="w-", zarr_format=3)
    if "segmentation" in _arrays(layout) and not layout.image_is_segmentation:
        zarr.open_group(str(path / "labels"), mode="w-", zarr_format=3)
        zarr.open_group(str(path / LABELS_PATH), mode="w-", zarr_format=3)
    create_level(path, layout, 0)
    if inline_level_1(layout):
        create_level(path, layout, 1)
    # A group of its own, so that listing the output's members does not trip on it.
    progress = zarr.open_group(str(path / PROGRESS_DIR), mode="w-", zarr_format=3)
    progress.attrs.put({"brushlab": "markers of the chunks written by an unfinished run"})
    (path / PROGRESS_DIR / "done").mkdir()
    root.attrs.put({"brushlab": {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "status": "incomplete",
        "chunks_total": layout.n_chunks, "run": dict(run), "layout": layout.to_dict(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }})


def write_chunk(path: Path, layout: OutputLayout, cid: Sequence[int],
                outputs: Mapping[str, np.ndarray]) -> None:
    """Write one chunk of every level-0 array (and of level 1 when inline), then its marker.

    ``outputs`` maps ``probabilities`` (K, *chunk), ``segmentation``, ``uncertainty``
    and ``confidence`` (*chunk) to arrays, as :func:`brushlab.classifier.derive_outputs`.
    """
    import zarr

    frame, region = int(cid[0]), layout.region(cid)
    lead = (frame,) if layout.has_t else ()
    levels = [0]
    if inline_level_1(layout):
        levels.append(1)
        step = pyramid(layout)[1][0]
        region_1 = tuple(slice(r.start // s, -(-r.stop // s)) for r, s in zip(region, step))
        shape_1 = [r.stop - r.start for r in region_1]
    for role, (group_path, _, _) in _arrays(layout).items():
        if role == "segmentation":
            planes = [outputs["segmentation"]]
        else:
            planes = list(outputs.get("probabilities", []))
            planes += [outputs[name] for name in ("uncertainty", "confidence") if name in outputs]
        for level in levels:
            array = zarr.open_array(str(path / group_path / str(level)), mode="r+")
            for k, plane in enumerate(planes):  # one whole Zarr chunk per channel
                index = lead if role == "segmentation" else (*lead, k)
                if level == 0:
                    array[(*index, *region)] = plane
                else:
                    reduced = _reduce(plane, step, shape_1, mode=role == "segmentation")
                    array[(*index, *region_1)] = reduced
    mark_done(path, cid)


# -- pyramid --------------------------------------------------------------------------


def pyramid(layout: OutputLayout) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """``(cumulative factors, spatial shape)`` per level, level 0 first.

    Levels are added while ``y`` or ``x`` exceeds one chunk.
    """
    dims = layout.spatial_dims
    planar = [i for i, d in enumerate(dims) if d in ("y", "x")]
    factors, shape = [1] * len(dims), list(layout.shape)
    levels = [(tuple(factors), tuple(shape))]
    while any(shape[i] > layout.chunks[i] for i in planar):
        finest = min(layout.spacing[i] * factors[i] for i in planar)
        for i, dim in enumerate(dims):
            coarse_z = dim == "z" and layout.spacing[i] * factors[i] > finest * (1 + 1e-6)
            if shape[i] > 1 and not coarse_z:
                factors[i] *= 2
                shape[i] = -(-shape[i] // 2)
        levels.append((tuple(factors), tuple(shape)))
    return levels


def pyramid_tasks(layout: OutputLayout) -> list[tuple[int, tuple[int, ...]]]:
    """``(level, (frame, *chunk index))`` of every chunk the pyramid pass computes, in order."""
    levels = pyramid(layout)
    tasks = []
    for level in range(2 if inline_level_1(layout) else 1, len(levels)):
        grid = [-(-n // c) for n, c in zip(levels[level][1], level_chunks(layout, level))]
        tasks += [(level, tuple(int(i) for i in idx)) for idx in np.ndindex(layout.n_frames, *grid)]
    return tasks


def downsample_chunk(path: Path, layout: OutputLayout, level: int, cid: Sequence[int]) -> None:
    """Compute chunk ``cid`` of pyramid ``level`` from ``level - 1`` (which must be complete)."""
    import zarr

    levels = pyramid(layout)
    step = tuple(a // b for a, b in zip(levels[level][0], levels[level - 1][0]))
    shape, prev_shape = levels[level][1], levels[level - 1][1]
    chunks = level_chunks(layout, level)
    region = [slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(cid[1:], chunks, shape)]
    frame = int(cid[0])
    for role, (group_path, channels, dtype) in _arrays(layout).items():
        src = zarr.open_array(str(path / group_path / str(level - 1)), mode="r")
        dst = zarr.open_array(str(path / group_path / str(level)), mode="r+")
        lead = (frame,) if layout.has_t else ()
        planes = range(len(layout.channels)) if channels else [None]
        # A first-axis slab at a time keeps the input read at once near _SLAB_BYTES.
        row_bytes = dtype.itemsize * math.prod((r.stop - r.start) * s
                                               for r, s in zip(region[1:], step[1:]))
        rows = max(1, _SLAB_BYTES // max(1, row_bytes * step[0]))
        for k in planes:
            index = (*lead, k) if k is not None else lead
            out = np.empty([r.stop - r.start for r in region], dtype=dtype)
            for a in range(region[0].start, region[0].stop, rows):
                sub = [slice(a, min(a + rows, region[0].stop)), *region[1:]]
                src_region = tuple(slice(r.start * s, min(r.stop * s, n))
                                   for r, s, n in zip(sub, step, prev_shape))
                data = np.asarray(src[(*index, *src_region)])
                reduced = _reduce(data, step, [r.stop - r.start for r in sub],
                                  mode=role == "segmentation")
                out[a - region[0].start: a - region[0].start + len(reduced)] = reduced
            dst[(*index, *region)] = out


def _reduce(data: np.ndarray, step: Sequence[int], shape: Sequence[int], *,
            mode: bool) -> np.ndarray:
    """Mean (floats) or most frequent value (labels) of each ``step`` window, edges repeated."""
    pad = [(0, n * s - m) for n, s, m in zip(shape, step, data.shape)]
    if any(p for _, p in pad):
        data = np.pad(data, pad, mode="edge")
    # One strided view per position in the window: a few passes over the data, no sorting.
    views = [data[tuple(slice(o, None, s) for o, s in zip(offset, step))]
             for offset in itertools.product(*(range(s) for s in step))]
    if not mode:
        total = views[0].astype(np.float32)
        for view in views[1:]:
            total += view
        total *= np.float32(1 / len(views))
        return total
    best = np.zeros(tuple(shape), dtype=data.dtype)
    best_count = np.zeros(tuple(shape), dtype=np.uint8)
    for value in np.flatnonzero(np.bincount(data.ravel())):  # ties go to the smaller label
        count = np.zeros(tuple(shape), dtype=np.uint8)
        for view in views:
            count += view == value
        better = count > best_count
        best[better], best_count[better] = value, count[better]
    return best


# -- completing -----------------------------------------------------------------------


def _multiscales(layout: OutputLayout, name: str, *, channels: bool) -> dict[str, Any]:
    lead = (1 if layout.has_t else 0) + (1 if channels else 0)
    datasets = []
    for level, (factors, _) in enumerate(pyramid(layout)):
        scale = [s * f for s, f in zip(layout.spacing, factors)]
        # Level pixel i covers level-0 pixels f*i .. f*i + f - 1: its centre is (f-1)/2 on.
        shift = [s * (o + (f - 1) / 2) for s, o, f in zip(layout.spacing, layout.offset, factors)]
        datasets.append({"path": str(level), "coordinateTransformations": [
            {"type": "scale", "scale": [1.0] * lead + scale},
            {"type": "translation", "translation": [0.0] * lead + shift},
        ]})
    return {"name": name, "axes": _image_axes(layout, channels=channels), "datasets": datasets}


def _label_metadata(layout: OutputLayout, *, source: str | None) -> dict[str, Any]:
    colors = [{"label-value": k, "rgba": [*palette_rgb(k)[-1], 255] if k else [0, 0, 0, 0]}
              for k in range(len(layout.class_names) + 1)]
    properties = [{"label-value": k, "class": name}
                  for k, name in enumerate(layout.class_names, start=1)]
    meta: dict[str, Any] = {"version": NGFF_VERSION, "colors": colors, "properties": properties}
    if source is not None:
        meta["source"] = {"image": source}
    return meta


def finish_output(path: Path, layout: OutputLayout, summary: Mapping[str, Any]) -> None:
    """Write the NGFF metadata and mark the output complete (the last step of a run)."""
    root_attrs = read_attributes(path) or {}
    info = dict(root_attrs.get("brushlab", {}))
    ome: dict[str, Any] = {"version": NGFF_VERSION}
    if layout.image_is_segmentation:
        ome["multiscales"] = [_multiscales(layout, "segmentation", channels=False)]
        ome["image-label"] = _label_metadata(layout, source=None)
    else:
        ome["multiscales"] = [_multiscales(layout, "prediction", channels=True)]
        ome["omero"] = omero_channels(layout.channels)  # probabilities etc.: 0..1
        if layout.segmentation:
            seg_path = path / LABELS_PATH
            _update_attributes(seg_path, {"ome": {
                "version": NGFF_VERSION,
                "multiscales": [_multiscales(layout, "segmentation", channels=False)],
                "image-label": _label_metadata(layout, source="../../"),
            }})
            _update_attributes(seg_path.parent, {"ome": {"version": NGFF_VERSION,
                                                         "labels": ["segmentation"]}})
    info.update(status="complete", finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), **summary)
    _update_attributes(path, {**root_attrs, "ome": ome, "brushlab": info})  # the commit point
    remove_progress(path)


def remove_progress(path: Path) -> None:
    """Delete the per-chunk markers of a complete output."""
    shutil.rmtree(path / PROGRESS_DIR, ignore_errors=True)
