"""Bounds on the numbers a FeatureSet is built from.

Sigmas and ``truncate`` arrive from files (model ``metadata.json``, which has no
checksum; ``project.json``; ilastik's ``Scales``): unbounded, a 64x64 image could ask
for kernels millions of pixels long (``truncate: 1e6`` took over 1 GB). Every
FeatureSet is built through these checks, so no reader needs its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from brushlab.errors import FeatureError

__all__ = ["MAX_SIGMA", "MAX_TRUNCATE"]

_MIN_SIGMA_DERIVATIVE = 0.5  # below, derivative kernels sample too few points to mean anything
MAX_SIGMA = 64.0  # ilastik's largest preset is 10; at sigma 64 a kernel spans 513+ pixels
MAX_TRUNCATE = 8.0  # scipy's default is 4; beyond 8 sd the Gaussian is below 1e-14


def _expand(pairs: Iterable[Any]) -> Iterable[tuple[str, list[float]]]:
    for item in pairs:
        family, sigmas = item
        if isinstance(sigmas, (int, float)):
            sigmas = [sigmas]
        yield str(family), [float(s) for s in sigmas]


def _check_truncate(truncate: Any) -> float:
    try:
        value = float(truncate)
    except (TypeError, ValueError):
        value = math.nan
    if not 0 < value <= MAX_TRUNCATE:  # also refuses NaN
        raise FeatureError(
            f"truncate must be a number in (0, {MAX_TRUNCATE:g}] (kernel radius in standard "
            f"deviations; 4 is usual), got {truncate!r}"
        )
    return value


def _check_sigma(family: str, sigma: float) -> float:
    if not np.isfinite(sigma) or not 0 < sigma <= MAX_SIGMA:
        raise FeatureError(
            f"sigma must be a number in (0, {MAX_SIGMA:g}] pixels, got {sigma} for {family}; "
            "for coarser context, downsample the image first"
        )
    if family != "gaussian_smoothing" and sigma < _MIN_SIGMA_DERIVATIVE:
        raise FeatureError(
            f"{family} needs sigma >= {_MIN_SIGMA_DERIVATIVE} (got {sigma}): derivative filters "
            "at smaller scales see too few pixels; use it for gaussian_smoothing only"
        )
    return float(sigma)
