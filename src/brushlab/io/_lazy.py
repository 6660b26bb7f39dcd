"""Images too large for memory: their dims and spacing now, their pixels region by region later.

:func:`open_source` reads only the metadata of a Zarr/OME-Zarr folder, a TIFF (BigTIFF
too) or an HDF5 dataset, with :mod:`brushlab.io._image`' own rules for dims and spacing,
and returns a :class:`Source` whose :class:`StoreReader` later reads any region
(picklable: each process opens the file itself). Arrays (numpy, dask, xarray) are
kept as lazy dask arrays.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brushlab.errors import ImageError
from brushlab.io import _image as images
from brushlab.io._bioio import handles, open_bioio
from brushlab.io._image import _mapping, _split_h5, _unit_name, as_image
from brushlab.io._readers import (
    _TIFF_AXES,
    _metadata_dims,
    _read_h5,
    _read_ome_zarr,
    _text,
    _tiff_metadata,
)

__all__ = ["Source", "StoreReader", "open_source"]

_SPATIAL = ("z", "y", "x")


@dataclass(frozen=True)
class StoreReader:
    """Reads regions of one image file; small and picklable, it opens the file where it runs.

    ``axes`` lists the stored axes as ``(name, kind)``: kind ``"data"`` for an axis
    named by ``name``, ``"drop"`` for an unnamed singleton axis (index 0). ``virtual``
    names size-1 dims that the image has but the file does not store.
    """

    kind: str
    path: str
    key: str
    axes: tuple[tuple[str, str], ...]
    virtual: tuple[str, ...]

    def read(self, frame: int, region: Mapping[str, slice]) -> np.ndarray:
        """Return ``(C, *spatial)`` pixels of time point ``frame`` inside ``region``."""
        index: list[Any] = []
        kept: list[str] = []
        for name, kind in self.axes:
            if kind == "drop":
                index.append(0)
            elif name == "t":
                index.append(frame)
            else:
                index.append(region.get(name, slice(None)))
                kept.append(name)
        data = self._read(tuple(index))
        for name in self.virtual:
            if name != "t":
                data = data[..., None]
                kept.append(name)
        order = [d for d in ("c", *_SPATIAL) if d in kept]
        data = np.transpose(data, [kept.index(d) for d in order])
        return data if "c" in kept else data[None]

    def _read(self, index: tuple[Any, ...]) -> np.ndarray:
        if self.kind == "h5":
            import h5py

            with h5py.File(self.path, "r") as handle:  # per call: h5py handles do not pickle
                return np.asarray(handle[self.key][index])
        return np.asarray(_open_array(self.kind, self.path, self.key, _stamp(self.path))[index])


def _stamp(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=8)
def _open_array(kind: str, path: str, key: str, stamp: tuple[int, int]) -> Any:
    """Open once per process (and per file version): parsing a BigTIFF's pages is not free."""
    import zarr

    if kind == "tiff":
        import tifffile

        tif = tifffile.TiffFile(path)  # stays open with the cached store
        return zarr.open(tif.series[int(key)].aszarr(level=0), mode="r")
    return zarr.open_array(str(Path(path) / key) if key else path, mode="r")


@dataclass
class Source:
    """An image to predict: canonical dims and spacing, and where its pixels come from.

    ``image`` has brushlab's canonical dims and attrs; its data is a zero-cost
    placeholder when ``reader`` is set (pixels are read region by region), else a
    (lazy) array.
    """

    image: xr.DataArray
    reader: StoreReader | None
    identity: str

    @property
    def spatial_dims(self) -> tuple[str, ...]:
        """Spatial dims present, in z, y, x order."""
        return tuple(d for d in _SPATIAL if d in self.image.dims)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """Size of each spatial dim."""
        return tuple(int(self.image.sizes[d]) for d in self.spatial_dims)

    @property
    def n_frames(self) -> int:
        """Time points (1 without a t dim)."""
        return int(self.image.sizes.get("t", 1))

    @property
    def n_channels(self) -> int:
        """Channels (1 without a c dim)."""
        return int(self.image.sizes.get("c", 1))

    def frames(self, chunks: Sequence[int]) -> Any:
        """Return the pixels as a dask array ``(T, C, *spatial)`` (array sources only)."""
        import dask.array as da

        img = self.image
        order = [d for d in ("t", "c") if d in img.dims] + list(self.spatial_dims)
        data = img.transpose(*order).data
        if not isinstance(data, da.Array):
            lead = [1 if d == "t" else self.n_channels for d in order[: len(order) - len(chunks)]]
            data = da.from_array(np.asarray(data), chunks=(*lead, *chunks))
        if "c" not in img.dims:
            data = data[:, None] if "t" in img.dims else data[None]
        return data if "t" in img.dims else data[None]


