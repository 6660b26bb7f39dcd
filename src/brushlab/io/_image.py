"""Read microscopy images into arrays with named dimensions.

Every image is an :class:`xarray.DataArray` whose dims are a subset of
``("t", "z", "y", "x", "c")`` in that order. ``attrs["spacing"]`` holds the
physical pixel size of each spatial dim present (``1.0`` where unknown),
``attrs["unit"]`` its unit (``"pixel"`` where unknown) and ``attrs["source"]``
the path the pixels came from (``"array"`` for in-memory data). Channel names a
file gives (OME-Zarr ``omero`` labels) become the ``c`` coordinate.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import xarray as xr

from brushlab.io._array import array_image, from_file
from brushlab.io._budget import check_budget
from brushlab.io._dims import (
    DIMS,
    check_pixels,
    spacing_of,
)
from brushlab.io._formats import open_file, reading

__all__ = ["DIMS", "as_image", "imread", "spacing_of"]


def imread(source: Any, dims: str | Sequence[str] | None = None, *,
           max_bytes: int | None = None, scene: int | str | None = None) -> xr.DataArray:
    """Read an image from a file, a folder or an array, into memory.

    The file is opened as :func:`brushlab.io.open_image` opens it, its declared
    size checked against the memory budget, then read whole.

    Parameters
    ----------
    source : str, path-like, array or xarray.DataArray
        A PNG/JPEG, TIFF (first series; OME and ImageJ metadata) or ``.npy``
        file, a ``.zarr`` folder (an array, or an OME-Zarr group: level 0), an
        HDF5 dataset as ``"file.h5/path/to/dataset"``, or in-memory data (see
        :func:`as_image`). Microscopes' own files (``.czi``, ``.nd2``, ``.lif``, ...)
        are read through bioio (``pip install 'brushlab[formats]'``).
    dims : str or sequence of str, optional
        Names of the axes as stored, e.g. ``"zyx"``; overrides the metadata.
    max_bytes : int, optional
        Most bytes the image may take in memory; defaults to the environment
        variable ``BRUSHLAB_MAX_IMAGE_BYTES``, else half the memory available.
        Checked against the size the file declares, before reading.
    scene : int or str, optional
        Scene (position, series) of a CZI/ND2/LIF/... file, by index or name;
        the first when None.

    Returns
    -------
    xarray.DataArray
        Dims in canonical order, attrs ``spacing``, ``unit`` and ``source``.

    Raises
    ------
    ImageError
        If the file is missing, of an unknown type, unreadable or empty, its
        dims cannot be told (pass ``dims=`` then), or it is larger than
        ``max_bytes`` (open it with :func:`brushlab.io.open_image` then).

    Examples
    --------
    >>> import numpy as np
    >>> image = imread(np.zeros((5, 64, 64), dtype=np.uint8))
    >>> image.dims
    ('z', 'y', 'x')
    >>> imread(np.zeros((3, 64, 64)), dims="cyx").dims
    ('y', 'x', 'c')
    """
    if not isinstance(source, (str, os.PathLike)):
        return as_image(source, dims)
    from brushlab.io._bioio import handles, read_bioio  # CZI, ND2, LIF, ...: via bioio

    if scene is not None or handles(source):
        return read_bioio(source, scene=scene, dims=dims, max_bytes=max_bytes)
    text = str(os.fspath(source))
    opened = open_file(text)
    names = opened.names(dims)
    stored = opened.array
    check_pixels(opened.shape, stored.dtype)
    check_budget(stored.nbytes, stored.shape, stored.dtype, text, max_bytes)
    with reading(text, opened.format):
        data = opened.arrange(stored.read()[opened.index])
    return from_file(data, opened, names, text, channels=dims is None)


def as_image(data: Any, dims: str | Sequence[str] | None = None) -> xr.DataArray:
    """Turn an array, a DataArray or a path into a brushlab image.

    Parameters
    ----------
    data : array-like, xarray.DataArray, str or path-like
        numpy and cupy arrays are kept as they are (type and dtype), other
        array-likes become numpy, paths go to :func:`imread`. A DataArray
        with dims from :data:`DIMS` is transposed and its missing attrs set.
    dims : str or sequence of str, optional
        Names of the axes, e.g. ``"tzyx"``: needed for 4D arrays, and to
        rename (by position) the dims of a DataArray not named from DIMS.

    Returns
    -------
    xarray.DataArray
        Dims in canonical order, attrs ``spacing``, ``unit`` and ``source``.

    Raises
    ------
    ImageError
        If the dtype is not numeric, the image is empty, has not 2 to 5
        dims, or its dims are ambiguous, unknown or inconsistent.

    Examples
    --------
    >>> import numpy as np
    >>> rgb = as_image(np.zeros((32, 48, 3), dtype=np.uint8))
    >>> rgb.dims, rgb.attrs["spacing"], rgb.attrs["unit"]
    (('y', 'x', 'c'), {'y': 1.0, 'x': 1.0}, 'pixel')
    """
    if isinstance(data, (str, os.PathLike)):
        return imread(data, dims)
    return array_image(data, dims)


# -- assembling a canonical DataArray -------------------------------------------------
