"""A :class:`~brushlab.FeatureSet` as ONNX operators, computed the way brushlab computes it.

Every step follows :meth:`FeatureSet.compute_block`: the same float32 kernels
(``gaussian_kernel1d`` scaled per axis, cast to float32), the same separable
order (one 1D correlation per axis, axes in order, shared prefixes), the same
cropping per scale group and the same closed-form eigenvalues evaluated in
float64. Only the summation order inside each 1D correlation differs (ONNX
``Conv`` instead of brushlab's banded GEMMs), so features agree to float32
rounding.

The image border: brushlab extends the image by symmetric mirroring
(``numpy.pad(mode="symmetric")``). ONNX ``Pad(mode="reflect")`` is numpy's
``"reflect"`` (edge sample not repeated), so the graph mirrors with ``Gather``
on indices computed from the input shape instead, exactly as
:func:`brushlab._core.tiling._mirror` does, for any input size and any number of
reflections.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from brushlab.bioimageio._onnx_graph import GraphBuilder
from brushlab.features import DOG_RATIO as _DOG_RATIO
from brushlab.features import ST_OUTER_RATIO as _ST_OUTER_RATIO
from brushlab.features import FeatureSet, derivative_orders, gaussian_kernel1d, kernel_radius
from brushlab.features import add_orders as _add

__all__ = ["feature_graph"]

_BIG = np.iinfo(np.int64).max


def feature_graph(
    g: GraphBuilder,
    x: str,
    features: FeatureSet,
    *,
    ndim: int,
    n_channels: int,
    spacing: Sequence[float],
) -> str:
    """Add the features of ``x`` to ``g``; return the name of the feature tensor.

    Parameters
    ----------
    g : GraphBuilder
        Graph to extend.
    x : str
        Float32 input tensor ``(N, C, *spatial)``.
    features : FeatureSet
        Features to compute.
    ndim : int
        Spatial dims (2 or 3).
    n_channels : int
        Input channels ``C``.
    spacing : sequence of float
        Pixel size per spatial axis (sets the sigma per axis, as brushlab does).

    Returns
    -------
    str
        Tensor ``(N, C * F, *spatial)`` in the order of ``features.names(ndim=ndim,
        n_channels=n_channels)``.
    """
    spacing = [float(s) for s in spacing]
    halo = list(features.halo(spacing))
    # One channel per batch entry: every filter below is a single-channel Conv.
    spatial_shape = g.op("Shape", [x], start=2)
    flat_shape = g.op("Concat", [g.ints([-1, 1]), spatial_shape], axis=0)
    single = g.op("Reshape", [x, flat_shape])
    padded = mirror_pad(g, single, halo)
    slots = features._slots(ndim)
    maps: dict[int, list[str]] = {}
    for sigma, fams in features._groups():
        for (family, sig), arrays in _group(g, padded, features, sigma, fams, spacing, halo):
            maps[slots[(family, sig)]] = arrays
    ordered = [name for start in sorted(maps) for name in maps[start]]
    stack = g.op("Concat", ordered, axis=1) if len(ordered) > 1 else ordered[0]
    n = g.op("Shape", [x], start=0, end=1)
    out_shape = g.op("Concat", [n, g.ints([-1]), spatial_shape], axis=0)
    return str(g.op("Reshape", [stack, out_shape]))


def mirror_pad(g: GraphBuilder, x: str, halo: Sequence[int]) -> str:
    """Grow the trailing ``len(halo)`` axes of ``x`` by symmetric mirroring (numpy "symmetric")."""
    lead = 2  # (batch, channel) lead every tensor in this graph
    out = x
    for a, h in enumerate(halo):
        if h <= 0:
            continue
        axis = lead + a
        n = g.op("Squeeze", [g.op("Shape", [out], start=axis, end=axis + 1)])
        idx = g.op(
            "Range",
            [g.const(np.int64(-h)), g.op("Add", [n, g.const(np.int64(h))]), g.const(np.int64(1))],
        )
        period = g.op("Mul", [n, g.const(np.int64(2))])
        i = g.op("Mod", [idx, period], fmod=0)
        flipped = g.op("Sub", [g.op("Sub", [period, g.const(np.int64(1))]), i])
        j = g.op("Where", [g.op("GreaterOrEqual", [i, n]), flipped, i])
        out = g.op("Gather", [out, j], axis=axis)
    return str(out)


def _crop(g: GraphBuilder, x: str, margins: Sequence[int]) -> str:
    """Remove ``margins[a]`` samples from both ends of spatial axis ``a``."""
    axes = [2 + a for a, m in enumerate(margins) if m > 0]
    if not axes:
        return x
    starts = [m for m in margins if m > 0]
    ends = [-m for m in margins if m > 0]
    return str(g.op("Slice", [x, g.ints(starts), g.ints(ends), g.ints(axes)]))


def _correlate(
    g: GraphBuilder, x: str, kernels: list[np.ndarray], axis: int, ndim: int
) -> list[str]:
    """Correlate ``x`` (B, 1, *spatial) along spatial ``axis`` with each kernel (valid mode).

    Always a 2D ``Conv`` with a ``(K, 1)`` or ``(1, K)`` kernel: 3D volumes are
    reshaped so that the filtered axis and its neighbour form the plane. The 2D
    convolution sums each output in the same order as brushlab's banded GEMMs
    (bit-identical features in our measurements); ``Conv`` over 3D kernels does not.
    """
    klen = len(kernels[0])
    m = len(kernels)
    stacked = np.stack([np.asarray(k, dtype=np.float32) for k in kernels])
    if ndim == 2:
        shape = [m, 1, klen, 1] if axis == 0 else [m, 1, 1, klen]
        y = g.op("Conv", [x, g.const(stacked.reshape(shape), "kernel")])
    else:
        full = g.op("Shape", [x])
        if axis == 0:  # (B, 1, Z, Y*X), correlate along Z
            plane = g.op("Concat", [g.op("Shape", [x], start=0, end=3), g.ints([-1])], axis=0)
            weight = stacked.reshape(m, 1, klen, 1)
        else:  # (B*Z, 1, Y, X)
            plane = g.op("Concat", [g.ints([-1, 1]), g.op("Shape", [x], start=3)], axis=0)
            weight = stacked.reshape([m, 1, klen, 1] if axis == 1 else [m, 1, 1, klen])
        y2 = g.op("Conv", [g.op("Reshape", [x, plane]), g.const(weight, "kernel")])
        # Back to (B, m, Z', Y', X'): the filtered axis shrank by K - 1.
        shrink = np.zeros(5, dtype=np.int64)
        shrink[2 + axis] = klen - 1
        if axis == 0:
            back = g.op("Sub", [full, g.ints(shrink)])
            back = g.op("Mul", [back, g.ints([1, 0, 1, 1, 1])])
            back = g.op("Add", [back, g.ints([0, m, 0, 0, 0])])
            y = g.op("Reshape", [y2, back])
        else:
            # (B*Z, m, Y', X') -> (B, Z, m, Y', X') -> (B, m, Z, Y', X')
            dims = g.op("Sub", [full, g.ints(shrink)])
            five = g.op("Gather", [dims, g.ints([0, 2, 1, 3, 4])], axis=0)
            five = g.op("Mul", [five, g.ints([1, 1, 0, 1, 1])])
            five = g.op("Add", [five, g.ints([0, 0, m, 0, 0])])
            y = g.op("Transpose", [g.op("Reshape", [y2, five])], perm=[0, 2, 1, 3, 4])
    if m == 1:
        return [str(y)]
    return [str(s) for s in g.op("Split", [y, g.ints([1] * m)], axis=1, n_out=m)]


def _derivatives(
    g: GraphBuilder,
    x: str,
    sigmas: Sequence[float],
    orders: set[tuple[int, ...]],
    *,
    truncate: float,
    scales: Sequence[float] | None = None,
) -> dict[tuple[int, ...], str]:
    """Mirror of :func:`brushlab.features._gaussian.gaussian_derivatives` over spatial axes."""
    wanted = sorted(orders)
    ndim = len(sigmas)
    radii = [kernel_radius(s, truncate) for s in sigmas]
    level: dict[tuple[int, ...], str] = {(): x}
    for axis in range(ndim):
        nxt: dict[tuple[int, ...], str] = {}
        for prefix, arr in level.items():
            needed = sorted({o[axis] for o in wanted if o[:axis] == prefix})
            if not needed:
                continue
            if radii[axis] == 0:
                nxt[(*prefix, 0)] = arr
                continue
            kernels = []
            for order in needed:
                k = gaussian_kernel1d(float(sigmas[axis]), order, radii[axis])
                if scales is not None and order:
                    k = k * (scales[axis] ** order)
                kernels.append(np.asarray(k, dtype=np.float32))
            for order, y in zip(needed, _correlate(g, arr, kernels, axis, ndim)):
                nxt[(*prefix, order)] = y
        level = nxt
    return {o: level[o] for o in wanted}


def _group(
    g: GraphBuilder,
    padded: str,
    features: FeatureSet,
    sigma: float,
    fams: set[str],
    spacing: Sequence[float],
    halo: Sequence[int],
) -> list[tuple[tuple[str, float], list[str]]]:
    """Mirror of ``FeatureSet._group_features`` for one scale: [((family, sigma), [maps])]."""
    ndim = len(spacing)
    sig, ratios = features._axis_sigmas(sigma, spacing)
    active = [a for a in range(ndim) if sig[a] > 0]
    has_st = "structure_tensor_eigenvalues" in fams
    outer = [kernel_radius(_ST_OUTER_RATIO * s, features.truncate) if has_st else 0 for s in sig]
    ghalo = features._group_halo(sigma, fams, spacing)
    region = _crop(g, padded, [h - gh for h, gh in zip(halo, ghalo)])
    zero = (0,) * ndim
    unit = [tuple(1 if b == a else 0 for b in range(ndim)) for a in active]
    orders = derivative_orders(fams, unit, zero)
    d = _derivatives(g, region, sig, orders, truncate=features.truncate, scales=ratios)

    def inner(a: str) -> str:
        return _crop(g, a, outer)

    out: list[tuple[tuple[str, float], list[str]]] = []
    if "gaussian_smoothing" in fams:
        out.append((("gaussian_smoothing", sigma), [inner(d[zero])]))
    if "difference_of_gaussians" in fams:
        sig2 = [s * _DOG_RATIO for s in sig]
        h2 = [kernel_radius(s, features.truncate) for s in sig2]
        reg2 = _crop(g, padded, [h - r for h, r in zip(halo, h2)])
        g2 = _derivatives(g, reg2, sig2, {zero}, truncate=features.truncate)[zero]
        out.append((("difference_of_gaussians", sigma), [g.op("Sub", [inner(d[zero]), g2])]))
    if "laplacian_of_gaussian" in fams:
        out.append(
            (("laplacian_of_gaussian", sigma), [_sum(g, [inner(d[_add(u, u)]) for u in unit])])
        )
    if "gaussian_gradient_magnitude" in fams:
        squares = [g.op("Mul", [inner(d[u]), inner(d[u])]) for u in unit]
        out.append((("gaussian_gradient_magnitude", sigma), [g.op("Sqrt", [_sum(g, squares)])]))
    if has_st:
        osig = [s * _ST_OUTER_RATIO for s in sig]
        pairs = [(i, j) for i in range(len(active)) for j in range(i, len(active))]
        prods = {}
        for i, j in pairs:
            p = g.op("Mul", [d[unit[i]], d[unit[j]]])
            prods[(i, j)] = _derivatives(g, p, osig, {zero}, truncate=features.truncate)[zero]
        out.append((("structure_tensor_eigenvalues", sigma), eigenvalues(g, prods, len(active))))
    if "hessian_of_gaussian_eigenvalues" in fams:
        hess = {
            (i, j): inner(d[_add(unit[i], unit[j])])
            for i in range(len(active))
            for j in range(i, len(active))
        }
        out.append((("hessian_of_gaussian_eigenvalues", sigma), eigenvalues(g, hess, len(active))))
    return out


def _sum(g: GraphBuilder, terms: list[str]) -> str:
    # Left to right, as Python's sum() in brushlab (0 + a is exact).
    acc = terms[0]
    for t in terms[1:]:
        acc = g.op("Add", [acc, t])
    return str(acc)


def eigenvalues(g: GraphBuilder, elements: dict[tuple[int, int], str], ndim: int) -> list[str]:
    """Mirror of :func:`brushlab.features._eigen.symmetric_eigenvalues` (float64 inside)."""
    from onnx import TensorProto

    if ndim == 1:
        return [elements[0, 0]]

    def f64(name: str) -> str:
        return str(g.op("Cast", [name], to=TensorProto.DOUBLE))

    def f32(name: str) -> str:
        return str(g.op("Cast", [name], to=TensorProto.FLOAT))

    def c(v: float) -> str:
        return g.scalar(v, np.float64)

    def mul(a: str, b: str) -> str:
        return str(g.op("Mul", [a, b]))

    def add(a: str, b: str) -> str:
        return str(g.op("Add", [a, b]))

    def sub(a: str, b: str) -> str:
        return str(g.op("Sub", [a, b]))

    if ndim == 2:
        a00, a01, a11 = (f64(elements[k]) for k in ((0, 0), (0, 1), (1, 1)))
        mean = mul(c(0.5), add(a00, a11))
        half = mul(c(0.5), sub(a00, a11))
        d = str(g.op("Sqrt", [add(mul(half, half), mul(a01, a01))]))
        return [f32(add(mean, d)), f32(sub(mean, d))]
    a00, a11, a22, a01, a02, a12 = (
        f64(elements[k]) for k in ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))
    )
    q = g.op("Div", [add(add(a00, a11), a22), c(3.0)])
    b00, b11, b22 = sub(a00, q), sub(a11, q), sub(a22, q)
    p1 = add(add(mul(a01, a01), mul(a02, a02)), mul(a12, a12))
    s = add(add(add(mul(b00, b00), mul(b11, b11)), mul(b22, b22)), mul(c(2.0), p1))
    p = str(g.op("Sqrt", [g.op("Div", [s, c(6.0)])]))
    safe = str(g.op("Where", [g.op("Greater", [p, c(0.0)]), p, c(1.0)]))
    # numpy evaluates b00*(..) - a01*(..) + a02*(..) left to right; keep that order.
    det = add(
        sub(
            mul(b00, sub(mul(b11, b22), mul(a12, a12))), mul(a01, sub(mul(a01, b22), mul(a12, a02)))
        ),
        mul(a02, sub(mul(a01, a12), mul(b11, a02))),
    )
    cube = mul(mul(safe, safe), safe)
    r = g.op("Div", [det, mul(c(2.0), cube)])
    r = g.op("Max", [g.op("Min", [r, c(1.0)]), c(-1.0)])
    phi = g.op("Div", [_acos64(g, str(r)), c(3.0)])
    two_p = mul(c(2.0), p)
    e0 = add(q, mul(two_p, str(g.op("Cos", [phi]))))
    e2 = add(q, mul(two_p, str(g.op("Cos", [add(phi, c(2.0 * np.pi / 3.0))]))))
    e1 = sub(sub(mul(c(3.0), q), e0), e2)
    return [f32(e0), f32(e1), f32(e2)]


def _acos64(g: GraphBuilder, r: str) -> str:
    """Arccos in float64: onnxruntime has Acos for float32 only, so refine that with Newton.

    Two steps on ``cos(t) = r`` take the float32 start to float64 accuracy; where
    ``sin(t)`` is tiny (r near +-1) the step is skipped, and there the eigenvalues
    depend on ``cos(t / 3)``, which is flat in ``t``.
    """
    from onnx import TensorProto

    t = g.op(
        "Cast", [g.op("Acos", [g.op("Cast", [r], to=TensorProto.FLOAT)])], to=TensorProto.DOUBLE
    )
    for _ in range(2):
        s = g.op("Sin", [t])
        ok = g.op("Greater", [g.op("Abs", [s]), g.scalar(1e-4, np.float64)])
        safe = g.op("Where", [ok, s, g.scalar(1.0, np.float64)])
        step = g.op("Div", [g.op("Sub", [g.op("Cos", [t]), r]), safe])
        t = g.op("Add", [t, g.op("Where", [ok, step, g.scalar(0.0, np.float64)])])
    return str(t)
