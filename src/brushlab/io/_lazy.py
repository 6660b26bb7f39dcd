"""Images opened, not read: a dask-backed image for users, a region reader for blockwise.

Both stand on the format readers of :mod:`brushlab.io._formats` (the same ones
:func:`brushlab.imread` reads whole): :func:`open_image` wraps a file's
:class:`~brushlab.io._formats.StoredArray` in a dask array; :func:`open_source` gives
blockwise prediction a :class:`Source` whose :class:`StoreReader` reads ``(C, *spatial)``
blocks of one time point (picklable: each process opens the file itself).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brushlab.errors import ImageError
from brushlab.io._bioio import handles, open_bioio
from brushlab.io._dims import SPATIAL, check_pixels, infer_dims, parse_dims
from brushlab.io._formats import FileImage, StoredArray, open_file
from brushlab.io._image import as_image, from_file, imread

__all__ = ["Source", "StoreReader", "open_image", "open_source"]

_CHUNK_BYTES = 4 * 2**20  # dask reads whole chunks: a region costs the chunks it touches


def open_image(source: Any, dims: str | Sequence[str] | None = None, *,
               chunks: Mapping[str, int] | None = None) -> xr.DataArray:
    """Open an image without reading its pixels: a DataArray backed by dask.

    Metadata (dims, spacing, unit, channel names) is read now, pixels only when
    computed, chunk by chunk (in the file's own chunks where it has them), so a
    region of an image larger than memory costs only that region.

    Parameters
    ----------
    source : str, path-like, array or xarray.DataArray
        Anything :func:`brushlab.imread` reads. In-memory arrays are wrapped
        (dask arrays stay lazy).
    dims : str or sequence of str, optional
        Names of the axes as stored, e.g. ``"zyx"``; overrides the metadata.
    chunks : dict of str to int, optional
        Dask chunk size per dim, e.g. ``{"z": 1, "y": 512, "x": 512}``; dims
        left out (or all, by default) get chunks of up to 4 MiB, whole
        multiples of the file's own chunks where it has them.

    Returns
    -------
    xarray.DataArray
        Dims in canonical order, attrs ``spacing``, ``unit`` and ``source``, as
        :func:`brushlab.imread` gives, with a dask array as data.

    Raises
    ------
    ImageError
        If the file is missing, of an unknown type or unreadable, or its dims
        cannot be told (pass ``dims=`` then).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from brushlab import write_image
    >>> path = Path(tempfile.mkdtemp()) / "stack.zarr"
    >>> _ = write_image(path, np.arange(4 * 64 * 64, dtype=np.uint16).reshape(4, 64, 64),
    ...                 dims="zyx", spacing={"z": 2.0, "y": 0.5, "x": 0.5}, unit="um")
    >>> image = open_image(path)
    >>> image.dims, image.attrs["spacing"], type(image.data).__module__
    (('z', 'y', 'x'), {'z': 2.0, 'y': 0.5, 'x': 0.5}, 'dask.array.core')
    >>> int(image.isel(z=1, y=0, x=3).values)
    4099
    """
    import dask.array as da

    if isinstance(source, (str, os.PathLike)):
        text = str(os.fspath(source))
        opened = open_file(text)
        names = opened.names(dims)
        check_pixels(opened.shape, opened.array.dtype)
        data = opened.arrange(_dask_array(opened, names, chunks or {})[opened.index])
        return from_file(data, opened, names, text, channels=dims is None)
    if isinstance(source, da.Array):
        return as_image(xr.DataArray(source, dims=_array_dims(source, dims)))
    image = as_image(source, dims)
    if not isinstance(image.data, da.Array):
        image = image.copy(data=da.from_array(image.data, chunks="auto"))
    return image


def _dask_array(opened: FileImage, names: tuple[str, ...], chunks: Mapping[str, int]) -> Any:
    import dask.array as da
    from dask.base import tokenize

    array = opened.array
    unknown = sorted(set(chunks) - set(names))
    if unknown:
        raise ImageError(f"chunks names {unknown}, which are not dims of the image "
                         f"{names}; give chunks for {names} only")
    kept = iter(names)
    wanted = tuple(1 if i in opened.drop else chunks.get(next(kept), "auto")
                   for i in range(array.ndim))
    native = array.chunks if array.chunks is not None and len(array.chunks) == array.ndim \
        else None
    normalized = da.core.normalize_chunks(wanted, array.shape, limit=_CHUNK_BYTES,
                                          dtype=array.dtype, previous_chunks=native)
    stat = os.stat(array.path)
    name = f"open_image-{tokenize(array, normalized, stat.st_ino, stat.st_mtime_ns)}"
    return da.from_array(array, chunks=normalized, name=name, lock=False, fancy=False,
                         meta=np.empty((0,) * array.ndim, dtype=array.dtype))


def _array_dims(data: Any, dims: Any) -> tuple[str, ...]:
    """Names of the axes of an in-memory array as :func:`brushlab.as_image` gives them."""
    check_pixels(data.shape, data.dtype)
    return infer_dims(data.shape) if dims is None else parse_dims(dims, data.shape)


# -- blockwise prediction's view of a source --------------------------------------------


@dataclass(frozen=True)
class StoreReader:
    """Reads regions of one image file as ``(C, *spatial)`` blocks of one time point.

    ``axes`` names each stored axis of ``array`` (``""`` for an unnamed singleton
    read at index 0); ``virtual`` names size-1 dims the image has but the file does
    not store.
    """

    array: StoredArray
    axes: tuple[str, ...]
    virtual: tuple[str, ...]

    @property
    def path(self) -> str:
        """The file (or folder) read."""
        return self.array.path

    def read(self, frame: int, region: Mapping[str, slice]) -> np.ndarray:
        """Return ``(C, *spatial)`` pixels of time point ``frame`` inside ``region``."""
        index: list[Any] = []
        kept: list[str] = []
        for name in self.axes:
            if not name:
                index.append(0)
            elif name == "t":
                index.append(frame)
            else:
                index.append(region.get(name, slice(None)))
                kept.append(name)
        data = self.array[tuple(index)]
        for name in self.virtual:
            if name != "t":
                data = data[..., None]
                kept.append(name)
        order = [d for d in ("c", *SPATIAL) if d in kept]
        data = np.transpose(data, [kept.index(d) for d in order])
        return data if "c" in kept else data[None]


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
        return tuple(d for d in SPATIAL if d in self.image.dims)

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


def open_source(source: Any, dims: Any = None) -> Source:
    """Open ``source`` for blockwise prediction without reading its pixels.

    Parameters
    ----------
    source : str, path-like, numpy/dask array or xarray.DataArray
        Any file :func:`brushlab.imread` reads (pictures, which have no regions,
        are read whole), or an in-memory array. CZI/ND2/LIF/... files give
        their first scene (``brushlab.io.open_bioio(path, scene=...)`` for another).
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
        return _open_path(str(os.fspath(source)), dims)
    import dask.array as da
    from dask.base import tokenize

    if isinstance(source, da.Array):
        image = as_image(xr.DataArray(source, dims=_array_dims(source, dims)))
    else:
        image = as_image(source, dims)
    return Source(image, None, f"array:{tokenize(image.data, image.dims)}")


def _open_path(text: str, dims: Any) -> Source:
    if handles(text):  # CZI, ND2, LIF, ...: bioio's lazy dask array, first scene
        path = Path(text)
        if not path.exists():
            raise ImageError(f"no file at {path} (absolute: {path.absolute()}); check the "
                             "spelling and the current directory")
        return Source(open_bioio(path, dims=dims), None, f"bioio:{path.resolve()}")
    opened = open_file(text)
    array = opened.array
    if not array.by_region:
        image = imread(text, dims)
        return Source(image, None, f"file:{os.path.realpath(array.path)}")
    names = opened.names(dims)
    check_pixels(opened.shape, array.dtype)
    proxy = np.broadcast_to(np.zeros((), dtype=array.dtype), opened.shape)  # takes no memory
    image = from_file(proxy, opened, names, text, channels=dims is None)
    identity = f"{array.kind}:{os.path.realpath(array.path)}" + (f"/{array.key}"
                                                                  if array.key else "")
    return Source(image, _reader(opened, names), identity)


def _reader(opened: FileImage, names: tuple[str, ...]) -> StoreReader:
    n_kept = len(names) - len(opened.virtual)
    kept = iter(names[:n_kept])
    axes = tuple("" if i in opened.drop else next(kept) for i in range(opened.array.ndim))
    return StoreReader(opened.array, axes, names[n_kept:])

