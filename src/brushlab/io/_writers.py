"""Write images to TIFF, PNG, NPY, HDF5 or Zarr, atomically.

Every write goes to a temporary path in the target's folder and is renamed
onto the target only once complete, so a crash or an error never leaves a
half-written file behind, nor damages the file that was there before.
:func:`brushlab.io._image.imread` reads back the dims and spacing written here.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brushlab._core.atomic import atomic_path
from brushlab.errors import ImageError, ImageWriteError
from brushlab.io._dims import spacing_of
from brushlab.io._formats import split_h5
from brushlab.io._image import as_image
from brushlab.io._ngff import write_ngff_image

__all__ = ["write_image"]

_FORMATS = ("tiff", "png", "npy", "h5", "zarr")
_ALIASES = {"tif": "tiff", "hdf5": "h5", "hdf": "h5"}
_SUFFIXES = {".tif": "tiff", ".tiff": "tiff", ".png": "png", ".npy": "npy", ".h5": "h5",
             ".hdf5": "h5", ".hdf": "h5", ".zarr": "zarr"}
_IMAGEJ_DTYPES = {np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32)}
_OME_DTYPES = {np.dtype(t) for t in ("bool", "int8", "int16", "int32", "uint32", "float64")}
_IMAGEJ_UNITS = {"micrometer": "micron", "nanometer": "nm", "millimeter": "mm",
                 "centimeter": "cm", "meter": "m"}
_OME_UNITS = {**_IMAGEJ_UNITS, "micrometer": "µm", "pixel": "pixel"}


def write_image(
    path: str | os.PathLike[str],
    data: Any,
    *,
    format: str | None = None,
    dims: Sequence[str] | None = None,
    spacing: Mapping[str, float] | None = None,
    unit: str | None = None,
) -> Path:
    """Write an image, with its dims and pixel size, atomically.

    Parameters
    ----------
    path : str or path-like
        Target file or folder. For HDF5, ``"file.h5"`` writes dataset
        ``"data"`` and ``"file.h5/name"`` writes dataset ``name`` (other
        datasets in an existing file are kept).
    data : numpy.ndarray, cupy array or xarray.DataArray
        The pixels; a DataArray also gives dims, spacing and unit.
    format : {"tiff", "png", "npy", "h5", "zarr"}, optional
        Defaults to the format of the suffix of `path`.
    dims : str or sequence of str, optional
        Names of the axes of `data` (see :func:`brushlab.io._image.as_image`).
    spacing : dict of str to float, optional
        Pixel size per spatial dim, e.g. ``{"z": 2.0, "y": 0.5, "x": 0.5}``;
        overrides the spacing of a DataArray.
    unit : str, optional
        Unit of `spacing`, e.g. ``"micrometer"``.

    Returns
    -------
    pathlib.Path
        The file or folder written (for HDF5, the file).

    Raises
    ------
    ImageError
        If the format is unknown, cannot hold this image (PNG), the folder
        does not exist, or `data`, `dims` or `spacing` are invalid.
    ImageWriteError
        If the folder is read-only or the disk is full.

    Notes
    -----
    TIFF is written ImageJ-compatible for uint8, uint16 and float32 pixels,
    as OME-TIFF for other dtypes OME supports, else as a tifffile "shaped"
    TIFF. PNG and NPY store no spacing. HDF5 stores attributes ``dims``,
    ``unit`` and ``spacing_<dim>``. Zarr is written as a single-scale
    OME-Zarr 0.5 image (NGFF, as blockwise prediction writes): axes
    ``t, c, z, y, x`` with units, the spacing as a ``scale`` transform, and
    the names of the channels (a ``c`` coordinate of strings) in ``omero``.

    A read-only folder, missing permission or a full disk raise
    :class:`~brushlab.errors.ImageWriteError` (an ``OSError`` too) saying so;
    nothing is left half-written and an existing file stays as it was.

    Examples
    --------
    >>> import tempfile
    >>> from brushlab import imread
    >>> path = Path(tempfile.mkdtemp()) / "stack.tif"
    >>> stack = np.zeros((4, 32, 32), dtype=np.uint16)
    >>> _ = write_image(path, stack, dims="zyx", spacing={"z": 2.0}, unit="micrometer")
    >>> imread(path).attrs["spacing"]
    {'z': 2.0, 'y': 1.0, 'x': 1.0}
    """
    text = os.fspath(path)
    kind = _format_of(text, format)
    image = _prepare(data, dims=dims, spacing=spacing, unit=unit)
    target = Path(text)
    key = ""
    if kind == "h5":
        split = split_h5(text)
        target, key = split if split else (target, "")
    if not target.parent.is_dir():
        raise ImageError(f"cannot write {target}: folder {target.parent} does not exist; create "
                         "it first, e.g. Path(path).parent.mkdir(parents=True)")
    try:
        if kind == "h5":
            return _write_h5(target, image, key or "data")
        return _WRITERS[kind](target, image)
    except OSError as exc:
        error = _write_error(exc, target)
        if error is None:
            raise
        raise error from exc


_NUMPY_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")  # ndarray.tofile, no errno
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)
_FULL = (errno.ENOSPC, errno.EDQUOT)


def _write_error(exc: OSError, target: Path) -> ImageWriteError | None:
    """Say what an OSError of a writer means (read-only folder, full disk), or None."""
    after = ("; nothing was written" + (f" and the existing {target.name} is unchanged"
                                        if target.exists() else ""))
    if exc.errno in _READ_ONLY:
        error = ImageWriteError(
            f"cannot write {target}: the folder {target.parent} is read-only or you may not "
            f"write there ({os.strerror(exc.errno)}){after}; write to another folder, or "
            "ask for write access")
    elif exc.errno in _FULL or (exc.errno is None and _NUMPY_SHORT_WRITE.search(str(exc))):
        try:
            free = f", {shutil.disk_usage(target.parent).free / 2**20:.1f} MiB free"
        except OSError:
            free = ""
        error = ImageWriteError(
            f"cannot write {target}: the disk is full (no space left on the device holding "
            f"{target.parent}{free}){after}; free some space or write to another disk")
    else:
        return None
    error.errno = exc.errno if exc.errno is not None else errno.ENOSPC
    return error


def _format_of(text: str, format: str | None) -> str:
    if format is not None:
        name = format.lower().lstrip(".")
        name = _ALIASES.get(name, name)
        if name not in _FORMATS:
            raise ImageError(f"unknown image format {format!r}; choose one of "
                             f"{', '.join(_FORMATS)}")
        return name
    if split_h5(text):
        return "h5"
    suffix = Path(text).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ImageError(
            f"cannot tell the format of {text!r} from its extension {suffix!r}; end the path in "
            f"one of {', '.join(_SUFFIXES)} or pass format= (one of {', '.join(_FORMATS)})"
        )
    return _SUFFIXES[suffix]


def _prepare(data: Any, *, dims: Any, spacing: Mapping[str, float] | None,
             unit: str | None) -> xr.DataArray:
    if isinstance(data, (str, os.PathLike)):
        raise ImageError(f"write_image needs pixels, got the path {data!r}; read it first, e.g. "
                         "write_image(target, imread(source))")
    if type(data).__module__.startswith("cupy"):
        data = data.get()
    elif isinstance(data, xr.DataArray) and type(data.data).__module__.startswith("cupy"):
        data = data.copy(data=data.data.get())
    image = as_image(data, dims)
    if spacing is not None:
        extra = sorted(set(map(str, spacing)) - set(spacing_of(image)))
        if extra:
            raise ImageError(
                f"spacing names {extra}, which are not spatial dims of this image "
                f"(dims {image.dims}); give spacing only for {tuple(spacing_of(image))}"
            )
        image.attrs["spacing"] = {**spacing_of(image), **spacing}
    if unit is not None:
        image.attrs["unit"] = unit
    return as_image(image)  # validates the spacing and normalises the unit


def _write_tiff(target: Path, image: xr.DataArray) -> Path:
    import tifffile

    order = [dim for dim in "tzcyx" if dim in image.dims]  # the order ImageJ and OME expect
    data = np.ascontiguousarray(image.transpose(*order).values)
    axes, marker = "".join(order).upper(), "".join(map(str, image.dims))
    spacing, unit = spacing_of(image), image.attrs["unit"]
    kwargs: dict[str, Any]
    if data.dtype in _IMAGEJ_DTYPES:
        metadata: dict[str, Any] = {"axes": axes, "brushlab_dims": marker}
        if "z" in spacing:
            metadata["spacing"] = spacing["z"]
        if unit != "pixel":
            metadata["unit"] = _IMAGEJ_UNITS.get(unit, unit)
        resolution = (1.0 / spacing["x"], 1.0 / spacing["y"])
        kwargs = {"imagej": True, "resolution": resolution, "metadata": metadata}
    elif data.dtype in _OME_DTYPES:
        metadata = {"axes": axes, "Description": f"brushlab_dims={marker}"}
        if unit != "pixel" or any(value != 1.0 for value in spacing.values()):
            for dim, value in spacing.items():
                metadata[f"PhysicalSize{dim.upper()}"] = value
                metadata[f"PhysicalSize{dim.upper()}Unit"] = _OME_UNITS.get(unit, unit)
        kwargs = {"ome": True, "metadata": metadata}
    else:  # int64, uint64, float16: neither ImageJ nor OME, tifffile's JSON description
        brushlab = {"dims": marker, "spacing": spacing, "unit": unit}
        kwargs = {"metadata": {"axes": axes, "brushlab": brushlab}}
    with atomic_path(target) as temp:
        tifffile.imwrite(temp, data, photometric="minisblack", **kwargs)
    return target


def _write_png(target: Path, image: xr.DataArray) -> Path:
    import imageio.v3 as iio

    channels = image.sizes.get("c")
    if image.dims not in (("y", "x"), ("y", "x", "c")) or channels not in (None, 3, 4):
        raise ImageError(
            f"PNG holds a grey (y, x) image or a (y, x, c) image with 3 or 4 channels, not dims "
            f"{image.dims} of shape {image.shape}; choose format='tiff', 'npy', 'h5' or 'zarr', "
            "or select a plane first, e.g. image.isel(z=0)"
        )
    allowed = ("uint8",) if channels else ("uint8", "uint16", "bool")
    if image.dtype.name not in allowed:
        raise ImageError(
            f"PNG cannot hold {image.dtype} pixels{' with channels' if channels else ''} (only "
            f"{', '.join(allowed)}); choose format='tiff' or 'npy', or convert first, e.g. "
            "skimage.util.img_as_ubyte(image)"
        )
    with atomic_path(target) as temp:
        iio.imwrite(temp, image.values, extension=".png")
    return target


def _write_npy(target: Path, image: xr.DataArray) -> Path:
    with atomic_path(target) as temp, open(temp, "wb") as handle:
        np.save(_Stream(handle), image.values, allow_pickle=False)
    return target


class _Stream:
    """A file that numpy writes to with ``write``, not ``ndarray.tofile``.

    ``write`` errors keep their errno; ``tofile`` on a full disk only says
    "65536 requested and 932 written".
    """

    def __init__(self, handle: Any) -> None:
        self.write = handle.write


def _write_h5(target: Path, image: xr.DataArray, key: str) -> Path:
    import h5py

    if target.exists() and not (target.is_file() and h5py.is_hdf5(target)):
        raise ImageError(f"cannot add dataset {key!r} to {target}: it is not a readable "
                         "HDF5 file; choose another path or delete it first")
    with atomic_path(target) as temp:
        if target.exists():  # keep the file's other datasets
            shutil.copy2(target, temp)
        with h5py.File(temp, "a") as handle:
            if isinstance(handle.get(key), h5py.Group):
                raise ImageError(f"{target} holds a group {key!r}, which writing would delete; "
                                 f"choose another dataset name, e.g. '{key}/image'")
            if key in handle:
                del handle[key]
            dataset = handle.create_dataset(key, data=image.values)
            dataset.attrs["dims"] = "".join(map(str, image.dims))
            dataset.attrs["unit"] = image.attrs["unit"]
            for dim, value in spacing_of(image).items():
                dataset.attrs[f"spacing_{dim}"] = value
    return target


def _write_zarr(target: Path, image: xr.DataArray) -> Path:
    with atomic_path(target) as temp:
        write_ngff_image(temp, image, name=target.name.removesuffix(".zarr") or "image")
    return target


_WRITERS: dict[str, Callable[[Path, xr.DataArray], Path]] = {
    "tiff": _write_tiff,
    "png": _write_png,
    "npy": _write_npy,
    "zarr": _write_zarr,
}
