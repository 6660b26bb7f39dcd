"""RGBA overlays of instance labels and object classes, and the object under a click.

Viewers (the notebook widget) draw these ``(H, W, 4)`` uint8 arrays as they are:
RGBA, because a canvas sends RGB as lossy JPEG. Background is fully transparent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from brushlab._core.backend import to_numpy
from brushlab._core.colours import PALETTE, blend, class_lut, classes_rgba, palette_rgb
from brushlab.errors import BrushlabError, LabelError

__all__ = ["label_overlay", "class_overlay", "object_at", "overlay", "CLASS_COLORS"]

#: Colours of classes 1, 2, ... (RGB): brushlab's one palette (:mod:`brushlab._core.colours`).
CLASS_COLORS = tuple(palette_rgb(len(PALETTE)))


def _plane(data: Any, what: str) -> np.ndarray:
    arr = to_numpy(getattr(data, "data", data))
    if arr.ndim != 2:
        raise LabelError(
            f"{what} overlays are drawn per 2D plane, but this array has shape {arr.shape}: "
            "select a plane first, e.g. labels[z]"
        )
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        raise LabelError(f"{what} must be integers, not {arr.dtype}")
    return arr.astype(np.int64)


def _alpha(alpha: float) -> int:
    if not 0.0 <= float(alpha) <= 1.0:
        raise BrushlabError(f"alpha must be in [0, 1], not {alpha}")
    return int(round(float(alpha) * 255))


def label_overlay(labels: Any, *, alpha: float = 0.5, seed: int = 0) -> np.ndarray:
    """Colour each object of a 2D label image with a random colour (RGBA).

    The colour of an id depends only on the id and ``seed``, so an object keeps its
    colour when others change.

    Parameters
    ----------
    labels : array-like or xarray.DataArray
        2D integer labels, 0 background (transparent).
    alpha : float, default 0.5
        Opacity of the objects.
    seed : int, default 0
        Changes all colours.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 4)`` uint8 RGBA.

    Examples
    --------
    >>> import numpy as np
    >>> rgba = label_overlay(np.array([[0, 1], [2, 2]]))
    >>> rgba.shape, rgba.dtype.name, int(rgba[0, 0, 3]), int(rgba[1, 1, 3])
    ((2, 2, 4), 'uint8', 0, 128)
    """
    lab = _plane(labels, "label")
    ids = np.arange(int(lab.max(initial=0)) + 1, dtype=np.uint64)
    # splitmix64-like hash of (id, seed): stable colours, bright enough to see
    h = (ids + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)) * np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(31)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(29)
    rgb = np.stack([(h >> np.uint64(s)) & np.uint64(0xFF) for s in (0, 8, 16)], axis=1)
    lut = np.zeros((ids.size, 4), np.uint8)
    lut[:, :3] = 64 + (rgb.astype(np.uint16) * 191 // 255).astype(np.uint8)
    lut[:, 3] = _alpha(alpha)
    lut[0] = 0
    return lut[lab]


def class_overlay(
    classes: Any,
    *,
    colors: Sequence[Sequence[int]] | None = None,
    alpha: float = 0.5,
) -> np.ndarray:
    """Colour a 2D class image (0 none, 1..K classes) with one colour per class (RGBA).

    Parameters
    ----------
    classes : array-like or xarray.DataArray
        2D class ids, e.g. :meth:`ObjectClassifier.class_image` of a plane.
    colors : sequence of RGB triples, optional
        Colour of class 1, 2, ... (default :data:`CLASS_COLORS`, repeated).
    alpha : float, default 0.5
        Opacity of the coloured pixels.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 4)`` uint8 RGBA, class 0 transparent.

    Examples
    --------
    >>> import numpy as np
    >>> class_overlay(np.array([[0, 2]]), colors=[(255, 0, 0), (0, 0, 255)], alpha=1.0)[0, 1]
    array([  0,   0, 255, 255], dtype=uint8)
    """
    cls = _plane(classes, "class")
    palette = list(colors) if colors is not None else list(CLASS_COLORS)
    if not palette or any(len(c) != 3 for c in palette):
        raise BrushlabError("colors must be RGB triples, e.g. [(255, 0, 0), (0, 0, 255)]")
    k = int(cls.max(initial=0))
    lut = class_lut([palette[i % len(palette)] for i in range(k)], _alpha(alpha) / 255)
    return classes_rgba(cls, lut)


def overlay(
    image: Any, classes: Any, *, alpha: float = 0.4, background: int | None = 1
) -> np.ndarray:
    """Blend class colours over a greyscale image (contrast from its 0.5-99.5 percentiles).

    Parameters
    ----------
    image : array-like
        2D greyscale image.
    classes : array-like
        2D class ids (0 none, 1..K), e.g. a result's ``segmentation``.
    alpha : float, default 0.4
        Opacity of the class colours (:data:`CLASS_COLORS`).
    background : int or None, default 1
        A class left uncoloured (None colours every class).

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` uint8 RGB, e.g. for :func:`brushlab.write_image` to PNG.

    Examples
    --------
    >>> import numpy as np
    >>> rgb = overlay(np.array([[0.0, 1.0]]), np.array([[1, 2]]), alpha=1.0)
    >>> rgb[0, 0].tolist(), rgb[0, 1].tolist() == list(CLASS_COLORS[1])
    ([0, 0, 0], True)
    """
    img = to_numpy(getattr(image, "data", image)).astype(np.float64)
    cls = _plane(classes, "class")
    lo, hi = np.percentile(img, (0.5, 99.5))
    grey = np.clip((img - lo) / max(hi - lo, 1e-12), 0, 1)
    if background is not None:
        cls = np.where(cls == background, 0, cls)
    return blend(grey, class_overlay(cls, alpha=alpha))


def object_at(labels: Any, point: Sequence[float]) -> int:
    """Return the id of the object under a pixel (0 for background).

    Parameters
    ----------
    labels : array-like or xarray.DataArray
        2D or 3D integer labels.
    point : sequence of float
        Pixel coordinates in the labels' axis order, e.g. ``(y, x)`` or ``(z, y, x)``;
        rounded to the nearest pixel.

    Returns
    -------
    int
        The object id, 0 for background or a point outside the image.

    Examples
    --------
    >>> import numpy as np
    >>> object_at(np.array([[0, 7], [0, 7]]), (0.8, 1.2))
    7
    """
    data = getattr(labels, "data", labels)
    if len(point) != data.ndim:
        raise LabelError(
            f"point {tuple(point)} has {len(point)} coordinates but the labels have "
            f"{data.ndim} axes: give one per axis, e.g. (y, x)"
        )
    index = tuple(int(np.floor(float(c) + 0.5)) for c in point)
    if any(i < 0 or i >= n for i, n in zip(index, data.shape)):
        return 0
    return int(to_numpy(data[index]))