def _proxy(shape: Sequence[int], dtype: Any) -> np.ndarray:
    """Return a read-only array of ``shape`` that takes no memory (for metadata checks)."""
    return np.broadcast_to(np.zeros((), dtype=dtype), tuple(shape))


def _named(shape: Sequence[int], dtype: Any, names: Sequence[str] | None, dims: Any,
           attrs: Mapping[str, Any]) -> tuple[xr.DataArray, tuple[str, ...]]:
    """Canonical placeholder image and the stored-order dim names, as imread would name them."""
    proxy = _proxy(shape, dtype)
    if dims is not None:
        as_image(proxy, dims)  # validates, with imread's messages
        names = tuple(str(d).lower() for d in dims)  # a str gives its letters
    elif names is None:
        names = tuple(str(d) for d in as_image(proxy).dims)  # inferred names are canonical
    image = as_image(xr.DataArray(proxy, dims=names, attrs=dict(attrs)))
    return image, tuple(names)


def open_source(source: Any, dims: Any = None) -> Source:
    """Open ``source`` without reading its pixels.

    Parameters
    ----------
    source : str, path-like, numpy/dask array or xarray.DataArray
        A ``.zarr`` folder (array or OME-Zarr), a TIFF, ``"file.h5/dataset"``, a
        CZI/ND2/LIF/... file (its first scene; pass ``brushlab.io.open_bioio(path,
        scene=...)`` for another);
        other image files are read into memory with :func:`brushlab.imread`.
    dims : str or sequence of str, optional
        Names of the stored axes, as for :func:`brushlab.imread`.

    Returns
    -------
    Source
        Canonical dims, spacing and a reader.

    Raises
    ------
    ImageError
        If the file is missing or unreadable, or its dims cannot be told.
    """
    if isinstance(source, (str, os.PathLike)):
        return _open_path(os.fspath(source), dims)
    import dask.array as da
    from dask.base import tokenize

    if isinstance(source, da.Array):
        _, names = _named(source.shape, source.dtype, None, dims, {})
        image = as_image(xr.DataArray(source, dims=names))
    else:
        image = as_image(source, dims)
    return Source(image, None, f"array:{tokenize(image.data, image.dims)}")


def _open_path(text: str, dims: Any) -> Source:
    split = _split_h5(text)
    path = split[0] if split else Path(text)
    if not path.exists():
        raise ImageError(f"no file or folder at {path} (absolute: {path.absolute()}); "
                         "check the spelling and the current directory")
    suffix = path.suffix.lower()
    if not split and handles(path):  # CZI, ND2, LIF, ...: bioio's lazy dask array, first scene
        return Source(open_bioio(path, dims=dims), None, f"bioio:{path.resolve()}")
    name, opener = ("HDF5", _open_h5) if split else ("Zarr", _open_zarr) if path.is_dir() else (
        ("TIFF", _open_tiff) if suffix in (".tif", ".tiff") else ("", None))
    if opener is None:  # PNG, NPY, ...: small formats, read whole
        image = images.imread(text, dims)
        return Source(image, None, f"file:{path.resolve()}")
    try:
        image, reader = opener(path, split[1] if split else "", dims)
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"could not read {path} as {name}: {type(exc).__name__}: {exc}. The file "
                         f"may be truncated, corrupt or not {name}; re-export it, or fix its "
                         "extension") from exc
    identity = f"{reader.kind}:{path.resolve()}" + (f"/{reader.key}" if reader.key else "")
    return Source(image, reader, identity)


def _finish(path: Path, kind: str, key: str, raw: Any, shape: Sequence[int], dtype: Any,
            dims: Any, axes: Sequence[tuple[str, str]] | None = None,
            virtual: Sequence[str] = ()) -> tuple[xr.DataArray, StoreReader]:
    if dims is None and raw.dims_error is not None:
        raise ImageError(raw.dims_error)
    attrs = {"spacing": dict(raw.spacing), "unit": raw.unit, "source": str(path)}
    full = tuple(shape) + (1,) * len(virtual)
    names_in = None if raw.dims is None else tuple(raw.dims)
    image, names = _named(full, dtype, names_in, dims, attrs)
    stored = names[: len(shape)]
    if axes is None:
        axes = [(n, "data") for n in stored]
    else:  # name the "data" axes in order, keep the dropped ones
        it = iter(stored)
        axes = [(next(it), kind_) if kind_ == "data" else ("", kind_) for _, kind_ in axes]
    return image, StoreReader(kind, str(path), key, tuple(axes), tuple(names[len(shape):]))


