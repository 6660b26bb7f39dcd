"""From masks and boundary probabilities to instance label images.

- :func:`separate_objects`: split touching objects of a mask by a watershed of its
  distance transform (seeds: h-maxima of the smoothed distance, in physical units,
  so anisotropic voxels are measured right).
- :func:`instances`: connected components of a class mask (touching objects split
  when ``separate``), or regions of a boundary probability by a seeded watershed
  (``method="watershed"``, for EM neurons; seeds from the distance to the
  boundaries, as the "distance transform watershed" of plantseg/elf).

Distance transforms, smoothing and component labelling run on the array's backend
(cupyx.scipy.ndimage for cupy); the watershed and h-maxima run on the CPU with
scikit-image (there is no cupy watershed), and the result goes back to the input's
backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from brushlab._core.backend import array_module, is_cupy, to_numpy
from brushlab.errors import LabelError
from brushlab.objects._common import (
    SpacingLike,
    Spatial,
    as_label_array,
    ndimage_of,
    rewrap,
    unwrap,
)

__all__ = ["instances", "separate_objects", "DEFAULTS"]

#: Defaults of :func:`instances`, chosen on BBBC039 images 00, 01 and 03 (nuclei of
#: ~15-40 px) and ISBI 2012 slices 0 and 5 (see benchmarks/bench_objects.py).
DEFAULTS = {"h": 0.5, "sigma": 2.0, "threshold": 0.5, "seed_sigma": 2.0, "seed_h": 6.0}


def _finest(spacing: tuple[float, ...]) -> float:
    return float(min(spacing))


def _smooth(xp_array: Any, sigma_px: float, spacing: tuple[float, ...]) -> Any:
    """Gaussian of ``sigma_px`` pixels of the finest axis, narrower along coarse axes."""
    if sigma_px <= 0:
        return xp_array
    ndi = ndimage_of(xp_array)
    finest = _finest(spacing)
    return ndi.gaussian_filter(xp_array, [sigma_px * finest / s for s in spacing])


def _to_backend(array: np.ndarray, like: Any) -> Any:
    if is_cupy(like):
        import cupy

        return cupy.asarray(array)
    return array


def _h_maxima_seeds(distance: Any, h: float, mask: np.ndarray) -> np.ndarray:
    from skimage.measure import label
    from skimage.morphology import h_maxima

    d = to_numpy(distance).astype(np.float64)
    peaks = h_maxima(d, h) > 0 if h > 0 else _local_maxima(d)
    return np.asarray(label(peaks & mask), dtype=np.int32)


def _local_maxima(d: np.ndarray) -> np.ndarray:
    from skimage.morphology import local_maxima

    return np.asarray(local_maxima(d), dtype=bool)


def separate_objects(
    mask: Any,
    *,
    h: float = DEFAULTS["h"],
    sigma: float = DEFAULTS["sigma"],
    spacing: SpacingLike = None,
) -> Any:
    """Split touching objects of a mask: watershed of the distance transform.

    Each object grows from a seed at a maximum of the distance to the background
    (in physical units, ``spacing`` respected) that rises at least ``h`` above the
    saddle joining it to a higher maximum (h-maxima); a neck narrower than that
    does not split. Every connected component keeps at least one object.

    Parameters
    ----------
    mask : array-like or xarray.DataArray
        2D or 3D bool (or 0/nonzero) mask.
    h : float, default 0.5
        Depth of a split, in pixels of the finest axis: raise it if round objects
        are cut in two, lower it if touching ones stay merged.
    sigma : float, default 2.0
        Gaussian smoothing of the distance before finding seeds, in pixels of the
        finest axis (0: none); removes seeds from ragged borders.
    spacing : float, sequence or mapping, optional
        Pixel size per axis (default: the DataArray's ``attrs["spacing"]``, else 1).

    Returns
    -------
    array or xarray.DataArray
        int32 labels 1..N (0 background), same kind as ``mask``.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:40, :60]
    >>> two = ((yy - 20) ** 2 + (xx - 18) ** 2 < 144) | ((yy - 20) ** 2 + (xx - 40) ** 2 < 144)
    >>> int(separate_objects(two).max())
    2
    """
    src = unwrap(mask, spacing=spacing, what="the mask")
    return rewrap(_separate(src, h=h, sigma=sigma), src)


def _separate(src: Spatial, *, h: float, sigma: float) -> Any:
    from skimage.segmentation import watershed

    arr = as_label_array(src.array, "the mask")
    ndi = ndimage_of(arr)
    fg = arr > 0
    fg_np = to_numpy(fg)
    if not fg_np.any():
        return _to_backend(np.zeros(fg_np.shape, np.int32), arr)
    distance = ndi.distance_transform_edt(fg, sampling=src.spacing)
    smoothed = _smooth(distance, sigma, src.spacing)
    seeds = _h_maxima_seeds(smoothed, h * _finest(src.spacing), fg_np)
    full = np.ones((3,) * fg_np.ndim, bool)
    labels = watershed(-to_numpy(smoothed), seeds, mask=fg_np, connectivity=full)
    # Components the seeds missed (thin, or lower than h everywhere) stay objects.
    missed = fg_np & (labels == 0)
    if missed.any():
        extra, n_extra = ndi_label_numpy(missed)
        labels[missed] = extra[missed] + labels.max()
    return _to_backend(_relabel(labels), arr)


def ndi_label_numpy(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label connected components over all neighbours (8 in 2D, 26 in 3D), on the CPU."""
    from scipy import ndimage

    ids, n = ndimage.label(mask, structure=np.ones((3,) * mask.ndim, bool))
    return ids, int(n)


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Consecutive ids 1..N in order of first appearance (raster order), int32."""
    flat = labels.ravel()
    ids, first = np.unique(flat, return_index=True)
    order = ids[np.argsort(first)]
    order = order[order != 0]
    lut = np.zeros(int(ids.max()) + 1 if ids.size else 1, np.int32)
    lut[order] = np.arange(1, order.size + 1, dtype=np.int32)
    return lut[labels]


def _components(src: Spatial, *, foreground: Any, separate: bool, h: float, sigma: float) -> Any:
    arr = as_label_array(src.array, "the mask")
    xp, ndi = array_module(arr), ndimage_of(arr)
    values: list[Any]
    if arr.dtype == bool:
        values = [True]
    elif foreground is None:
        values = [int(v) for v in to_numpy(xp.unique(arr)) if v != 0]
    else:
        values = [int(v) for v in np.atleast_1d(foreground)]
    out = np.zeros(arr.shape, np.int32)
    structure = xp.ones((3,) * arr.ndim, dtype=bool)
    for value in values:  # per class value: touching objects of two classes stay apart
        fg = arr == value
        if separate:
            part = to_numpy(_separate(Spatial(fg, src.spacing, None), h=h, sigma=sigma))
        else:
            part = to_numpy(ndi.label(fg, structure=structure)[0])
        part = part.astype(np.int32)
        part[part > 0] += out.max()
        out = np.where(part > 0, part, out)
    return _to_backend(_relabel(out) if len(values) > 1 else out, arr)


def _boundary_watershed(
    src: Spatial,
    *,
    threshold: float,
    sigma: float,
    seed_sigma: float,
    seed_h: float,
    min_size: float,
) -> Any:
    from skimage.segmentation import watershed

    prob = src.array
    xp, ndi = array_module(prob), ndimage_of(prob)
    if prob.dtype == bool or not xp.issubdtype(prob.dtype, xp.floating):
        raise LabelError(
            f"method='watershed' needs a boundary probability (float in [0, 1]), not "
            f"{prob.dtype}; for a class mask use method='components'"
        )
    lo, hi = float(prob.min()), float(prob.max())
    if lo < 0 or hi > 1 or not np.isfinite(lo + hi):
        raise LabelError(
            f"the boundary probability ranges {lo:g}..{hi:g}; it must lie in [0, 1]: pass "
            "result.probabilities.sel({'class': 'membrane'}) or rescale it"
        )
    boundary = _smooth(prob.astype(xp.float32), sigma, src.spacing)
    inside = boundary < threshold
    if not bool(inside.any()):
        raise LabelError(
            f"no pixel has a boundary probability below threshold={threshold}: the image is "
            "all boundary; raise threshold, or check that you passed the boundary class"
        )
    distance = ndi.distance_transform_edt(inside, sampling=src.spacing)
    distance = _smooth(distance, seed_sigma, src.spacing)
    inside_np = to_numpy(inside)
    seeds = _h_maxima_seeds(distance, seed_h * _finest(src.spacing), inside_np)
    # Flood the boundary map, broken by the distance so each seed fills its basin.
    dist_np = to_numpy(distance)
    relief = to_numpy(boundary).astype(np.float64) - 0.5 * dist_np / max(dist_np.max(), 1e-9)
    labels = watershed(relief, seeds)
    if min_size > 0:
        voxel = float(np.prod(src.spacing))
        sizes = np.bincount(labels.ravel()) * voxel
        small = sizes < min_size
        small[0] = False
        if small.any() and not small[1:].all():
            seeds[small[seeds]] = 0
            labels = watershed(relief, seeds)
    return _to_backend(_relabel(labels), prob)


def instances(
    data: Any,
    *,
    method: str = "components",
    separate: bool = True,
    foreground: int | list[int] | None = None,
    min_size: float = 0.0,
    h: float = DEFAULTS["h"],
    sigma: float | None = None,
    threshold: float = DEFAULTS["threshold"],
    seed_sigma: float = DEFAULTS["seed_sigma"],
    seed_h: float = DEFAULTS["seed_h"],
    spacing: SpacingLike = None,
) -> Any:
    """Turn a class mask or a boundary probability into an instance label image.

    Parameters
    ----------
    data : array-like or xarray.DataArray
        2D or 3D. For ``method="components"``: a bool mask, or an integer class image
        (each nonzero value, or each of ``foreground``, is one class; objects of
        different classes never merge). For ``method="watershed"``: a boundary
        probability in [0, 1] (e.g. the membrane class of an EM prediction).
    method : {"components", "watershed"}
        Connected components (split by :func:`separate_objects` when ``separate``),
        or a seeded watershed of the boundary probability that assigns every pixel
        to a region.
    separate : bool, default True
        Split touching objects (components only).
    foreground : int or list of int, optional
        Class values that are objects (default: every nonzero value).
    min_size : float, default 0
        Objects smaller than this (physical area/volume, pixels without spacing)
        are removed; with ``method="watershed"`` their pixels go to their neighbours.
    h : float, default 0.5
        Split depth of :func:`separate_objects`, in pixels of the finest axis.
    sigma : float, optional
        Gaussian smoothing in pixels of the finest axis: of the distance transform
        (components; default 2) or of the boundary probability (watershed; default 1).
    threshold : float, default 0.5
        Watershed: boundary probability below which a pixel is inside a region.
    seed_sigma, seed_h : float, default 2.0 and 6.0
        Watershed: smoothing and h-maxima depth of the distance to the boundaries
        that places the seeds, in pixels of the finest axis. Raise ``seed_h`` when
        regions are over-split, lower it when neighbours merge.
    spacing : float, sequence or mapping, optional
        Pixel size per axis (default: the DataArray's ``attrs["spacing"]``, else 1):
        distances are physical, so anisotropic 3D stacks split right.

    Returns
    -------
    array or xarray.DataArray
        int32 labels 1..N (consecutive, 0 background), the same kind as ``data``
        (xarray keeps dims, coords and attrs, with ``spacing``).

    Raises
    ------
    brushlab.errors.LabelError
        Unknown method, a float mask for components, a probability outside [0, 1],
        or not 2 or 3 spatial dims.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((20, 20), bool); mask[2:6, 2:6] = True; mask[10:18, 10:18] = True
    >>> int(instances(mask).max())
    2
    >>> boundary = np.zeros((20, 20), np.float32); boundary[:, 9:11] = 1.0
    >>> np.unique(instances(boundary, method="watershed")).tolist()
    [1, 2]
    """
    src = unwrap(data, spacing=spacing, what="the input of instances")
    if method == "components":
        out = _components(
            src,
            foreground=foreground,
            separate=separate,
            h=h,
            sigma=DEFAULTS["sigma"] if sigma is None else sigma,
        )
        if min_size > 0:
            out = _to_backend(_relabel(_drop_small(to_numpy(out), min_size, src.spacing)), out)
    elif method == "watershed":
        out = _boundary_watershed(
            src,
            threshold=threshold,
            sigma=1.0 if sigma is None else sigma,
            seed_sigma=seed_sigma,
            seed_h=seed_h,
            min_size=min_size,
        )
    else:
        raise LabelError(f"method must be 'components' or 'watershed', not {method!r}")
    return rewrap(out, src, name="instances")


def _drop_small(labels: np.ndarray, min_size: float, spacing: tuple[float, ...]) -> np.ndarray:
    sizes = np.bincount(labels.ravel()) * float(np.prod(spacing))
    small = sizes < min_size
    small[0] = False
    return np.where(small[labels], 0, labels).astype(np.int32)
