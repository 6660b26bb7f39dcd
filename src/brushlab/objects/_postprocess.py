"""Clean-up of prediction results and masks: minimum confidence, holes, small objects.

Each function takes what the previous one returns, so they compose::

    result = brushlab.objects.min_confidence(result, 0.6)
    mask = brushlab.objects.fill_holes(result.segmentation == 2)
    mask = brushlab.objects.remove_small_objects(mask, 30)

numpy, cupy and xarray in; the same kind out (xarray keeps dims, coords and attrs).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from brushlab._core.backend import array_module
from brushlab.errors import BrushlabError, LabelError
from brushlab.objects._common import (
    SpacingLike,
    as_label_array,
    full_structure,
    ndimage_of,
    rewrap,
    unwrap,
)

__all__ = ["min_confidence", "fill_holes", "remove_small_objects"]


def min_confidence(result: xr.Dataset, threshold: float) -> xr.Dataset:
    """Unassign the pixels a prediction is not sure about: segmentation 0 below ``threshold``.

    Parameters
    ----------
    result : xarray.Dataset
        A prediction (:meth:`brushlab.PixelClassifier.predict`) with ``segmentation``
        and ``confidence`` (or ``probabilities``, from which confidence is taken).
    threshold : float
        Minimum confidence (largest class probability), in [0, 1].

    Returns
    -------
    xarray.Dataset
        A copy whose ``segmentation`` is 0 ("unassigned") where the confidence is
        below ``threshold``; the other variables are unchanged.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> result = xr.Dataset({"segmentation": (("y", "x"), np.array([[1, 2]], np.uint8)),
    ...                      "confidence": (("y", "x"), np.array([[0.9, 0.55]], np.float32))})
    >>> min_confidence(result, 0.6).segmentation.values.tolist()
    [[1, 0]]
    """
    if not isinstance(result, xr.Dataset) or "segmentation" not in result:
        raise BrushlabError(
            "min_confidence needs a prediction result (an xarray.Dataset with 'segmentation'), "
            "as PixelClassifier.predict returns"
        )
    if not 0.0 <= float(threshold) <= 1.0:
        raise BrushlabError(f"threshold must be a probability in [0, 1], not {threshold}")
    if "confidence" in result:
        confidence = result["confidence"]
    elif "probabilities" in result:
        confidence = result["probabilities"].max("class")
    else:
        raise BrushlabError(
            "the result has neither 'confidence' nor 'probabilities': predict with "
            "outputs=('segmentation', 'confidence')"
        )
    out = result.copy()
    seg = result["segmentation"]
    out["segmentation"] = seg.where(confidence >= float(threshold), 0).astype(seg.dtype)
    out.attrs["min_confidence"] = float(threshold)
    return out


def fill_holes(data: Any, *, max_size: float | None = None, spacing: SpacingLike = None) -> Any:
    """Fill the holes of a mask, or of each object of a label image.

    A hole is background not connected to the image border (face connectivity). In a
    label image a hole is filled only when a single object surrounds it, with that
    object's id; holes between several objects stay.

    Parameters
    ----------
    data : array-like or xarray.DataArray
        2D or 3D bool mask or integer label image (0 background).
    max_size : float, optional
        Fill only holes up to this size, in physical units (pixels when there is no
        spacing). All holes when None.
    spacing : float, sequence or mapping, optional
        Pixel size per axis (default: the DataArray's ``attrs["spacing"]``, else 1).

    Returns
    -------
    array or xarray.DataArray
        Same kind, shape and dtype as ``data``.

    Examples
    --------
    >>> import numpy as np
    >>> ring = np.zeros((5, 5), bool); ring[1:4, 1:4] = True; ring[2, 2] = False
    >>> bool(fill_holes(ring)[2, 2])
    True
    """
    src = unwrap(data, spacing=spacing, what="the mask")
    arr = as_label_array(src.array, "the mask")
    xp, ndi = array_module(arr), ndimage_of(arr)
    fg = arr > 0
    holes = ndi.binary_fill_holes(fg) & ~fg
    if not bool(holes.any()):
        return rewrap(arr.copy(), src)
    hole_ids, n = ndi.label(holes)
    keep = xp.ones(n + 1, dtype=bool)
    keep[0] = False
    if max_size is not None:
        voxel = float(np.prod(src.spacing))
        sizes = xp.bincount(hole_ids.ravel(), minlength=n + 1) * voxel
        keep &= sizes <= float(max_size)
    out = arr.copy()
    if arr.dtype == bool:
        out[keep[hole_ids]] = True
        return rewrap(out, src)
    # The objects touching each hole: labels just outside it.
    grown = ndi.grey_dilation(hole_ids, footprint=full_structure(arr.ndim))
    ring = (grown > 0) & (hole_ids == 0) & fg
    pairs = xp.unique(grown[ring].astype(xp.int64) * (int(arr.max()) + 1) + arr[ring])
    hole_of, label_of = pairs // (int(arr.max()) + 1), pairs % (int(arr.max()) + 1)
    surrounding = xp.bincount(hole_of, minlength=n + 1)
    single = (surrounding == 1) & keep
    fill_with = xp.zeros(n + 1, dtype=arr.dtype)
    fill_with[hole_of[single[hole_of]]] = label_of[single[hole_of]].astype(arr.dtype)
    target = single[hole_ids]
    out[target] = fill_with[hole_ids[target]]
    return rewrap(out, src)


def remove_small_objects(
    data: Any,
    min_size: float,
    *,
    spacing: SpacingLike = None,
    connectivity: int | None = None,
) -> Any:
    """Remove objects smaller than ``min_size``.

    Parameters
    ----------
    data : array-like or xarray.DataArray
        2D or 3D bool mask (objects are its connected components) or integer label
        image (objects are its ids, which are kept: the result may have gaps).
    min_size : float
        Smallest size kept, in physical units (area in 2D, volume in 3D; pixels
        when there is no spacing).
    spacing : float, sequence or mapping, optional
        Pixel size per axis (default: the DataArray's ``attrs["spacing"]``, else 1).
    connectivity : int, optional
        Neighbourhood of a mask's components: 1 (faces) up to ndim (all
        neighbours, the default).

    Returns
    -------
    array or xarray.DataArray
        Same kind, shape and dtype as ``data``, small objects set to 0.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((6, 6), bool); mask[0:3, 0:3] = True; mask[5, 5] = True
    >>> int(remove_small_objects(mask, 4).sum())
    9
    """
    src = unwrap(data, spacing=spacing, what="the mask")
    arr = as_label_array(src.array, "the mask")
    if float(min_size) < 0:
        raise LabelError(f"min_size must be at least 0, not {min_size}")
    xp, ndi = array_module(arr), ndimage_of(arr)
    if arr.dtype == bool:
        ndim = arr.ndim
        conn = ndim if connectivity is None else int(connectivity)
        if not 1 <= conn <= ndim:
            raise LabelError(f"connectivity must be 1..{ndim} for a {ndim}D mask, not {conn}")
        ids, _ = ndi.label(arr, structure=ndi.generate_binary_structure(ndim, conn))
    else:
        ids = arr
    sizes = xp.bincount(ids.ravel().astype(xp.int64)) * float(np.prod(src.spacing))
    small = sizes < float(min_size)
    small[0] = False
    out = arr.copy()
    out[small[ids]] = 0
    return rewrap(out, src)
