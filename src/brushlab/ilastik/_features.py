"""ilastik's feature selection matrix as a brushlab FeatureSet."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from brushlab.errors import IlastikImportWarning
from brushlab.features import FeatureSet

__all__ = ["ILASTIK_FAMILIES", "feature_set"]

ILASTIK_FAMILIES = {
    "GaussianSmoothing": "gaussian_smoothing",
    "LaplacianOfGaussian": "laplacian_of_gaussian",
    "GaussianGradientMagnitude": "gaussian_gradient_magnitude",
    "DifferenceOfGaussians": "difference_of_gaussians",
    "StructureTensorEigenvalues": "structure_tensor_eigenvalues",
    "HessianOfGaussianEigenvalues": "hessian_of_gaussian_eigenvalues",
}
_MIN_DERIVATIVE_SIGMA = 0.5


def feature_set(
    ids: Sequence[str],
    scales: Sequence[float],
    matrix: np.ndarray,
    compute_in_2d: Sequence[bool] | None,
) -> FeatureSet:
    """Map ``FeatureIds`` x ``Scales`` (``SelectionMatrix``) and ``ComputeIn2d``.

    brushlab computes the same six families with the same inner/outer scale
    ratios as ilastik (difference of Gaussians: sigma and 0.66 sigma; structure
    tensor: outer scale 0.5 sigma). Unknown feature ids and derivative features
    below sigma 0.5 (which brushlab refuses) are left out with a warning; an
    empty selection gives ``FeatureSet.default()``, also with a warning.

    Returns
    -------
    FeatureSet
        The equivalent selection.
    """
    selection: dict[str, list[float]] = {}
    skipped = []
    for i, fid in enumerate(ids):
        for j, sigma in enumerate(scales):
            if not bool(matrix[i, j]):
                continue
            family = ILASTIK_FAMILIES.get(fid)
            if family is None:
                skipped.append(f"{fid} (unknown to brushlab)")
            elif family != "gaussian_smoothing" and sigma < _MIN_DERIVATIVE_SIGMA:
                skipped.append(f"{fid} at sigma {sigma:g} (derivatives need sigma >= 0.5)")
            else:
                selection.setdefault(family, []).append(float(sigma))
    if skipped:
        warnings.warn(
            f"ilastik features left out: {', '.join(skipped)}", IlastikImportWarning, stacklevel=3
        )
    in_2d = [float(s) for s, flag in zip(scales, compute_in_2d or []) if bool(flag)]
    if not selection:
        warnings.warn(
            "the ilastik project selects no features brushlab can compute: using "
            "FeatureSet.default()",
            IlastikImportWarning,
            stacklevel=3,
        )
        return FeatureSet.default(compute_in_2d=in_2d)
    return FeatureSet(selection, compute_in_2d=in_2d)
