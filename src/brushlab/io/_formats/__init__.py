"""One reader per file format, each opening lazily: metadata now, pixels region by region later.

:func:`open_file` picks the reader from the path and returns a :class:`FileImage`: shape,
dtype, dims, spacing, unit and channel names, and a picklable :class:`StoredArray` that
reads any region. :func:`brushlab.imread` reads it whole; :func:`brushlab.io.open_image`
and blockwise prediction read it by region. Optional libraries (tifffile, zarr, h5py,
imageio) are imported by the reader that needs them, on first use.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> import numpy as np
>>> path = Path(tempfile.mkdtemp()) / "a.npy"
>>> np.save(path, np.arange(12, dtype=np.uint8).reshape(3, 4))
>>> opened = open_file(str(path))
>>> opened.format, opened.shape, opened.names()
('NPY', (3, 4), ('y', 'x'))
>>> opened.array[1:, :2]
array([[4, 5],
       [8, 9]], dtype=uint8)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from brushlab.errors import ImageError
from brushlab.io._formats._base import FileImage, StoredArray
from brushlab.io._formats._hdf5 import open_h5
from brushlab.io._formats._simple import open_npy, open_picture
from brushlab.io._formats._tiff import open_tiff
from brushlab.io._formats._zarr import open_zarr

__all__ = ["FileImage", "StoredArray", "open_file", "reading", "split_h5", "SUPPORTED"]

SUPPORTED = (
    ".png, .jpg/.jpeg, .tif/.tiff (OME-TIFF and ImageJ too), .npy, 'file.h5/dataset' "
    "(.h5/.hdf5/.hdf) and .zarr folders (OME-Zarr too)"
)
_H5_PATH = re.compile(r"^(.*?\.(?:h5|hdf5|hdf))(?:[/\\](.*))?$", re.IGNORECASE)
_OPENERS: dict[str, tuple[str, Callable[[Path, str], FileImage]]] = {
    ".png": ("PNG", open_picture),
    ".jpg": ("JPEG", open_picture),
    ".jpeg": ("JPEG", open_picture),
    ".tif": ("TIFF", open_tiff),
    ".tiff": ("TIFF", open_tiff),
    ".npy": ("NPY", open_npy),
}


def split_h5(text: str) -> tuple[Path, str] | None:
    """Split ``"file.h5/group/data"`` into the file and the dataset; None if not HDF5.

    Examples
    --------
    >>> split_h5("run/cells.h5/raw/0"), split_h5("cells.tif")
    ((PosixPath('run/cells.h5'), 'raw/0'), None)
    """
    match = _H5_PATH.match(text)
    return None if match is None else (Path(match[1]), match[2] or "")


def open_file(text: str) -> FileImage:
    """Open the image file (or ``.zarr`` folder, or ``"file.h5/dataset"``) at ``text``.

    Raises
    ------
    ImageError
        If the path is empty, missing, of an unknown type, an empty file, or unreadable
        (truncated, corrupt, not what its extension says).
    """
    if not text.strip():
        raise ImageError("the path is empty (''); pass the file to read, e.g. "
                         "imread('cells.tif')")
    h5 = split_h5(text)
    path = h5[0] if h5 else Path(text)
    if not path.exists():
        raise ImageError(f"no file or folder at {path} (absolute: {path.absolute()}); "
                         "check the spelling and the current directory")
    suffix = path.suffix.lower()
    opener: Callable[[Path, str], FileImage]
    if h5:
        name, opener = "HDF5", open_h5
    elif path.is_dir():
        name, opener = "Zarr", open_zarr
    elif suffix in _OPENERS:
        name, opener = _OPENERS[suffix]
    else:
        raise ImageError(f"cannot read {path}: unknown extension {suffix!r}. Supported are "
                         f"{SUPPORTED}; convert the file, or load it yourself and pass the array")
    if path.is_file() and path.stat().st_size == 0:
        raise ImageError(f"{path} is an empty file (0 bytes): nothing was written to it; "
                         "re-export or copy the image again")
    if not path.is_dir() and not path.is_file():
        raise ImageError(f"{path} is not a regular file (a FIFO, device or socket?); pass an "
                         "image file or a .zarr folder")
    with reading(path, name):
        return opener(path, h5[1] if h5 else "")


@contextmanager
def reading(path: str | Path, name: str) -> Iterator[None]:
    """Turn any error but ImageError raised in the block into an ImageError naming the file."""
    try:
        yield
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"could not read {path} as {name}: {type(exc).__name__}: {exc}. The "
                         f"file may be truncated, corrupt or not {name}; re-export it, or fix "
                         "its extension") from exc
