"""The one builder of result Datasets: probabilities -> segmentation, uncertainty, confidence.

Every producer of class probabilities (the pixel classifier, the Session's regions, the
BioImage Model Zoo runner, the CRF) turns them into a result here, so that a result means
the same thing wherever it comes from:

- ``probabilities``: dim ``class`` first (named after the classes), float32, summing to 1;
- ``segmentation``: 1..K, the most probable class, in the smallest unsigned dtype;
- ``uncertainty``: ``1 - (p_max - p_second)``, as ilastik defines it;
- ``confidence``: ``p_max``.

Examples
--------
>>> import numpy as np
>>> p = np.array([[[0.9, 0.2]], [[0.1, 0.8]]], np.float32)      # 2 classes, 1 x 2 pixels
>>> ds = build_result(p, class_names=["bg", "fg"], dims=["y", "x"])
>>> ds.segmentation.values.tolist(), ds.uncertainty.values.astype(float).round(2).tolist()
([[1, 2]], [[0.2, 0.4]])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["OUTPUTS", "build_result", "derive_outputs", "result_dataset"]

OUTPUTS = ("probabilities", "segmentation", "uncertainty", "confidence")


def derive_outputs(probabilities: Any, outputs: Sequence[str] = OUTPUTS) -> dict[str, Any]:
    """Segmentation, uncertainty and confidence from class probabilities.

    Parameters
    ----------
    probabilities : numpy.ndarray
        ``(K, ...)`` probabilities, class first.
    outputs : sequence of str
        Which of :data:`OUTPUTS` to return.

    Returns
    -------
    dict
        ``probabilities`` (as given), ``segmentation`` (1..K, smallest unsigned
        dtype), ``uncertainty`` (1 - (p_max - p_second), as ilastik) and
        ``confidence`` (p_max), as asked.

    Examples
    --------
    >>> import numpy as np
    >>> out = derive_outputs(np.array([[0.7], [0.3]]), ["segmentation", "confidence"])
    >>> out["segmentation"].tolist(), out["confidence"].tolist()
    ([1], [0.699999988079071])
    """
    p = probabilities
    k = p.shape[0]
    out: dict[str, Any] = {}
    if "probabilities" in outputs:
        out["probabilities"] = p
    if "segmentation" in outputs:
        out["segmentation"] = (np.argmax(p, axis=0) + 1).astype(np.min_scalar_type(k))
    if {"uncertainty", "confidence"} & set(outputs):
        if k == 2:  # the common case, without a partition's copy and sort (live overlays)
            p_max, p_second = np.maximum(p[0], p[1]), np.minimum(p[0], p[1])
        elif k > 2:
            top2 = np.partition(p, k - 2, axis=0)[-2:]
            p_max, p_second = top2[1], top2[0]
        else:
            p_max, p_second = p[0], np.zeros_like(p[0])
        if "uncertainty" in outputs:
            out["uncertainty"] = (1.0 - (p_max - p_second)).astype(np.float32)
        if "confidence" in outputs:
            out["confidence"] = p_max.astype(np.float32)
    return out


def build_result(
    probabilities: np.ndarray,
    *,
    class_names: Sequence[str],
    dims: Sequence[str],
    coords: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
    outputs: Sequence[str] = OUTPUTS,
) -> xr.Dataset:
    """Build the result Dataset from ``(K, *dims)`` class probabilities.

    Parameters
    ----------
    probabilities : numpy.ndarray
        Class first, then one axis per name in ``dims``.
    class_names : sequence of str
        One per class, in order; the ``class`` coordinate.
    dims : sequence of str
        Names of the image dims after ``class`` (e.g. ``["z", "y", "x"]``).
    coords : mapping, optional
        Coordinates of those dims (pixel positions, physical spacing); others are dropped.
    attrs : mapping, optional
        Dataset attributes (e.g. ``spacing``, ``unit``, ``source``).
    outputs : sequence of str
        Which of :data:`OUTPUTS` to include.

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    ValueError
        When the number of class names or dims does not fit the array.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.full((3, 2, 2), 1 / 3, np.float32)
    >>> sorted(build_result(p, class_names=["a", "b", "c"], dims=["y", "x"]).data_vars)
    ['confidence', 'probabilities', 'segmentation', 'uncertainty']
    """
    names = [str(n) for n in class_names]
    if probabilities.shape[0] != len(names) or probabilities.ndim != len(dims) + 1:
        raise ValueError(
            f"probabilities of shape {probabilities.shape} do not fit {len(names)} classes "
            f"and dims {list(dims)}"
        )
    data = {
        name: (["class", *dims] if name == "probabilities" else list(dims), arr)
        for name, arr in derive_outputs(probabilities, outputs).items()
    }
    all_coords: dict[str, Any] = {"class": names}
    for d, value in (coords or {}).items():
        if d in dims:
            all_coords[str(d)] = value
    return xr.Dataset(data, coords=all_coords, attrs=dict(attrs or {}))


def result_dataset(
    proba: np.ndarray, img: xr.DataArray, outputs: Sequence[str], class_names: Sequence[str]
) -> xr.Dataset:
    """Build the result of a classifier for image ``img`` from ``(frames, K, ...)`` probabilities.

    ``proba`` holds one ``(K, *spatial)`` block per time point (one block without a ``t``
    dim); the image's coordinates and ``spacing``/``unit``/``source`` attrs carry over.

    Examples
    --------
    >>> import numpy as np, brushlab
    >>> img = brushlab.as_image(np.zeros((2, 3), np.float32))
    >>> p = np.full((1, 2, 2, 3), 0.5, np.float32)
    >>> result_dataset(p, img, OUTPUTS, ["a", "b"]).segmentation.shape
    (2, 3)
    """
    dims = [str(d) for d in img.dims if d != "c"]
    p = np.moveaxis(proba, 1, 0) if "t" in img.dims else proba[0]  # (class, [t,] ...)
    attrs = {k: v for k, v in img.attrs.items() if k in ("spacing", "unit", "source")}
    coords = {str(k): v for k, v in img.coords.items()}
    return build_result(p, class_names=list(class_names), dims=dims, coords=coords,
                        attrs=attrs, outputs=outputs)
