"""The bottom of :mod:`brushlab.io`: dims, units, spacing and frames, the rules every reader uses.

An image's dims are a subset of :data:`DIMS` in that order; its pixel size lives in
``attrs["spacing"]`` (one float per spatial dim) and ``attrs["unit"]``. Nothing here reads a
file: the format readers of :mod:`brushlab.io._formats` call these helpers on what their
metadata says, so every format names dims, units and spacing the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from brushlab._core.backend import asarray_on
from brushlab.errors import ImageError

__all__ = ["DIMS", "SPATIAL", "METERS", "Frames", "split_frames", "spacing_of", "unit_name",
           "merge_units", "infer_dims", "parse_dims", "metadata_dims", "check_pixels",
           "positive_spacing"]

DIMS = ("t", "z", "y", "x", "c")
SPATIAL = ("z", "y", "x")
METERS = {"nanometer": 1e-9, "micrometer": 1e-6, "millimeter": 1e-3, "centimeter": 1e-2,
          "meter": 1.0}
_UNIT_ALIASES = {
    "um": "micrometer", "µm": "micrometer", "μm": "micrometer", "\\u00b5m": "micrometer",
    "micron": "micrometer", "microns": "micrometer", "micrometre": "micrometer",
    "nm": "nanometer", "nanometre": "nanometer", "mm": "millimeter", "millimetre": "millimeter",
    "cm": "centimeter", "m": "meter", "metre": "meter", "": "pixel", "px": "pixel",
    "pixels": "pixel",
}


# -- units and spacing ------------------------------------------------------------------


def unit_name(unit: Any) -> str:
    """Return the canonical name of a length unit (``"um"`` -> ``"micrometer"``).

    Examples
    --------
    >>> unit_name("µm"), unit_name("px"), unit_name("parsec")
    ('micrometer', 'pixel', 'parsec')
    """
    text = str(unit).strip()
    return _UNIT_ALIASES.get(text.lower(), text)


def merge_units(per_dim: Mapping[str, tuple[float, str]]) -> tuple[dict[str, float], str]:
    """Express every spacing in the unit of x (or of the first dim) where both are lengths.

    Examples
    --------
    >>> spacing, unit = merge_units({"z": (0.5, "micrometer"), "x": (250.0, "nanometer")})
    >>> {dim: round(value, 9) for dim, value in spacing.items()}, unit
    ({'z': 500.0, 'x': 250.0}, 'nanometer')
    """
    if not per_dim:
        return {}, "pixel"
    unit = per_dim["x"][1] if "x" in per_dim else next(iter(per_dim.values()))[1]
    spacing = {}
    for dim, (value, dim_unit) in per_dim.items():
        if dim_unit != unit and dim_unit in METERS and unit in METERS:
            value = value * METERS[dim_unit] / METERS[unit]
        spacing[dim] = value
    return spacing, unit


def spacing_of(image: xr.DataArray) -> dict[str, float]:
    """Return the physical pixel size of each spatial dim of an image.

    Parameters
    ----------
    image : xarray.DataArray
        An image from :func:`brushlab.imread` or :func:`brushlab.as_image`.

    Returns
    -------
    dict of str to float
        Size (in ``attrs["unit"]``) of each of z, y, x present; 1.0 if unknown.

    Examples
    --------
    >>> import numpy as np
    >>> from brushlab import as_image
    >>> spacing_of(as_image(np.zeros((4, 8, 8)), dims="zyx"))
    {'z': 1.0, 'y': 1.0, 'x': 1.0}
    """
    stored = image.attrs.get("spacing")
    stored = stored if isinstance(stored, Mapping) else {}
    return {dim: float(stored.get(dim, 1.0)) for dim in SPATIAL if dim in image.dims}


def positive_spacing(dim: str, value: Any) -> float:
    """Return ``value`` as a float, or raise ImageError unless it is a positive finite number."""
    number = value if isinstance(value, (int, float, np.number)) else float("nan")
    if not (np.isfinite(number) and number > 0):
        raise ImageError(
            f"the spacing of {dim!r} is {value!r}, but a pixel size must be a "
            f"positive finite number, e.g. spacing={{{dim!r}: 0.5}} (or 1.0)"
        )
    return float(number)


# -- dims -------------------------------------------------------------------------------


def check_pixels(shape: Sequence[int], dtype: Any) -> None:
    """Raise ImageError unless ``shape``/``dtype`` make a usable image (before any read)."""
    dtype, shape = np.dtype(dtype), tuple(shape)
    if dtype.kind not in "biuf":
        raise ImageError(
            f"an image of dtype {dtype} cannot be segmented: pixels must be bool, "
            "integer or float; convert it, e.g. np.asarray(data, dtype=np.float32)"
        )
    if not 2 <= len(shape) <= 5:
        raise ImageError(
            f"an image needs 2 to 5 dims from {DIMS}, but this one has {len(shape)} "
            f"(shape {shape}); select or squeeze axes first, e.g. data.squeeze()"
        )
    if 0 in shape:
        raise ImageError(
            f"the image is empty: shape {shape} has an axis of size 0; check the "
            "file or the crop/selection that produced it"
        )


def infer_dims(shape: Sequence[int]) -> tuple[str, ...]:
    """Name the axes of an image from its shape alone, or ask for ``dims=``.

    Examples
    --------
    >>> infer_dims((64, 64, 3)), infer_dims((5, 64, 64))
    (('y', 'x', 'c'), ('z', 'y', 'x'))
    """
    shape = tuple(shape)
    ndim, last = len(shape), shape[-1]
    if ndim == 2:
        return ("y", "x")
    if ndim == 3:
        return ("y", "x", "c") if last in (3, 4) else ("z", "y", "x")
    if ndim == 4 and last <= 4:
        return ("z", "y", "x", "c")
    if ndim == 5 and last <= 4:
        return ("t", "z", "y", "x", "c")
    example = "dims='tzyx' or dims='czyx'" if ndim == 4 else "dims='tczyx'"
    raise ImageError(
        f"cannot tell the dims of a {ndim}D image of shape {shape} (it could hold "
        f"time, depth or channels); name its axes, e.g. {example}"
    )


def parse_dims(dims: Any, shape: Sequence[int]) -> tuple[str, ...]:
    """Check user-given ``dims`` (a string like ``"zyx"`` or a sequence) against ``shape``.

    Examples
    --------
    >>> parse_dims("CYX", (3, 8, 8))
    ('c', 'y', 'x')
    >>> parse_dims(5, (8, 8))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    brushlab.errors.ImageError: dims=5 is not a string or a sequence of names; ...
    """
    shape = tuple(shape)
    if isinstance(dims, str):
        names = tuple(dims.lower())
    elif isinstance(dims, Sequence) and not isinstance(dims, bytes):
        names = tuple(str(d).lower() for d in dims)
    else:
        raise ImageError(
            f"dims={dims!r} is not a string or a sequence of names; name each axis of the "
            f"image (shape {shape}) in order, e.g. dims={'tczyx'[-len(shape):]!r}"
        )
    spelled = "".join(names) if all(len(n) == 1 for n in names) else names
    unknown = [name for name in names if name not in DIMS]
    if unknown:
        raise ImageError(
            f"dims {spelled!r} (shape {shape}) use unknown names {unknown}; name "
            "each axis t (time), z, y, x (space) or c (channel), e.g. dims='zyx'"
        )
    if len(set(names)) != len(names):
        raise ImageError(
            f"dims {spelled!r} (shape {shape}) name an axis twice; give every axis "
            "its own name, e.g. dims='czyx'"
        )
    if len(names) != len(shape):
        raise ImageError(
            f"dims {spelled!r} name {len(names)} axes but the image has "
            f"{len(shape)} (shape {shape}); give one name per axis, e.g. "
            f"dims={'tczyx'[-len(shape):]!r}"
        )
    if "y" not in names or "x" not in names:
        raise ImageError(
            f"dims {spelled!r} (shape {shape}) lack 'y' or 'x'; an image needs "
            "both, e.g. dims='cyx'"
        )
    return names


def metadata_dims(names: Sequence[Any] | None, shape: Sequence[int],
                  where: str) -> tuple[tuple[str, ...] | None, str | None]:
    """Dims named by a file's metadata, or the error to raise if the caller gives no ``dims=``.

    Returns ``(dims, None)`` when the names map to :data:`DIMS`, ``(None, message)`` when
    they do not, and ``(None, None)`` when the file names no axes (dims are then inferred).

    Examples
    --------
    >>> metadata_dims(["Z", "Y", "X"], (2, 3, 4), "a.h5")
    (('z', 'y', 'x'), None)
    >>> metadata_dims(["q", "y", "x"], (2, 3, 4), "a.h5")[1][:38]
    "a.h5 names its axes ('q', 'y', 'x') (s"
    """
    if names is None or any(name is None for name in names):
        return None, None
    lowered = tuple(str(name).lower() for name in names)
    if all(n in DIMS for n in lowered) and len(set(lowered)) == len(lowered) == len(shape):
        return lowered, None
    return None, (f"{where} names its axes {tuple(names)} (shape {tuple(shape)}), which do "
                  "not map to t, z, y, x, c; name them with dims=, e.g. dims='zyx'")


# -- frames -----------------------------------------------------------------------------


class Frames(NamedTuple):
    """Per-time arrays ``(C, *spatial)`` of one image and their geometry."""

    arrays: list[Any]
    spatial_dims: list[str]
    spacing: list[float]

    @property
    def n_channels(self) -> int:
        """Channels per frame (1 for an image without a ``c`` dim)."""
        return int(self.arrays[0].shape[0])

    @property
    def ndim(self) -> int:
        """Number of spatial dims (2 or 3)."""
        return len(self.spatial_dims)


def split_frames(img: xr.DataArray, device: str | None = None) -> Frames:
    """Split ``img`` into per-time ``(C, *spatial)`` arrays, moved to ``device`` if given.

    Examples
    --------
    >>> from brushlab import as_image
    >>> frames = split_frames(as_image(np.zeros((2, 5, 6)), dims="tyx"))
    >>> len(frames.arrays), frames.arrays[0].shape, frames.spatial_dims
    (2, (1, 5, 6), ['y', 'x'])
    """
    spatial: list[str] = [d for d in SPATIAL if d in img.dims]
    sp = spacing_of(img)
    spacing = [float(sp.get(d, 1.0)) for d in spatial]
    order = [d for d in ("t", "c") if d in img.dims] + spatial
    data = img.transpose(*order).data
    if "c" not in img.dims:
        data = data[:, None] if "t" in img.dims else data[None]
    if "t" not in img.dims:
        data = data[None]
    if device is not None:
        data = asarray_on(data, device)
    return Frames(list(data), spatial, spacing)
