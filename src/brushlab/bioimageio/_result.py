"""From stitched model outputs to a Dataset shaped like :meth:`PixelClassifier.predict` results."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from brushlab.bioimageio._axes import TensorInfo
from brushlab.classifier.results import OUTPUTS, build_result
from brushlab.errors import ModelPackageError

__all__ = ["assemble", "probability_classes"]

_SAMPLE = "__sample__"
_SUM_TOLERANCE = 1e-3


def _to_image_dims(
    arr: xr.DataArray, loop: Sequence[tuple[str, int]], channel_dim: str | None, t: TensorInfo
) -> xr.DataArray:
    rest = [d for d in arr.dims if d != _SAMPLE]
    data = arr.transpose(_SAMPLE, *rest).values
    data = data.reshape(*[n for _, n in loop], *data.shape[1:]) if loop else data[0]
    out = xr.DataArray(data, dims=[d for d, _ in loop] + [str(d) for d in rest])
    channel = t.channel_axis
    if channel is not None and channel.id in out.dims:
        if channel_dim and channel_dim != channel.id:
            out = out.rename({channel.id: channel_dim})
        name = channel_dim or channel.id
        if out.sizes[name] == len(channel.channel_names):
            out = out.assign_coords({name: list(channel.channel_names)})
    lead = [d for d in out.dims if d not in ("t", "z", "y", "x")]
    image = [d for d in ("t", "z", "y", "x") if d in out.dims]
    return out.transpose(*lead, *image)


def probability_classes(
    t: TensorInfo, arr: xr.DataArray, channel_dim: str
) -> tuple[np.ndarray, list[str]] | None:
    """Class probabilities ``(K, ...)`` and class names held by output ``t``, if it holds any.

    Channels that sum to one (softmax, a brushlab forest) are classes; a single channel
    in [0, 1] (a sigmoid) is the foreground of a two-class split ``[1 - p, p]``.
    """
    if not t.space_axes or arr.dtype.kind != "f":
        return None
    values = arr.values if channel_dim in arr.dims else arr.values[None]
    if channel_dim in arr.dims:
        values = np.moveaxis(arr.values, arr.dims.index(channel_dim), 0)
    if values.size == 0 or float(values.min()) < -1e-6 or float(values.max()) > 1 + 1e-6:
        return None
    names = list(t.channel_axis.channel_names) if t.channel_axis is not None else [t.id]
    if values.shape[0] == 1:
        p = values[0].astype(np.float32)
        label = names[0] if names[0] != "background" else t.id
        return np.stack([1.0 - p, p]), ["background", label]
    sums = values.sum(axis=0, dtype=np.float64)
    if float(np.abs(sums - 1.0).max()) > _SUM_TOLERANCE:
        return None
    return values.astype(np.float32), names


def assemble(
    model: Any,
    img: xr.DataArray,
    loop: Sequence[tuple[str, int]],
    outputs: Mapping[str, xr.DataArray],
    *,
    probabilities: str | None,
) -> xr.Dataset:
    """Build the result Dataset (see :meth:`BioimageioModel.predict`).

    The class part comes from :func:`brushlab.classifier.build_result`, as for a forest.
    ``probabilities.attrs["frame_dims"]`` names the dims that objects are found per slice of
    (``t``, and ``z`` for a 2D model run on a stack): read by
    :func:`brushlab.objects.objects_from_probabilities`.
    """
    with_channels = [t for t in model.outputs if t.channel_axis is not None]
    data: dict[str, xr.DataArray] = {}
    channel_dims: dict[str, str] = {}
    for t in model.outputs:
        cdim = None
        if t.channel_axis is not None:
            cdim = "channel" if len(with_channels) == 1 else f"{t.id}_channel"
            channel_dims[t.id] = cdim
        data[t.id] = _to_image_dims(outputs[t.id], loop, cdim, t)
    if probabilities is not None and probabilities not in data:
        raise ModelPackageError(
            f"model {model.name!r} has no output {probabilities!r}; outputs: {', '.join(data)}"
        )
    found = None
    for t in model.outputs:
        if probabilities is not None and t.id != probabilities:
            continue
        found = probability_classes(t, data[t.id], channel_dims.get(t.id, "__none__"))
        if found is not None:
            source = t.id
            break
        if probabilities is not None:
            raise ModelPackageError(
                f"output {probabilities!r} of model {model.name!r} does not hold class "
                "probabilities (values in [0, 1], channels summing to one, or one channel)"
            )
    dims = [str(d) for d in img.dims if d != "c"]
    ds = xr.Dataset({name: arr for name, arr in data.items() if name not in OUTPUTS})
    if found is not None:
        proba, names = found
        counts = Counter(names)  # not names.count(): O(n^2) for 65535 classes
        unique = [n if counts[n] == 1 else f"{n} {i}" for i, n in enumerate(names)]
        ds = ds.merge(build_result(proba, class_names=unique, dims=dims))
        ds.attrs["probabilities_from"] = source
        frame_dims = [d for d in dims if d not in ("z", "y", "x")]
        if "z" in dims and model.inputs[0].axis("z") is None:
            frame_dims.append("z")  # a 2D model on a stack: objects per plane
        ds["probabilities"].attrs["frame_dims"] = frame_dims
    for d in dims:
        if d in img.coords:
            ds = ds.assign_coords({d: img.coords[d]})
    ds.attrs.update({k: v for k, v in img.attrs.items() if k in ("spacing", "unit", "source")})
    ds.attrs["model"] = model.name
    return ds
