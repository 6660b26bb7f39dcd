"""OME-Zarr (NGFF 0.5) metadata brushlab writes, and the single-scale image writer.

One convention for every Zarr brushlab writes: :func:`brushlab.write_image` (one
level) and blockwise prediction (a pyramid, :mod:`brushlab.io.ome_zarr`) both name
axes with :func:`ngff_axes` (``t, c, z, y, x`` order, ``unit`` on spatial axes) and
channels with :func:`omero_channels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brushlab.io._dims import spacing_of

__all__ = ["NGFF_VERSION", "NGFF_ORDER", "ngff_axes", "omero_channels", "write_ngff_image"]

NGFF_VERSION = "0.5"
NGFF_ORDER = ("t", "c", "z", "y", "x")  # NGFF: time, then channel, then space
_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
_CHUNK = {"z": 16, "y": 512, "x": 512}


def ngff_axes(dims: Sequence[str], unit: str) -> list[dict[str, Any]]:
    """Return NGFF ``axes`` for ``dims`` (in NGFF order); spatial axes carry ``unit``.

    Examples
    --------
    >>> ngff_axes(("c", "y", "x"), "micrometer")[:2]
    [{'name': 'c', 'type': 'channel'}, {'name': 'y', 'type': 'space', 'unit': 'micrometer'}]
    """
    axes = []
    for dim in dims:
        axis: dict[str, Any] = {"name": dim, "type": _TYPES[dim]}
        if _TYPES[dim] == "space" and unit != "pixel":
            axis["unit"] = unit
        axes.append(axis)
    return axes


def omero_channels(names: Sequence[str],
                   windows: Sequence[tuple[float, float]] | None = None) -> dict[str, Any]:
    """Return NGFF ``omero`` metadata naming each channel (display window per channel).

    Examples
    --------
    >>> omero_channels(["cell"])["channels"][0]["label"]
    'cell'
    """
    windows = windows or [(0.0, 1.0)] * len(names)
    return {"channels": [{"label": str(name), "color": "FFFFFF", "active": True,
                          "window": {"start": lo, "end": hi, "min": lo, "max": hi}}
                         for name, (lo, hi) in zip(names, windows, strict=True)],
            "rdefs": {"model": "greyscale"}}


def channel_names(image: xr.DataArray) -> list[str] | None:
    """Names of the channels of ``image`` (its ``c`` coordinate, if strings), else None."""
    if "c" not in image.dims or "c" not in image.coords:
        return None
    names = [v.item() if hasattr(v, "item") else v for v in image.coords["c"].values]
    return [str(n) for n in names] if all(isinstance(n, str) and n for n in names) else None


def write_ngff_image(folder: Path, image: xr.DataArray, *, name: str) -> None:
    """Write ``image`` (canonical, in memory) as a single-scale NGFF 0.5 image at ``folder``.

    The root group holds ``ome.multiscales`` with the axes and a ``scale`` transform
    carrying the spacing, and ``ome.omero`` when the channels have names; level ``"0"``
    holds the pixels in ``t, c, z, y, x`` order.
    """
    import zarr

    order = [dim for dim in NGFF_ORDER if dim in image.dims]
    values = np.ascontiguousarray(image.transpose(*order).values)
    spacing = spacing_of(image)
    scale = [float(spacing.get(dim, 1.0)) for dim in order]
    chunks = tuple(min(n, _CHUNK.get(dim, 1)) for dim, n in zip(order, values.shape, strict=True))
    multiscale = {"name": name, "axes": ngff_axes(order, str(image.attrs.get("unit", "pixel"))),
                  "datasets": [{"path": "0", "coordinateTransformations": [
                      {"type": "scale", "scale": scale}]}]}
    ome: dict[str, Any] = {"version": NGFF_VERSION, "multiscales": [multiscale]}
    names = channel_names(image)
    if names is not None:
        planes = np.moveaxis(values, order.index("c"), 0).reshape(len(names), -1)
        ome["omero"] = omero_channels(
            names, [(float(p.min()), float(p.max())) for p in planes])
    group = zarr.open_group(str(folder), mode="w-", zarr_format=3)
    array = group.create_array("0", shape=values.shape, dtype=values.dtype, chunks=chunks,
                               dimension_names=order)
    array[...] = values
    group.attrs.put({"ome": ome})  # last: a viewer sees the image only once it is whole