def _open_zarr(path: Path, _: str, dims: Any) -> tuple[xr.DataArray, StoreReader]:
    import zarr

    if not any((path / name).exists() for name in ("zarr.json", ".zarray", ".zgroup")):
        raise ImageError(f"{path} is a folder but not a Zarr store (no zarr.json, .zarray or "
                         ".zgroup inside); pass an image file or a .zarr folder")
    node = zarr.open(str(path), mode="r")
    attrs: dict[str, Any] = dict(node.attrs)
    if isinstance(node, zarr.Array):
        names = attrs.get("dims") or getattr(node.metadata, "dimension_names", None)
        raw = _metadata_dims(names or attrs.get("_ARRAY_DIMENSIONS"), node.shape,
                                        str(path))
        raw.spacing = dict(_mapping(attrs.get("spacing")))
        raw.unit = _unit_name(attrs.get("unit", "pixel"))
        return _finish(path, "zarr", "", raw, node.shape, node.dtype, dims)
    multiscales = attrs.get("multiscales") or _mapping(attrs.get("ome")).get("multiscales")
    if not multiscales:
        arrays = ", ".join(str(path / key) for key in sorted(node.array_keys())) or "none"
        raise ImageError(f"{path} is a Zarr group without OME-Zarr 'multiscales' metadata; "
                         f"pass the folder of one of its arrays instead (arrays: {arrays})")
    key = multiscales[0]["datasets"][0]["path"]
    array = node[key]
    if not isinstance(array, zarr.Array):
        raise ImageError(f"{path}/{key}, level 0 of the OME-Zarr image, is not a Zarr array")
    # images' OME-Zarr reader, handed a placeholder instead of level 0's pixels.
    lazy = {key: _Placeholder(array.shape, array.dtype)}
    raw = _read_ome_zarr(lazy, multiscales[0], path)
    return _finish(path, "zarr", key, raw, array.shape, array.dtype, dims)


class _Placeholder:
    """Stands in for an array: ``[...]`` gives a zero-memory array of the same shape."""

    def __init__(self, shape: Sequence[int], dtype: Any) -> None:
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)

    def __getitem__(self, index: Any) -> np.ndarray:
        return _proxy(self.shape, self.dtype)


def _open_tiff(path: Path, _: str, dims: Any) -> tuple[xr.DataArray, StoreReader]:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        axes, shape, dtype = series.axes, tuple(series.shape), series.dtype
        spacing, unit, marker = _tiff_metadata(tif)
    names = [_TIFF_AXES.get(axis, "") for axis in axes]
    unknown = [a for a, n, s in zip(axes, names, shape) if not n and s > 1]
    stored = [(n, "data" if n or s > 1 else "drop") for n, s in zip(names, shape)]
    data_shape = tuple(s for (_, k), s in zip(stored, shape) if k == "data")
    where = f"{path} (TIFF axes {axes!r})"
    raw = _metadata_dims(None if unknown else [n for n in names if n], data_shape,
                                    where)
    virtual: tuple[str, ...] = ()
    if unknown:
        raw.dims_error = (f"{where} has axes {unknown} (shape {data_shape}) that do not map to "
                          f"t, z, y, x, c; name every axis, e.g. "
                          f"dims={'tczyx'[-len(data_shape):]!r}")
    elif raw.dims is not None and isinstance(marker, str) and set(raw.dims) <= set(marker):
        virtual = tuple(dim for dim in marker if dim not in raw.dims)  # squeezed by tifffile
        raw.dims = raw.dims + virtual
    raw.spacing, raw.unit = spacing, _unit_name(unit)
    return _finish(path, "tiff", "0", raw, data_shape, dtype, dims, stored, virtual)


def _open_h5(path: Path, key: str, dims: Any) -> tuple[xr.DataArray, StoreReader]:
    import json

    import h5py

    with h5py.File(path, "r") as handle:
        node = handle.get(key) if key else None
        if not isinstance(node, h5py.Dataset):
            _read_h5(path, key)  # raises images' message listing the datasets
            raise ImageError(f"no dataset {key!r} in {path}")
        shape, dtype, attrs = tuple(node.shape), node.dtype, dict(node.attrs)
    raw, spacing = _metadata_dims(None, shape, f"{path}/{key}"), {}
    if "dims" in attrs:
        value = attrs["dims"]
        names = list(_text(value)) if isinstance(value, (str, bytes)) else [_text(d) for d in value]
        raw = _metadata_dims(names, shape, f"{path}/{key}")
    elif "axistags" in attrs:  # written by ilastik / vigra
        tags = json.loads(_text(attrs["axistags"])).get("axes", [])
        raw = _metadata_dims([a.get("key") for a in tags], shape, f"{path}/{key}")
        spacing = {a["key"]: float(a["resolution"]) for a in tags
                   if a.get("key") in _SPATIAL and float(a.get("resolution") or 0) > 0}
    for dim in _SPATIAL:
        if f"spacing_{dim}" in attrs:
            spacing[dim] = float(attrs[f"spacing_{dim}"])
    raw.spacing, raw.unit = spacing, _unit_name(_text(attrs.get("unit", "pixel")))
    return _finish(path, "h5", key, raw, shape, dtype, dims)
