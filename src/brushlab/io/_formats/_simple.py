"""Formats without chunks: NPY (memory-mapped) and pictures (PNG, JPEG, decoded whole)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brushlab.errors import ImageError
from brushlab.io._formats._base import FileImage, StoredArray

__all__ = ["NpyArray", "PictureArray", "open_npy", "open_picture"]


@dataclass(frozen=True)
class NpyArray(StoredArray):
    """A ``.npy`` file, memory-mapped: a region reads only its pages."""

    kind = "npy"

    def _region(self, index: Any) -> Any:
        return np.array(np.load(self.path, mmap_mode="r", allow_pickle=False)[index])


@dataclass(frozen=True)
class PictureArray(StoredArray):
    """A PNG or JPEG picture: any read decodes it whole (the format has no regions)."""

    kind = "picture"
    by_region = False

    def _region(self, index: Any) -> Any:
        import imageio.v3 as iio

        data = np.asarray(iio.imread(self.path))
        if data.shape != self.shape or data.dtype != self.dtype:
            raise ImageError(f"{self.path} decoded to shape {data.shape} {data.dtype}, but its "
                             f"header says {self.shape} {self.dtype}; the file is damaged: "
                             "re-export it")
        return data[index]


def open_npy(path: Path, key: str = "") -> FileImage:
    """Read the header of an NPY file; refuse Python objects (never unpickled)."""
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)  # ValueError unless an NPY file
        header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                  else np.lib.format.read_array_header_2_0)
        shape, _, dtype = header(handle)
    if np.dtype(dtype).hasobject:
        raise ImageError(
            f"{path} holds Python objects, not pixels (brushlab never unpickles "
            "files); save a numeric array instead, e.g. np.save(path, "
            "data.astype(np.float32))"
        )
    return FileImage(NpyArray(str(path), "", tuple(int(s) for s in shape), np.dtype(dtype)), "NPY")


_SIGNATURES = {"PNG": b"\x89PNG\r\n\x1a\n", "JPEG": b"\xff\xd8\xff"}


def open_picture(path: Path, key: str = "") -> FileImage:
    """Read the header of a PNG or JPEG: grey ``(y, x)`` or colour ``(y, x, c)``."""
    import imageio.v3 as iio

    name = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    with open(path, "rb") as handle:
        start = handle.read(8)
    if not start.startswith(_SIGNATURES[name]):  # else imageio suggests installing plugins
        other = [n for n, magic in _SIGNATURES.items() if start.startswith(magic)]
        hint = f"it is a {other[0]}: rename it" if other else "re-export it, or fix its extension"
        raise ImageError(f"{path} is not a {name} file (it does not start with the {name} "
                         f"signature, but with {start!r}); {hint}")
    props = iio.improps(path)
    shape = tuple(int(s) for s in props.shape)
    dims = {2: ("y", "x"), 3: ("y", "x", "c")}.get(len(shape))
    return FileImage(PictureArray(str(path), "", shape, np.dtype(props.dtype)), name, dims)
