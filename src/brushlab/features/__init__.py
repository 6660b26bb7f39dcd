"""Per-pixel filter features (ilastik's six families) on numpy or cupy arrays.

:class:`FeatureSet` computes them tile by tile; the kernels (:func:`gaussian_kernel1d`,
:func:`kernel_radius`) and the derivative orders each family needs
(:func:`derivative_orders`) are what the ONNX export of a FeatureSet reproduces.
"""

from brushlab.features._gaussian import gaussian_kernel1d, kernel_radius
from brushlab.features._orders import (
    DOG_RATIO,
    ST_OUTER_RATIO,
    derivative_orders,
)
from brushlab.features._orders import add as add_orders
from brushlab.features.featureset import FAMILIES, ILASTIK_SCALES, FeatureSet

__all__ = [
    "DOG_RATIO",
    "FAMILIES",
    "ILASTIK_SCALES",
    "ST_OUTER_RATIO",
    "FeatureSet",
    "add_orders",
    "derivative_orders",
    "gaussian_kernel1d",
    "kernel_radius",
]
