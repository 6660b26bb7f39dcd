"""Class probabilities to objects, as ImageC does: a mask threshold, then a class threshold.

``mask_threshold`` turns the foreground probability (1 minus the background
class) into a mask; its connected components are the objects. Each object takes
the foreground class with the highest mean probability over its pixels, and that
mean is its confidence; ``class_threshold`` drops objects less confident than it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from brushlab.errors import ClassifierError

__all__ = ["objects_from_probabilities", "object_table"]


def objects_from_probabilities(
    probabilities: xr.DataArray,
    *,
    mask_threshold: float = 0.5,
    class_threshold: float = 0.0,
    background: str | int | None = None,
    frame_dims: Sequence[str] | None = None,
    connectivity: int = 1,
) -> xr.Dataset:
    """Instance labels and a per-object table from class probabilities.

    Parameters
    ----------
    probabilities : xarray.DataArray
        Dim ``class`` first, then the image dims (as in a ``predict`` result).
    mask_threshold : float, default 0.5
        A pixel is foreground where ``1 - p(background) >= mask_threshold``.
    class_threshold : float, default 0
        Minimum mean probability of an object's class; objects below are removed.
    background : str or int, optional
        The background class (name or index); ``"background"`` if a class is called
        so, else the first class.
    frame_dims : sequence of str, optional
        Dims whose entries are labelled separately (``t``; ``z`` for a stack of 2D planes).
        Default: ``probabilities.attrs["frame_dims"]`` where a producer set it (a 2D Model
        Zoo model run on a stack sets ``["z"]``), else ``("t",)``.
    connectivity : int, default 1
        Neighbourhood of ``scipy.ndimage.generate_binary_structure`` (1: faces only).

    Returns
    -------
    xarray.Dataset
        ``objects`` (uint32 labels, 0 = none, unique over all frames) and, along dim
        ``object``, ``object_class`` (class id 1..K, as ``segmentation``),
        ``object_class_name``, ``object_confidence``, ``object_area`` (pixels),
        ``object_centroid_<dim>`` and ``object_<frame dim>``.

    Examples
    --------
    >>> p = np.zeros((2, 8, 8), np.float32); p[0] = 1
    >>> p[:, 1:3, 1:3] = [[[0.1]], [[0.9]]]
    >>> probs = xr.DataArray(p, dims=["class", "y", "x"], coords={"class": ["background", "cell"]})
    >>> ds = objects_from_probabilities(probs, mask_threshold=0.5)
    >>> int(ds.objects.max()), round(float(ds.object_confidence[0]), 2)
    (1, 0.9)
    """
    from scipy import ndimage

    if "class" not in probabilities.dims:
        raise ClassifierError("objects need probabilities with a 'class' dim")
    if not 0.0 <= float(mask_threshold) <= 1.0 or not 0.0 <= float(class_threshold) <= 1.0:
        raise ClassifierError(
            f"mask_threshold and class_threshold are probabilities in [0, 1], got "
            f"{mask_threshold} and {class_threshold}"
        )
    if frame_dims is None:
        frame_dims = tuple(probabilities.attrs.get("frame_dims", ("t",)))
    p = probabilities.transpose("class", ...)
    names = (
        [str(n) for n in p.coords["class"].values]
        if "class" in p.coords
        else [str(i) for i in range(p.sizes["class"])]
    )
    bg = _background_index(names, background)
    fg_classes = [k for k in range(len(names)) if k != bg]
    dims = [str(d) for d in p.dims[1:]]
    frames = [d for d in dims if d in frame_dims]
    space = [d for d in dims if d not in frames]
    values = p.transpose("class", *frames, *space).values
    labels = np.zeros(values.shape[1:], dtype=np.uint32)
    structure = ndimage.generate_binary_structure(len(space), connectivity)
    rows: dict[str, list[float | int | str]] = {
        k: [] for k in ("class", "name", "confidence", "area")
    }
    centroids: dict[str, list[float]] = {d: [] for d in space}
    where: dict[str, list[int]] = {d: [] for d in frames}
    next_label = 1
    for index in itertools.product(*[range(p.sizes[d]) for d in frames]):
        plane = values[(slice(None), *index)]  # type: ignore[arg-type]
        mask = (1.0 - plane[bg]) >= mask_threshold
        lab, n = ndimage.label(mask, structure=structure)
        if n == 0:
            continue
        flat = lab.ravel()
        area = np.bincount(flat, minlength=n + 1)[1:]
        means = np.stack(
            [np.bincount(flat, weights=plane[k].ravel(), minlength=n + 1)[1:] for k in fg_classes]
        ) / np.maximum(area, 1)
        best = np.argmax(means, axis=0)
        conf = means[best, np.arange(n)]
        keep = conf >= class_threshold
        new_ids = np.zeros(n + 1, dtype=np.uint32)
        new_ids[1:][keep] = np.arange(next_label, next_label + int(keep.sum()), dtype=np.uint32)
        labels[index] = new_ids[lab]
        coords = np.indices(lab.shape).reshape(len(space), -1)
        for axis, d in enumerate(space):
            sums = np.bincount(flat, weights=coords[axis], minlength=n + 1)[1:]
            centroids[d].extend((sums / np.maximum(area, 1))[keep].tolist())
        for d, i in zip(frames, index):
            where[d].extend([int(i)] * int(keep.sum()))
        chosen = [fg_classes[b] for b in best[keep]]
        rows["class"].extend(c + 1 for c in chosen)
        rows["name"].extend(names[c] for c in chosen)
        rows["confidence"].extend(conf[keep].astype(np.float32).tolist())
        rows["area"].extend(area[keep].tolist())
        next_label += int(keep.sum())
    n_obj = next_label - 1
    object_ids = np.arange(1, n_obj + 1, dtype=np.uint32)
    table: dict[str, tuple[str, np.ndarray]] = {
        "object_class": ("object", np.asarray(rows["class"], dtype=np.int64)),
        "object_class_name": ("object", np.asarray(rows["name"], dtype=object).astype(str)),
        "object_confidence": ("object", np.asarray(rows["confidence"], dtype=np.float32)),
        "object_area": ("object", np.asarray(rows["area"], dtype=np.int64)),
    }
    for d in frames:
        table[f"object_{d}"] = ("object", np.asarray(where[d], dtype=np.int64))
    for d in space:
        table[f"object_centroid_{d}"] = ("object", np.asarray(centroids[d], dtype=np.float64))
    ds = xr.Dataset(
        {"objects": ([*frames, *space], labels), **table},
        coords={"object": object_ids},
        attrs={"mask_threshold": float(mask_threshold), "class_threshold": float(class_threshold)},
    )
    return ds.transpose(*[d for d in dims if d in ds.dims], "object")


def _background_index(names: list[str], background: str | int | None) -> int:
    if background is None:
        return names.index("background") if "background" in names else 0
    if isinstance(background, str):
        if background not in names:
            raise ClassifierError(f"no class {background!r} among {names}")
        return names.index(background)
    if not 0 <= int(background) < len(names):
        raise ClassifierError(f"background class index {background} out of range for {names}")
    return int(background)


def object_table(result: xr.Dataset) -> Any:
    """Return the per-object variables of a result as a pandas DataFrame, indexed by label.

    Examples
    --------
    >>> ds = xr.Dataset({"object_area": ("object", [4, 9])}, coords={"object": [1, 2]})
    >>> object_table(ds).columns.tolist()
    ['area']
    """
    names = [str(v) for v in result.data_vars if str(v).startswith("object_")]
    frame = result[names].to_dataframe()
    return frame.rename(columns={n: n[len("object_") :] for n in names})
