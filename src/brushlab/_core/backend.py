"""Array backend selection: numpy or cupy, taken from the array itself.

The filters never branch on "GPU or not"; they ask the array for its module, as
``cupy.get_array_module`` does, so one implementation serves both.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["array_module", "to_numpy", "is_cupy", "asarray_on"]


def is_cupy(array: Any) -> bool:
    """Return True when ``array`` is a cupy array (without importing cupy)."""
    return type(array).__module__.split(".")[0] == "cupy"


def array_module(array: Any) -> ModuleType:
    """Return ``cupy`` for a cupy array and ``numpy`` for anything else."""
    if is_cupy(array):
        import cupy

        return cupy
    return np


def to_numpy(array: Any) -> np.ndarray:
    """Return ``array`` as a numpy array, copying from the GPU when needed."""
    if is_cupy(array):
        return array.get()  # type: ignore[no-any-return]
    return np.asarray(array)


def asarray_on(array: Any, device: str) -> Any:
    """Move ``array`` to ``device`` ("cpu" or "gpu") and return it.

    Raises
    ------
    RuntimeError
        When ``device="gpu"`` and cupy or a CUDA device is not available.
    """
    if device == "cpu":
        return to_numpy(array)
    if device == "gpu":
        try:
            import cupy
        except ImportError as exc:  # pragma: no cover - depends on the machine
            raise RuntimeError(
                "device='gpu' needs cupy: install brushlab with the gpu extra "
                "(pip install 'brushlab[gpu]') on a machine with a CUDA GPU, or use device='cpu'"
            ) from exc
        return cupy.asarray(array)
    raise ValueError(f"device must be 'cpu', 'gpu' or 'auto', not {device!r}")
