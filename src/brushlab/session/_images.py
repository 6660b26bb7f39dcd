"""A session's image: pixels, frames for features, labels, and plane/region arithmetic."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from brushlab.errors import ImageError, LabelError
from brushlab.io import as_image, check_image, split_frames

__all__ = ["ImageEntry", "make_entry", "MIN_SIZE"]

MIN_SIZE = 2  # pixels along y and x: smaller images cannot be painted or shown usefully


@dataclass
class ImageEntry:
    """Everything a session keeps per image."""

    name: str
    image: xr.DataArray
    frames: list[Any]  # per t: (C, *spatial)
    spacing: list[float]
    labels: np.ndarray  # shaped like the image without c
    key: int  # feature-cache source id

    @property
    def label_dims(self) -> tuple[str, ...]:
        """Dims of the label array: the image's without ``c``."""
        return tuple(str(d) for d in self.image.dims if d != "c")

    @property
    def plane_dims(self) -> tuple[str, ...]:
        """Dims that select a 2D plane: ``t`` and/or ``z``."""
        return self.label_dims[:-2]

    @property
    def ndim(self) -> int:
        """Spatial dims (2 or 3)."""
        return int(self.frames[0].ndim - 1)

    @property
    def n_channels(self) -> int:
        """Channels per pixel."""
        return int(self.frames[0].shape[0])

    @property
    def plane_shape(self) -> tuple[int, int]:
        """``(height, width)`` of a plane."""
        return int(self.labels.shape[-2]), int(self.labels.shape[-1])

    def plane(self, plane: Any) -> tuple[int, ...]:
        """Normalise ``plane`` to one index per plane dim.

        Accepts None (2D images), an int (one plane dim), a tuple ordered as
        :attr:`plane_dims`, or a mapping such as ``{"t": 2, "z": 5}``.
        """
        dims = self.plane_dims
        sizes = self.labels.shape[: len(dims)]
        if plane is None:
            if dims:
                ranges = ", ".join(f"{d} < {n}" for d, n in zip(dims, sizes))
                raise LabelError(
                    f"image {self.name!r} has dims {self.label_dims}: pass plane= with the "
                    f"{' and '.join(dims)} index ({ranges})"
                )
            return ()
        if isinstance(plane, Mapping):
            unknown = set(plane) - set(dims)
            if unknown or set(dims) - set(plane):
                raise LabelError(f"plane={dict(plane)!r} must give exactly the dims {dims}")
            values = [plane[d] for d in dims]
        elif isinstance(plane, (int, np.integer)):
            values = [plane]
        else:
            values = list(plane)
        if len(values) != len(dims):
            raise LabelError(
                f"image {self.name!r} has plane dims {dims or 'none (it is 2D)'}, "
                f"but plane={plane!r}"
            )
        out = []
        for d, n, v in zip(dims, sizes, values):
            if not isinstance(v, (int, np.integer)) or not 0 <= int(v) < n:
                raise LabelError(f"plane index {d}={v!r} is outside 0..{n - 1} of {self.name!r}")
            out.append(int(v))
        return tuple(out)

    def frame_of(self, plane: tuple[int, ...]) -> int:
        """Time index of a plane (0 without ``t``)."""
        return plane[0] if "t" in self.plane_dims else 0

    def box(self, plane: tuple[int, ...], region: tuple[slice, slice]) -> tuple[slice, ...]:
        """Spatial box of a plane region, in the frame's spatial axes."""
        if "z" in self.plane_dims:
            z = plane[-1]
            return (slice(z, z + 1), *region)
        return tuple(region)

    def region(self, region: Any) -> tuple[slice, slice]:
        """Normalise ``region`` (two slices or (start, stop) pairs over y, x), clipped.

        Raises
        ------
        ImageError
            If it is malformed, strided, or empty once clipped to the plane.
        """
        h, w = self.plane_shape
        if region is None:
            return slice(0, h), slice(0, w)
        if not isinstance(region, Sequence) or len(region) != 2:
            raise ImageError(
                f"region must be two slices (y, x), e.g. (slice(0, 256), slice(0, 256)); "
                f"got {region!r}"
            )
        out = []
        for item, n, dim in zip(region, (h, w), "yx"):
            sl = item if isinstance(item, slice) else slice(*item)
            start, stop, step = sl.indices(n)
            if step != 1:
                raise ImageError(f"region slices take no step; got {sl} along {dim}")
            if stop <= start:
                raise ImageError(
                    f"region {region!r} is empty or outside image {self.name!r} "
                    f"(height {h}, width {w})"
                )
            out.append(slice(start, stop))
        return out[0], out[1]

    def plane_offset(self, plane: tuple[int, ...]) -> int:
        """Flat index of a plane's first pixel in the label array."""
        if not plane:
            return 0
        return int(np.ravel_multi_index((*plane, 0, 0), self.labels.shape))


def make_entry(image: Any, name: str, key: int, dtype: np.dtype) -> ImageEntry:
    """Validate ``image`` for painting and build its entry with empty labels.

    Raises
    ------
    ImageError
        If it cannot be read as an image, holds NaN/inf, or is smaller than
        ``MIN_SIZE`` along y or x.
    """
    img = as_image(image)
    check_image(img, where=f"image {name!r}")
    h, w = int(img.sizes["y"]), int(img.sizes["x"])
    if h < MIN_SIZE or w < MIN_SIZE:
        raise ImageError(
            f"image {name!r} is {h}x{w} pixels: too small to paint or show (at least "
            f"{MIN_SIZE}x{MIN_SIZE}); check the axes (dims=) or the crop that produced it"
        )
    frames = split_frames(img)
    labels = np.zeros(tuple(n for d, n in img.sizes.items() if d != "c"), dtype=dtype)
    return ImageEntry(name, img, frames.arrays, frames.spacing, labels, key)
