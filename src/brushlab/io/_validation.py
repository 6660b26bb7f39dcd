"""Checks on images and labels before training or prediction, with errors that say the fix."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import xarray as xr

from brushlab._core.backend import array_module, to_numpy
from brushlab.errors import ImageError, LabelError

__all__ = ["check_image", "check_labels"]


def check_image(img: xr.DataArray, *, where: str) -> None:
    """Raise ImageError if ``img`` lacks y/x or holds NaN/inf.

    ``img`` comes from :func:`brushlab.as_image`, which already refuses empty and
    non-numeric images.
    """
    if not {"y", "x"} <= set(img.dims):
        raise ImageError(
            f"{where} has dims {img.dims}; brushlab needs at least y and x: pass dims= to imread"
        )
    if np.issubdtype(img.dtype, np.floating):
        xp = array_module(img.data)
        if not bool(xp.isfinite(img.data).all()):
            raise ImageError(
                f"{where} contains NaN or infinite pixels: "
                "replace them (e.g. with numpy.nan_to_num) first"
            )


def check_labels(
    labels: Any, img: xr.DataArray, index: int, *, names: tuple[str, str] | None = None
) -> np.ndarray:
    """Return ``labels`` as an integer numpy array, checked against ``img`` (without channels).

    Raises
    ------
    LabelError
        On a shape mismatch, non-integer or negative values. ``names`` (labels,
        image) replaces "labels {index}" and "image {index}" in the messages.
    """
    from brushlab.io._image import imread

    if isinstance(labels, (str, os.PathLike)):
        labels = imread(labels).data
    if isinstance(labels, xr.DataArray):
        labels = labels.data
    arr = to_numpy(labels)
    expected = tuple(n for d, n in img.sizes.items() if d != "c")
    label_name, image_name = names or (f"labels {index}", f"image {index}")
    if arr.shape != expected:
        raise LabelError(
            f"{label_name} have shape {arr.shape} but {image_name} is {expected} "
            f"(dims {[d for d in img.dims if d != 'c']}): labels must match the image without "
            "its channel axis"
        )
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)):
            raise LabelError(f"labels {index} must be integers (0 = unlabelled, 1..K = classes)")
        if not np.array_equal(arr, np.round(arr)):
            raise LabelError(
                f"labels {index} hold non-integer values: use integers 0 (unlabelled) and 1..K"
            )
        arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise LabelError(f"labels {index} contain negative values; use 0 for unlabelled, 1..K")
    return arr
