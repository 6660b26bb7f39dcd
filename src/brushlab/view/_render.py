"""Turn image planes, labels and prediction results into RGBA pixels for a canvas.

Everything is numpy and UI-free: a widget only sends what these return.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from brushlab._core.colours import class_lut, classes_rgba
from brushlab.errors import ImageError

__all__ = [
    "auto_contrast",
    "window",
    "composite",
    "label_lut",
    "labels_rgba",
    "probability_rgba",
    "segmentation_rgba",
    "uncertainty_rgba",
    "CHANNEL_COLOURS",
]

# Additive colours for a composite of up to six channels (first three: R, G, B).
CHANNEL_COLOURS = np.array(
    [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 0, 255], [0, 255, 255], [255, 255, 0]],
    dtype=np.float32,
)
UNCERTAINTY_RGB = (255, 255, 255)


def auto_contrast(
    values: np.ndarray, percentiles: tuple[float, float] = (0.5, 99.5), *, max_samples: int = 2**18
) -> tuple[float, float]:
    """Display range from percentiles of the finite values (ilastik/napari "auto contrast").

    Parameters
    ----------
    values : numpy.ndarray
        Pixels of one channel (any shape).
    percentiles : tuple of float
        Lower and upper percentile.
    max_samples : int
        Large planes are subsampled on a regular grid to this many values.

    Returns
    -------
    tuple of float
        ``(low, high)`` with ``high > low``.

    Raises
    ------
    ImageError
        If no value is finite (an all-NaN plane cannot be shown).
    """
    flat = np.asarray(values).ravel()
    if flat.size > max_samples:
        flat = flat[:: int(np.ceil(flat.size / max_samples))]
    flat = flat[np.isfinite(flat)] if flat.dtype.kind == "f" else flat
    if flat.size == 0:
        raise ImageError(
            "this plane has no finite values (all NaN or infinite): nothing to show; "
            "replace NaN (e.g. numpy.nan_to_num) before annotating"
        )
    lo, hi = (float(v) for v in np.percentile(flat, percentiles))
    if not hi > lo:
        lo, hi = float(flat.min()), float(flat.max())
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


def window(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Scale ``values`` from ``[low, high]`` to ``0..255`` uint8 (NaN shows black)."""
    span = high - low if high > low else 1.0
    out = (np.asarray(values, dtype=np.float32) - np.float32(low)) * np.float32(255.0 / span)
    np.nan_to_num(out, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(out, 0, 255).astype(np.uint8)


def composite(
    planes: np.ndarray,
    ranges: Sequence[tuple[float, float]],
    channels: Sequence[int] | None = None,
) -> np.ndarray:
    """RGBA of a single channel (grey) or an additive composite of several.

    Parameters
    ----------
    planes : numpy.ndarray
        ``(h, w)`` or ``(h, w, c)`` pixels.
    ranges : sequence of tuple
        ``(low, high)`` per channel.
    channels : sequence of int, optional
        Channels to show: one is shown in grey; several are added in
        :data:`CHANNEL_COLOURS` (three channels of an RGB image give its colours).
        Default: channel 0.

    Returns
    -------
    numpy.ndarray
        ``(h, w, 4)`` uint8, opaque.
    """
    data = planes[..., None] if planes.ndim == 2 else planes
    chosen = list(channels) if channels is not None else [0]
    h, w = data.shape[:2]
    out = np.empty((h, w, 4), dtype=np.uint8)
    out[..., 3] = 255
    if len(chosen) == 1:
        grey = window(data[..., chosen[0]], *ranges[chosen[0]])
        out[..., 0] = out[..., 1] = out[..., 2] = grey
        return out
    acc = np.zeros((h, w, 3), dtype=np.float32)
    for k, c in enumerate(chosen):
        acc += window(data[..., c], *ranges[c])[..., None] * (CHANNEL_COLOURS[k % 6] / 255.0)
    out[..., :3] = np.clip(acc, 0, 255).astype(np.uint8)
    return out


def label_lut(colours: Sequence[tuple[int, int, int]], opacity: float) -> np.ndarray:
    """Look-up table ``(K + 1, 4)`` uint8: id 0 transparent, class ``k`` its colour."""
    return class_lut(colours, opacity)


def labels_rgba(labels: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """RGBA of a label array through :func:`label_lut` (ids beyond the table are transparent)."""
    return classes_rgba(labels, lut)


def probability_rgba(
    probability: np.ndarray, rgb: tuple[int, int, int], opacity: float
) -> np.ndarray:
    """One class's probability in its colour, alpha = probability x opacity (NaN: transparent)."""
    p = np.nan_to_num(np.asarray(probability, dtype=np.float32), nan=0.0)
    out = np.empty((*p.shape, 4), dtype=np.uint8)
    out[..., :3] = np.asarray(rgb, dtype=np.uint8)
    out[..., 3] = np.clip(p * (255 * float(np.clip(opacity, 0, 1))), 0, 255).astype(np.uint8)
    return out


def segmentation_rgba(segmentation: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Segmentation (class ids, 0 = none) coloured by class; ``lut`` from :func:`label_lut`."""
    return labels_rgba(segmentation, lut)


def uncertainty_rgba(uncertainty: np.ndarray, opacity: float) -> np.ndarray:
    """Uncertainty as white fog: alpha = uncertainty x opacity; certain pixels stay clear."""
    return probability_rgba(uncertainty, UNCERTAINTY_RGB, opacity)
