"""Region results as Datasets, and the most uncertain window of one (the "suggest" action)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from brushlab.classifier.results import build_result

__all__ = ["assemble_result", "most_uncertain_window"]


def assemble_result(
    proba: np.ndarray,
    class_names: Sequence[str],
    region: tuple[slice, slice],
    step: int,
    attrs: dict[str, Any],
) -> xr.Dataset:
    """Dataset of a predicted region: probabilities, segmentation, uncertainty, confidence.

    ``y``/``x`` coordinates hold the image pixel of each value
    (``region.start + i * step``).
    """
    ys, xs = region
    coords = {"y": np.arange(ys.start, ys.stop, step), "x": np.arange(xs.start, xs.stop, step)}
    info = {**attrs, "step": int(step), "region": [[ys.start, ys.stop], [xs.start, xs.stop]]}
    return build_result(proba, class_names=class_names, dims=["y", "x"], coords=coords, attrs=info)


def most_uncertain_window(
    result: xr.Dataset, region: tuple[slice, slice], size: int
) -> tuple[slice, slice]:
    """Window of ``size`` image pixels (clipped to ``region``) with the highest mean uncertainty.

    Works on previews too: a result at ``step`` s is searched with windows of
    ``size / s`` of its values. Ties go to the first window in C order.
    """
    ys, xs = region
    ycoord = result["y"].values
    xcoord = result["x"].values
    rows = (ycoord >= ys.start) & (ycoord < ys.stop)
    cols = (xcoord >= xs.start) & (xcoord < xs.stop)
    unc = result["uncertainty"].values[np.ix_(rows, cols)].astype(np.float64)
    ycoord, xcoord = ycoord[rows], xcoord[cols]
    step = int(result.attrs.get("step", 1))
    win = [max(1, min(-(-size // step), n)) for n in unc.shape]
    integral = np.zeros((unc.shape[0] + 1, unc.shape[1] + 1))
    integral[1:, 1:] = unc.cumsum(0).cumsum(1)
    wy, wx = win
    sums = (
        integral[wy:, wx:] - integral[:-wy, wx:] - integral[wy:, :-wx] + integral[:-wy, :-wx]
    )
    iy, ix = np.unravel_index(int(np.argmax(sums)), sums.shape)
    out = []
    for start, sl in ((int(ycoord[iy]), ys), (int(xcoord[ix]), xs)):
        extent = min(size, sl.stop - sl.start)
        start = min(start, sl.stop - extent)
        out.append(slice(start, start + extent))
    return out[0], out[1]
