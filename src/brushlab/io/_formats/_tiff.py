"""TIFF (BigTIFF, OME-TIFF, ImageJ): the first series, opened lazily through tifffile."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brushlab.io._dims import SPATIAL, merge_units, metadata_dims, unit_name
from brushlab.io._formats._base import FileImage, StoredArray

__all__ = ["TiffArray", "open_tiff"]

_TIFF_AXES = {"T": "t", "Z": "z", "Y": "y", "X": "x", "C": "c", "S": "c"}
_MARKER = re.compile(r"brushlab_dims=([tzyxc]+)")
_RESOLUTION_UNITS = {3: 1e4, 4: 1e3, 5: 1.0}  # centimeter, millimeter, micrometer -> um


@dataclass(frozen=True)
class TiffArray(StoredArray):
    """Series ``int(key)`` of a TIFF file."""

    kind = "tiff"

    def read(self) -> np.ndarray:
        """Read the whole series (faster than through the Zarr view)."""
        import tifffile

        with tifffile.TiffFile(self.path) as tif:
            return np.asarray(tif.series[int(self.key)].asarray()).reshape(self.shape)

    def _region(self, index: Any) -> Any:
        stat = os.stat(self.path)
        return _zarr_view(self.path, int(self.key), (stat.st_ino, stat.st_mtime_ns,
                                                     stat.st_size))[index]


@functools.lru_cache(maxsize=8)
def _zarr_view(path: str, series: int, stamp: tuple[int, int, int]) -> Any:
    """Open once per process and file version: parsing a BigTIFF's pages is not free."""
    import tifffile
    import zarr

    tif = tifffile.TiffFile(path)  # stays open with the cached store
    return zarr.open(tif.series[series].aszarr(level=0), mode="r")


def open_tiff(path: Path, key: str = "") -> FileImage:
    """Open the first series of a TIFF: axes, spacing and unit from OME, ImageJ or tifffile."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        axes, shape, dtype = series.axes, tuple(int(s) for s in series.shape), series.dtype
        spacing, unit, marker = _tiff_metadata(tif)
    names = [_TIFF_AXES.get(axis, "") for axis in axes]
    unknown = [a for a, n, s in zip(axes, names, shape, strict=True) if not n and s > 1]
    drop = tuple(i for i, (n, s) in enumerate(zip(names, shape, strict=True)) if not n and s == 1)
    kept = tuple(s for i, s in enumerate(shape) if i not in drop)
    where = f"{path} (TIFF axes {axes!r})"
    virtual: tuple[str, ...] = ()
    dims: tuple[str, ...] | None
    error: str | None
    if unknown:
        dims, error = None, (f"{where} has axes {unknown} (shape {kept}) that do not map to "
                             f"t, z, y, x, c; name every axis, e.g. "
                             f"dims={'tczyx'[-len(kept):]!r}")
    else:
        dims, error = metadata_dims([n for n in names if n], kept, where)
        if dims is not None and isinstance(marker, str) and set(dims) <= set(marker):
            virtual = tuple(dim for dim in marker if dim not in dims)  # squeezed by tifffile
            dims = dims + virtual
    array = TiffArray(str(path), "0", shape, np.dtype(dtype))
    return FileImage(array, "TIFF", dims, error, drop, virtual, spacing, unit_name(unit))


def _tiff_metadata(tif: Any) -> tuple[dict[str, float], str, Any]:
    """Spacing, unit and brushlab's dims marker from OME, ImageJ or tifffile metadata."""
    if tif.is_ome:
        return _ome_tiff_metadata(tif.ome_metadata or "")
    first = tif.pages.first
    if tif.is_imagej:
        meta = tif.imagej_metadata or {}
        spacing = _resolution(first, 1.0)
        if meta.get("spacing"):
            spacing["z"] = float(meta["spacing"])
        return spacing, meta.get("unit", "pixel"), meta.get("brushlab_dims")
    shaped: dict[str, Any] = (tif.shaped_metadata or ({},))[0] if tif.is_shaped else {}
    if isinstance(shaped.get("brushlab"), dict):
        meta = shaped["brushlab"]
        return dict(meta.get("spacing", {})), meta.get("unit", "pixel"), meta.get("dims")
    scale = _RESOLUTION_UNITS.get(int(first.tags.valueof(296, 2)))  # inch: 72 dpi noise
    spacing = _resolution(first, scale) if scale else {}
    return spacing, "micrometer" if spacing else "pixel", None


def _resolution(page: Any, scale: float) -> dict[str, float]:
    spacing = {}
    for dim, code in (("x", 282), ("y", 283)):
        value = page.tags.valueof(code)
        if value is not None and value[0] > 0 and value[1] > 0:
            spacing[dim] = scale * value[1] / value[0]  # pixels per unit -> units per pixel
    return spacing


def _ome_tiff_metadata(xml: str) -> tuple[dict[str, float], str, str | None]:
    import tifffile

    image = tifffile.xml2dict(xml).get("OME", {}).get("Image", {})
    image = image[0] if isinstance(image, list) else image
    pixels = image.get("Pixels", {})
    per_dim = {}
    for dim in SPATIAL:
        size = pixels.get(f"PhysicalSize{dim.upper()}")
        if size is not None and float(size) > 0:
            unit = pixels.get(f"PhysicalSize{dim.upper()}Unit", "µm")  # the OME default
            per_dim[dim] = (float(size), unit_name(unit))
    spacing, unit = merge_units(per_dim)
    marker = _MARKER.search(str(image.get("Description", "")))
    return spacing, unit, marker[1] if marker else None
