"""Estimate the transforms of a stack: pairwise tasks on Dask, then the chain solve.

Shared by :func:`brushlab.align.align` (sections in memory) and
:func:`brushlab.align.align_blockwise` (sections read one by one from a file): the
stack is only ever touched through ``read(z) -> (C, H, W)``, so a task holds two
sections at a time whatever the stack's length.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from brushlab.align._chain import _interpolate, accept, bridges, solve_fields, solve_robust
from brushlab.align._pairwise import (
    MODELS,
    PairResult,
    estimate_pair,
    prepare,
    residual_field,
    warp_pull,
)
from brushlab.align._transforms import SectionTransforms
from brushlab.errors import AlignmentError

__all__ = ["AlignOptions", "estimate_transforms", "SectionSource"]


@dataclass(frozen=True)
class AlignOptions:
    """How to register (validated once, shared by every task)."""

    model: str = "affine"
    reference: int = 0
    neighbors: int = 2
    method: str = "blocks"
    step: int = 64
    stiffness: float = 0.05
    drift: float = 0.0
    min_score: float = 0.05
    guide: Any = None
    guide_class: int = 0

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise AlignmentError(f"model {self.model!r} is not one of {', '.join(MODELS)}")
        if self.method not in ("blocks", "features"):
            raise AlignmentError(f"method {self.method!r} is not 'blocks' or 'features'")
        if int(self.neighbors) < 1:
            raise AlignmentError(f"neighbors must be at least 1, got {self.neighbors}")
        if int(self.step) < 8:
            raise AlignmentError(f"step (elastic grid spacing) must be >= 8 pixels, "
                                 f"got {self.step}")
        if self.stiffness < 0 or self.drift < 0:
            raise AlignmentError(f"stiffness and drift must be >= 0, got {self.stiffness}, "
                                 f"{self.drift}")


class SectionSource:
    """``read(z)`` plus a small cache of registration images (each is used by a few pairs)."""

    def __init__(self, read: Callable[[int], np.ndarray], n: int, shape: tuple[int, int],
                 options: AlignOptions) -> None:
        self.read, self.n, self.shape, self.options = read, n, shape, options
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:  # workers start with an empty cache
        return {k: v for k, v in self.__dict__.items() if k not in ("_cache", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._cache, self._lock = OrderedDict(), threading.Lock()

    def registration_image(self, z: int) -> np.ndarray:
        """Return the prepared 2D image that section ``z`` is registered on."""
        with self._lock:
            if z in self._cache:
                self._cache.move_to_end(z)
                return self._cache[z]
        image = _registration_image(self.read(z), self.options)
        with self._lock:
            self._cache[z] = image
            while len(self._cache) > 4 * self.options.neighbors + 4:
                self._cache.popitem(last=False)
        return image


def _registration_image(section: np.ndarray, options: AlignOptions) -> np.ndarray:
    if options.guide is None:
        return prepare(section)
    data = np.asarray(section, dtype=np.float32)
    image = data[0] if data.shape[0] == 1 else np.moveaxis(data, 0, -1)
    result = options.guide.predict(image, outputs=("probabilities",))
    return prepare(np.asarray(result["probabilities"].values[options.guide_class]))


def _pair_task(source: SectionSource, j: int, i: int) -> PairResult:
    opts = source.options
    return estimate_pair(source.registration_image(j), source.registration_image(i),
                         model=opts.model, method=opts.method)


def _field_task(source: SectionSource, j: int, i: int, mj: np.ndarray,
                mi: np.ndarray) -> tuple[np.ndarray, float]:
    fixed = warp_pull(source.registration_image(j), mj)
    moving = warp_pull(source.registration_image(i), mi)
    ok = ~np.isnan(fixed) & ~np.isnan(moving)
    fixed = np.where(ok, fixed, 0).astype(np.float32)
    moving = np.where(np.isnan(moving), np.nan, moving).astype(np.float32)
    field = residual_field(fixed, moving, step=source.options.step)
    return field, float(ok.mean())


def _run(calls: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]], runner: Any,
         desc: str) -> list[Any]:
    """Run ``calls`` through ``runner(tasks, keys, desc)`` (dask) and return their results."""
    from dask import delayed

    token = uuid.uuid4().hex[:8]
    tasks, keys = [], []
    for k, (func, args) in enumerate(calls):
        key = f"brushlab-align-{desc}-{token}-{k}"
        tasks.append(delayed(func, pure=False)(*args, dask_key_name=key))
        keys.append(key)
    return list(runner(tasks, set(keys), desc)) if tasks else []


def estimate_transforms(source: SectionSource, runner: Any) -> SectionTransforms:
    """Register every section of ``source`` and chain the pairs to the reference."""
    opts, n = source.options, source.n
    if not 0 <= opts.reference < n:
        raise AlignmentError(f"reference={opts.reference} is not a section of this stack "
                             f"(0..{n - 1}); choose one of those")
    wanted = [(j, i) for i in range(n) for j in range(max(0, i - opts.neighbors), i)]
    pairs: dict[tuple[int, int], PairResult] = dict(
        zip(wanted, _run([(_pair_task, (source, j, i)) for j, i in wanted], runner, "pairs")))
    weights = accept(pairs, min_score=opts.min_score)
    extra = bridges(n, weights, opts.reference, set(pairs))
    if extra:  # a gap of damaged sections wider than `neighbors`: try across it once
        found = _run([(_pair_task, (source, j, i)) for j, i in extra], runner, "bridges")
        pairs.update(zip(extra, found))
        weights = accept(pairs, min_score=opts.min_score)
    drift = opts.drift
    matrices, status, weights = solve_robust(n, pairs, weights, opts.reference, source.shape,
                                             stiffness=drift)
    extra = bridges(n, weights, opts.reference, set(pairs))
    if extra:  # sections cut off by dropped pairs: try across them once
        found = _run([(_pair_task, (source, j, i)) for j, i in extra], runner, "bridges")
        pairs.update(zip(extra, found))
        weights.update(accept({k: pairs[k] for k in extra}, min_score=opts.min_score))
        matrices, status, weights = solve_robust(n, pairs, weights, opts.reference,
                                                 source.shape, stiffness=drift)
    scores = np.full(n, np.nan)
    for i in range(1, n):
        if (i - 1, i) in pairs:
            scores[i] = pairs[(i - 1, i)].score
    fields = None
    if opts.model == "elastic":
        fields = _elastic(source, matrices, status, runner)
    info = {"pairs": len(pairs), "pairs_accepted": len(weights), "neighbors": opts.neighbors,
            "method": opts.method, "stiffness": opts.stiffness,
            "methods_used": sorted({p.method for p in pairs.values()})}
    return SectionTransforms(matrices=matrices, shape=source.shape, reference=opts.reference,
                             model=opts.model, status=tuple(status), fields=fields,
                             step=opts.step if fields is not None else 0, scores=scores,
                             info=info)


def _elastic(source: SectionSource, matrices: np.ndarray, status: Sequence[str],
             runner: Any) -> np.ndarray:
    opts = source.options
    good = [z for z, s in enumerate(status) if s != "interpolated"]
    links = list(zip(good[:-1], good[1:]))
    results = _run([(_field_task, (source, j, i, matrices[j], matrices[i])) for j, i in links],
                   runner, "fields")
    ny, nx = (-(-s // opts.step) + 1 for s in source.shape)
    if not links:
        return np.zeros((source.n, 2, ny, nx), np.float32)
    fields = {link: f for link, (f, _) in zip(links, results)}
    weights = {link: max(cover, 1e-3) for link, (_, cover) in zip(links, results)}
    solved = solve_fields(source.n, fields, weights, opts.reference, opts.stiffness)
    _interpolate(solved, good)
    return solved
