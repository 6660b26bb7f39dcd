"""Eigenvalues of symmetric 2x2 and 3x3 matrices given element-wise, in closed form.

``numpy.linalg.eigvalsh`` on stacks of tiny matrices is slow and has no cupy
equivalent with the same results; the closed forms are a handful of array
operations that run on either backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from brushlab._core.backend import array_module

__all__ = ["symmetric_eigenvalues"]


def symmetric_eigenvalues(elements: Mapping[tuple[int, int], Any], ndim: int) -> list[Any]:
    """Eigenvalues, largest first, of the symmetric matrix field ``elements``.

    Parameters
    ----------
    elements : mapping
        ``(i, j)`` with ``i <= j`` -> array of the matrix element at every pixel.
    ndim : int
        Matrix size, 1, 2 or 3.

    Returns
    -------
    list of array
        ``ndim`` float32 arrays, in descending order.
    """
    a = elements
    if ndim == 1:
        return [a[0, 0].astype(np.float32, copy=False)]
    xp = array_module(a[0, 0])
    if ndim == 2:
        a00, a01, a11 = (a[k].astype(np.float64) for k in ((0, 0), (0, 1), (1, 1)))
        mean = 0.5 * (a00 + a11)
        half = 0.5 * (a00 - a11)
        d = xp.sqrt(half * half + a01 * a01)
        return [(mean + d).astype(np.float32), (mean - d).astype(np.float32)]
    if ndim != 3:
        raise ValueError(f"eigenvalues of {ndim}x{ndim} matrices are not supported")
    a00, a11, a22, a01, a02, a12 = (
        a[k].astype(np.float64) for k in ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))
    )
    # Smith (1961): trigonometric solution of the characteristic cubic.
    q = (a00 + a11 + a22) / 3.0
    b00, b11, b22 = a00 - q, a11 - q, a22 - q
    p1 = a01 * a01 + a02 * a02 + a12 * a12
    p = xp.sqrt((b00 * b00 + b11 * b11 + b22 * b22 + 2.0 * p1) / 6.0)
    safe = xp.where(p > 0, p, 1.0)
    det = (
        b00 * (b11 * b22 - a12 * a12)
        - a01 * (a01 * b22 - a12 * a02)
        + a02 * (a01 * a12 - b11 * a02)
    )
    r = xp.clip(det / (2.0 * safe**3), -1.0, 1.0)
    phi = xp.arccos(r) / 3.0
    e0 = q + 2.0 * p * xp.cos(phi)
    e2 = q + 2.0 * p * xp.cos(phi + 2.0 * np.pi / 3.0)
    e1 = 3.0 * q - e0 - e2
    return [e.astype(np.float32) for e in (e0, e1, e2)]
