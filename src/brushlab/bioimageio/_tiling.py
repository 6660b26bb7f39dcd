"""Tile an image through a model of fixed or parameterized input size and stitch the outputs.

Per spatial axis a tile has the input size ``S`` the model accepts (fixed, or
``min + n * step``) and a margin ``m`` on each side: the model's own crop (an
output smaller than its input) plus the halo (declared by the model, or the
user's ``border``, as ZEISS Intellesis calls it). Tiles step by ``core = S - 2 m``
and keep only their core, so each output pixel comes from a tile where it has
``m`` pixels of real context: tiles join without seams. Outside the image the
input is mirrored (``numpy.pad(mode="symmetric")``, as brushlab's features), by
global coordinate, so every tiling sees the same padded image.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from brushlab._core.tiling import _mirror
from brushlab.bioimageio._axes import AxisInfo, TensorInfo
from brushlab.errors import ModelPackageError

__all__ = ["AxisPlan", "plan_tiles", "run_tiled", "DEFAULT_CORE"]

DEFAULT_CORE = {"z": 64, "y": 1024, "x": 1024}


@dataclass(frozen=True)
class AxisPlan:
    """How one spatial axis is cut: tile input size, margin per side and tile starts."""

    id: str
    n: int
    size: int
    margin: int
    starts: tuple[int, ...]

    @property
    def core(self) -> int:
        """Output pixels each tile contributes (before clipping at the image end)."""
        return self.size - 2 * self.margin


def _valid_size(axis: AxisInfo, want: int) -> int:
    if axis.size is not None:
        return int(axis.size)
    if axis.min is not None and axis.step:
        return int(axis.min + axis.step * max(0, math.ceil((want - axis.min) / axis.step)))
    return max(int(want), int(axis.min or 1))


def margins(inp: TensorInfo, outputs: Sequence[TensorInfo]) -> dict[str, tuple[int, int]]:
    """Per input space axis: (model crop per side, declared halo) over all outputs."""
    out: dict[str, tuple[int, int]] = {a.id: (0, 0) for a in inp.space_axes}
    for t in outputs:
        for a in t.space_axes:
            if a.ref is None or a.ref[0] != inp.id or a.ref[1] not in out:
                continue
            if a.offset > 0:
                raise ModelPackageError(
                    f"output {t.id!r} axis {a.id!r} is larger than its input (offset {a.offset}); "
                    "brushlab tiles models whose outputs are as large or smaller"
                )
            crop, halo = out[a.ref[1]]
            out[a.ref[1]] = (max(crop, (-a.offset) // 2), max(halo, a.halo))
    return out


def plan_tiles(
    inp: TensorInfo,
    outputs: Sequence[TensorInfo],
    shape: Mapping[str, int],
    *,
    tile_shape: Mapping[str, int] | None = None,
    border: Mapping[str, int] | None = None,
) -> list[AxisPlan]:
    """Cut the image's spatial ``shape`` into tiles the model ``inp`` accepts.

    Parameters
    ----------
    inp, outputs : TensorInfo
        The model's input and outputs.
    shape : mapping
        Image size per space axis id.
    tile_shape : mapping, optional
        Wanted output pixels per tile and axis (default: whole axis up to 1024 for
        y/x, 64 for z; fixed-size models use what their size leaves).
    border : mapping, optional
        Context pixels per side instead of the declared halo.

    Returns
    -------
    list of AxisPlan
        In the input tensor's space-axis order.
    """
    crops = margins(inp, outputs)
    plans: dict[str, AxisPlan] = {}
    space = inp.space_axes
    for a in sorted(space, key=lambda ax: ax.ref is not None):
        n = int(shape[a.id])
        crop, halo = crops[a.id]
        if border is not None and a.id in border:
            halo = int(border[a.id])
        m = crop + halo
        if a.ref is not None and a.ref[0] == inp.id and a.ref[1] in plans:
            size = plans[a.ref[1]].size + a.offset
        else:
            wanted = (tile_shape or {}).get(a.id) or DEFAULT_CORE.get(a.id, 1024)
            size = _valid_size(a, min(n, int(wanted)) + 2 * m)
        if size - 2 * m < 1:
            raise ModelPackageError(
                f"the model's input {inp.id!r} takes {size} pixels along {a.id!r}, too few for a "
                f"margin of {m} on each side: pass a smaller border= (or none)"
            )
        core = size - 2 * m
        starts = tuple(-m + i * core for i in range(max(1, math.ceil(n / core))))
        plans[a.id] = AxisPlan(a.id, n, size, m, starts)
    return [plans[a.id] for a in space]


def _take(block: np.ndarray, axis: int, lo: int, hi: int, n: int) -> np.ndarray:
    if lo >= 0 and hi <= n:
        index: list[Any] = [slice(None)] * block.ndim
        index[axis] = slice(lo, hi)
        return block[tuple(index)]
    return np.take(block, _mirror(np.arange(lo, hi), n), axis=axis)


def run_tiled(
    run: Callable[[np.ndarray], Mapping[str, np.ndarray]],
    sample: np.ndarray,
    inp: TensorInfo,
    outputs: Sequence[TensorInfo],
    plans: Sequence[AxisPlan],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Run ``run`` on every tile of ``sample`` and stitch each output.

    Parameters
    ----------
    run : callable
        Tile (in ``inp``'s axis order) -> {output id: array in that output's order}.
    sample : numpy.ndarray
        The preprocessed input in ``inp``'s axis order.
    inp, outputs, plans
        From the description and :func:`plan_tiles`.
    progress : callable, optional
        ``progress(done, total)`` after each tile.

    Returns
    -------
    dict
        Output id -> stitched array, space axes as large as the image.
    """
    ids = inp.axis_ids
    space_pos = {p.id: ids.index(p.id) for p in plans}
    grids = [list(enumerate(p.starts)) for p in plans]
    total = int(np.prod([len(g) for g in grids]))
    stitched: dict[str, np.ndarray] = {}
    for done, combo in enumerate(itertools.product(*grids), start=1):
        block = sample
        for plan, (_, start) in zip(plans, combo):
            block = _take(block, space_pos[plan.id], start, start + plan.size, plan.n)
        results = run(block)
        for t in outputs:
            arr = np.asarray(results[t.id])
            if t.id not in stitched:
                stitched[t.id] = _allocate(arr, t, inp, plans)
            _place(stitched[t.id], arr, t, inp, plans, combo)
        if progress is not None:
            progress(done, total)
    return stitched


