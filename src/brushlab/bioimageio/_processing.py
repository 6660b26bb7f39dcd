"""The pre- and postprocessing operations of BioImage Model Zoo descriptions (format 0.5).

Operations act on ``xarray.DataArray`` tensors whose dims are the description's
axis ids, so ``axes``/``axis`` arguments name dims directly. Statistics
(``zero_mean_unit_variance``, ``scale_range``, percentiles of ``clip``,
``scale_mean_variance``) are taken over the whole tensor given, never per tile:
brushlab preprocesses the whole image before tiling and postprocesses the
stitched output, so tiled and untiled predictions see the same statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from brushlab.errors import ModelPackageError

__all__ = ["apply_processing", "PREPROCESSING", "POSTPROCESSING", "check_processing"]

PREPROCESSING = (
    "binarize",
    "clip",
    "ensure_dtype",
    "fixed_zero_mean_unit_variance",
    "scale_linear",
    "scale_range",
    "sigmoid",
    "softmax",
    "zero_mean_unit_variance",
)
POSTPROCESSING = (*PREPROCESSING, "scale_mean_variance")


def _kw(op: Any) -> Any:
    return getattr(op, "kwargs", None)


def _reduce_dims(x: xr.DataArray, axes: Sequence[Any] | None) -> list[str]:
    if axes is None:
        return [str(d) for d in x.dims]
    dims = [str(a) for a in axes]
    missing = [d for d in dims if d not in x.dims]
    if missing:
        raise ModelPackageError(f"processing names axes {missing} the tensor {list(x.dims)} lacks")
    return dims


def _along(x: xr.DataArray, axis: Any, values: Any) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, dtype=np.float64), dims=[str(axis)])


def _values(x: xr.DataArray, kw: Any, name: str) -> Any:
    v = getattr(kw, name)
    axis = getattr(kw, "axis", None)
    if axis is not None and isinstance(v, (list, tuple)):
        return _along(x, axis, v)
    return float(v)


def _binarize(x: xr.DataArray, kw: Any, ref: Mapping[str, xr.DataArray]) -> xr.DataArray:
    return (x > _values(x, kw, "threshold")).astype(np.float32)


def _clip(x: xr.DataArray, kw: Any, ref: Mapping[str, xr.DataArray]) -> xr.DataArray:
    dims = _reduce_dims(x, getattr(kw, "axes", None))
    lo: Any = kw.min
    hi: Any = kw.max
    # bioimageio.core takes clip percentiles as the "inverted_cdf" quantile (a value of
    # the tensor), unlike scale_range's interpolated ones; packages' test outputs follow it.
    if getattr(kw, "min_percentile", None) is not None:
        lo = x.quantile(kw.min_percentile / 100.0, dim=dims, method="inverted_cdf")
        lo = lo.drop_vars("quantile")
    if getattr(kw, "max_percentile", None) is not None:
        hi = x.quantile(kw.max_percentile / 100.0, dim=dims, method="inverted_cdf")
        hi = hi.drop_vars("quantile")
    out = x
    if lo is not None:
        out = out.where(out >= lo, lo)
    if hi is not None:
        out = out.where(out <= hi, hi)
    return out.astype(x.dtype)


def _ensure_dtype(x: xr.DataArray, kw: Any, ref: Mapping[str, xr.DataArray]) -> xr.DataArray:
    return x.astype(np.dtype(str(kw.dtype)))


def _fixed_zmuv(x: xr.DataArray, kw: Any, ref: Mapping[str, xr.DataArray]) -> xr.DataArray:
    return (x - _values(x, kw, "mean")) / _values(x, kw, "std")


def _scale_linear(x: xr.DataArray, kw: Any, ref: Mapping[str, xr.DataArray]) -> xr.DataArray:
    return x * _values(x, kw, "gain") + _values(x, kw, "offset")


def _scale_range(x: xr.DataArray, kw: Any, ref: Mapping[str, xr.DataArray]) -> xr.DataArray:
    source = x
    ref_id = getattr(kw, "reference_tensor", None)
    if ref_id is not None:
        if str(ref_id) not in ref:
            raise ModelPackageError(f"scale_range refers to an unknown tensor {str(ref_id)!r}")
        source = ref[str(ref_id)]
    dims = _reduce_dims(source, getattr(kw, "axes", None))
    src = source.astype(np.float64)
    lo = src.quantile(kw.min_percentile / 100.0, dim=dims).drop_vars("quantile")
    hi = src.quantile(kw.max_percentile / 100.0, dim=dims).drop_vars("quantile")
    return (x - lo) / (hi - lo + kw.eps)


def _exp(x: xr.DataArray) -> xr.DataArray:
    # apply_ufunc rather than xr.ufuncs, which xarray 2023.1 (the floor) lacks
    out: xr.DataArray = xr.apply_ufunc(np.exp, x)
    return out


def _sigmoid(x: xr.DataArray, kw: Any, ref: Mapping[str, xr.DataArray]) -> xr.DataArray:
    return 1.0 / (1.0 + _exp(-x))


def _softmax(x: xr.DataArray, kw: Any, ref: Mapping[str, xr.DataArray]) -> xr.DataArray:
    axis = str(getattr(kw, "axis", "channel"))
    if axis not in x.dims:
        raise ModelPackageError(
            f"softmax over axis {axis!r}, which the tensor {list(x.dims)} lacks"
        )
    e = _exp(x - x.max(dim=axis))
    return e / e.sum(dim=axis)


def _zmuv(x: xr.DataArray, kw: Any, ref: Mapping[str, xr.DataArray]) -> xr.DataArray:
    dims = _reduce_dims(x, getattr(kw, "axes", None))
    x64 = x.astype(np.float64)
    return (x - x64.mean(dim=dims)) / (x64.std(dim=dims) + kw.eps)


def _scale_mean_variance(x: xr.DataArray, kw: Any, ref: Mapping[str, xr.DataArray]) -> xr.DataArray:
    ref_id = str(kw.reference_tensor)
    if ref_id not in ref:
        raise ModelPackageError(f"scale_mean_variance refers to an unknown tensor {ref_id!r}")
    reference = ref[ref_id].astype(np.float64)
    dims = _reduce_dims(x, getattr(kw, "axes", None))
    rdims = [d for d in dims if d in reference.dims]
    x64 = x.astype(np.float64)
    mean, std = x64.mean(dim=dims), x64.std(dim=dims)
    rmean, rstd = reference.mean(dim=rdims), reference.std(dim=rdims)
    return (x - mean) / (std + kw.eps) * (rstd + kw.eps) + rmean


_OPS: dict[str, Callable[[xr.DataArray, Any, Mapping[str, xr.DataArray]], xr.DataArray]] = {
    "binarize": _binarize,
    "clip": _clip,
    "ensure_dtype": _ensure_dtype,
    "fixed_zero_mean_unit_variance": _fixed_zmuv,
    "scale_linear": _scale_linear,
    "scale_range": _scale_range,
    "sigmoid": _sigmoid,
    "softmax": _softmax,
    "zero_mean_unit_variance": _zmuv,
    "scale_mean_variance": _scale_mean_variance,
}


def check_processing(ops: Sequence[Any], *, where: str, post: bool) -> None:
    """Raise ModelPackageError naming any operation brushlab does not implement."""
    allowed = POSTPROCESSING if post else PREPROCESSING
    for op in ops:
        name = str(op.id)
        if name not in allowed:
            kind = "postprocessing" if post else "preprocessing"
            raise ModelPackageError(
                f"{where}: {kind} {name!r} is not supported by brushlab (supported: "
                f"{', '.join(allowed)}); run this model with bioimageio.core"
            )


def apply_processing(
    x: xr.DataArray, ops: Sequence[Any], reference: Mapping[str, xr.DataArray] | None = None
) -> xr.DataArray:
    """Apply ``ops`` (format-0.5 processing descriptions) in order.

    Parameters
    ----------
    x : xarray.DataArray
        Tensor with the description's axis ids as dims.
    ops : sequence
        ``bioimageio.spec`` processing descriptions (``op.id``, ``op.kwargs``).
    reference : mapping, optional
        Unprocessed tensors by id, for ``reference_tensor`` arguments.

    Returns
    -------
    xarray.DataArray
        The processed tensor; float32 unless ``ensure_dtype`` says otherwise.

    Examples
    --------
    >>> from bioimageio.spec.model.v0_5 import ScaleLinearDescr, ScaleLinearKwargs
    >>> x = xr.DataArray(np.ones((1, 2, 2), np.float32), dims=["channel", "y", "x"])
    >>> op = ScaleLinearDescr(kwargs=ScaleLinearKwargs(gain=2.0, offset=1.0))
    >>> float(apply_processing(x, [op]).max())
    3.0
    """
    refs = dict(reference or {})
    out = x
    for op in ops:
        name = str(op.id)
        if name not in _OPS:
            raise ModelPackageError(f"processing {name!r} is not supported by brushlab")
        result = _OPS[name](out, _kw(op), refs)
        if name != "ensure_dtype" and result.dtype != np.float32 and result.dtype.kind == "f":
            result = result.astype(np.float32)
        out = result.transpose(*x.dims)
    return out
