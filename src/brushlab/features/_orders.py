"""Which Gaussian derivatives each feature family needs, shared by FeatureSet and its ONNX export.

Examples
--------
>>> sorted(derivative_orders({"laplacian_of_gaussian"}, [unit(2, 0), unit(2, 1)], (0, 0)))
[(0, 2), (2, 0)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["DOG_RATIO", "ST_OUTER_RATIO", "add", "crop", "derivative_orders", "unit"]

#: Difference of Gaussians: sigma minus the Gaussian at ``DOG_RATIO * sigma`` (ilastik's).
DOG_RATIO = 0.66
#: Structure tensor: the outer (integration) smoothing is at ``ST_OUTER_RATIO * sigma``.
ST_OUTER_RATIO = 0.5


def derivative_orders(
    families: set[str], unit: Sequence[tuple[int, ...]], zero: tuple[int, ...]
) -> set[tuple[int, ...]]:
    """Gaussian derivative orders that ``families`` need at one scale.

    Parameters
    ----------
    families : set of str
        Feature families computed at this scale.
    unit : sequence of tuple
        First-derivative order of each active axis (``(0, 1, 0)``...).
    zero : tuple
        The order of plain smoothing (all zeros).

    Returns
    -------
    set of tuple
        Orders to compute once and share: smoothing, gradients, second derivatives.
    """
    orders: set[tuple[int, ...]] = set()
    if families & {"gaussian_smoothing", "difference_of_gaussians"}:
        orders.add(zero)
    if families & {"gaussian_gradient_magnitude", "structure_tensor_eigenvalues"}:
        orders.update(unit)
    if "laplacian_of_gaussian" in families:
        orders.update(add(u, u) for u in unit)
    if "hessian_of_gaussian_eigenvalues" in families:
        orders.update(add(u, v) for u in unit for v in unit)
    return orders


def unit(n: int, axis: int) -> tuple[int, ...]:
    """First-derivative order along ``axis`` of ``n`` axes, e.g. ``(0, 1)``."""
    return tuple(1 if a == axis else 0 for a in range(n))


def add(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """Sum of two derivative orders (the order of one derivative after the other)."""
    return tuple(x + y for x, y in zip(a, b))


def crop(a: Any, margins: Sequence[int]) -> Any:
    """Remove ``margins[i]`` from both ends of the trailing axes (leading ones kept)."""
    lead = a.ndim - len(margins)
    idx = [slice(None)] * lead + [slice(m, n - m) for m, n in zip(margins, a.shape[lead:])]
    return a[tuple(idx)]