def _out_axes(t: TensorInfo, inp: TensorInfo, plans: Sequence[AxisPlan]) -> list[AxisPlan | None]:
    by_id = {p.id: p for p in plans}
    found: list[AxisPlan | None] = []
    for a in t.axes:
        plan = None
        if a.type == "space":
            if a.ref is not None and a.ref[0] == inp.id:
                plan = by_id.get(a.ref[1])
            elif a.size is not None and a.id in by_id and by_id[a.id].size == a.size:
                plan = by_id[a.id]  # a fixed output as large as the fixed input
            if plan is None and math.prod(len(p.starts) for p in plans) > 1:
                raise ModelPackageError(
                    f"output {t.id!r} axis {a.id!r} does not follow an input axis, so brushlab "
                    "cannot stitch it from tiles: give an image the model takes in one piece"
                )
        found.append(plan)
    return found


def _allocate(
    arr: np.ndarray, t: TensorInfo, inp: TensorInfo, plans: Sequence[AxisPlan]
) -> np.ndarray:
    shape = [p.n if p is not None else s for p, s in zip(_out_axes(t, inp, plans), arr.shape)]
    return np.zeros(shape, dtype=arr.dtype)


def _place(
    full: np.ndarray,
    arr: np.ndarray,
    t: TensorInfo,
    inp: TensorInfo,
    plans: Sequence[AxisPlan],
    combo: Sequence[tuple[int, int]],
) -> None:
    start_of = {p.id: start for p, (_, start) in zip(plans, combo)}
    src: list[slice] = []
    dst: list[slice] = []
    for a, plan in zip(t.axes, _out_axes(t, inp, plans)):
        if plan is None:
            src.append(slice(None))
            dst.append(slice(None))
            continue
        s = start_of[plan.id]
        shift = (-a.offset) // 2 if a.ref is not None else 0  # output j <-> input j + shift
        g0 = s + plan.margin
        g1 = min(g0 + plan.core, plan.n)
        src.append(slice(g0 - s - shift, g1 - s - shift))
        dst.append(slice(g0, g1))
    full[tuple(dst)] = arr[tuple(src)]
