"""Zarr folders: a plain array (brushlab's old attributes, dimension names) or OME-Zarr (NGFF)."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brushlab.errors import ImageError
from brushlab.io._dims import SPATIAL, merge_units, metadata_dims, unit_name
from brushlab.io._formats._base import FileImage, StoredArray

__all__ = ["ZarrArray", "open_zarr"]


@dataclass(frozen=True)
class ZarrArray(StoredArray):
    """The array at ``key`` inside the Zarr store at ``path`` (``""``: the store itself)."""

    kind = "zarr"

    def read(self) -> np.ndarray:
        """Read the whole array from a freshly opened store (never a cached, older view)."""
        import zarr

        return np.asarray(zarr.open_array(self._where, mode="r")[...])

    def _region(self, index: Any) -> Any:
        stat = os.stat(self.path)
        return _open_array(self._where, (stat.st_ino, stat.st_mtime_ns))[index]

    @property
    def _where(self) -> str:
        return str(Path(self.path) / self.key) if self.key else self.path


@functools.lru_cache(maxsize=8)
def _open_array(where: str, stamp: tuple[int, int]) -> Any:
    import zarr

    return zarr.open_array(where, mode="r")


def open_zarr(path: Path, key: str = "") -> FileImage:
    """Open a Zarr array or the level 0 of an OME-Zarr image, reading metadata only."""
    if not any((path / name).exists() for name in ("zarr.json", ".zarray", ".zgroup")):
        raise ImageError(f"{path} is a folder but not a Zarr store (no zarr.json, .zarray or "
                         ".zgroup inside); pass an image file or a .zarr folder")
    import zarr

    node = zarr.open(str(path), mode="r")
    attrs: dict[str, Any] = dict(node.attrs)
    if isinstance(node, zarr.Array):
        return _plain(path, node, attrs)
    ome: Mapping[str, Any] = attrs["ome"] if isinstance(attrs.get("ome"), Mapping) else attrs
    multiscales = ome.get("multiscales")
    if not multiscales:
        arrays = ", ".join(str(path / k) for k in sorted(node.array_keys())) or "none"
        raise ImageError(f"{path} is a Zarr group without OME-Zarr 'multiscales' metadata; "
                         f"pass the folder of one of its arrays instead (arrays: {arrays})")
    return _ngff(path, node, multiscales[0], ome.get("omero"))


def _array(path: Path, key: str, node: Any) -> ZarrArray:
    return ZarrArray(str(path), key, tuple(int(s) for s in node.shape), np.dtype(node.dtype),
                     tuple(int(c) for c in node.chunks))


def _plain(path: Path, node: Any, attrs: Mapping[str, Any]) -> FileImage:
    """Open a bare array: dims from brushlab's old ``dims`` attribute, Zarr v3 or xarray names."""
    names = attrs.get("dims") or getattr(node.metadata, "dimension_names", None)
    dims, error = metadata_dims(names or attrs.get("_ARRAY_DIMENSIONS"), node.shape, str(path))
    spacing = attrs.get("spacing")
    return FileImage(_array(path, "", node), "Zarr", dims, error,
                     spacing=dict(spacing) if isinstance(spacing, Mapping) else {},
                     unit=unit_name(attrs.get("unit", "pixel")))


def _ngff(path: Path, group: Any, multiscale: Mapping[str, Any], omero: Any) -> FileImage:
    """Level 0 of an NGFF image: axes, scale (dataset and multiscale transforms), channels."""
    import zarr

    dataset = multiscale["datasets"][0]
    key = str(dataset["path"])
    node = group.get(key)
    if not isinstance(node, zarr.Array):
        raise ImageError(f"{path}/{key}, level 0 of the OME-Zarr image, is not a Zarr array; "
                         "the file is damaged: re-export it")
    axes = multiscale.get("axes")
    names = None if axes is None else [a["name"] if isinstance(a, Mapping) else a for a in axes]
    dims, error = metadata_dims(names, node.shape, f"OME-Zarr {path}")
    scale = np.ones(node.ndim)
    for transforms in (dataset.get("coordinateTransformations"),
                       multiscale.get("coordinateTransformations")):
        for transform in transforms or []:
            if transform.get("type") == "scale" and len(transform.get("scale", [])) == node.ndim:
                scale = scale * np.asarray(transform["scale"], dtype=float)
    units = [a.get("unit", "") if isinstance(a, Mapping) else "" for a in axes or []]
    per_dim = {dim: (float(value), unit_name(unit))  # dims, if set, match axes and scale
               for dim, value, unit in zip(dims or (), scale, units, strict=False)
               if dim in SPATIAL and value > 0}
    spacing, unit = merge_units(per_dim)
    channels = None
    if dims is not None and "c" in dims:
        channels = _channel_names(omero, node.shape[dims.index("c")])
    return FileImage(_array(path, key, node), "OME-Zarr", dims, error, spacing=spacing,
                     unit=unit, channel_names=channels)


def _channel_names(omero: Any, n_channels: int) -> tuple[str, ...] | None:
    """Channel labels from NGFF ``omero`` metadata, if there is one distinct label per channel."""
    channels = omero.get("channels") if isinstance(omero, Mapping) else None
    if not isinstance(channels, Sequence) or len(channels) != n_channels:
        return None
    labels = [c.get("label") if isinstance(c, Mapping) else None for c in channels]
    if not all(isinstance(label, str) and label for label in labels):
        return None
    names = tuple(str(label) for label in labels)
    return names if len(set(names)) == len(names) else None
