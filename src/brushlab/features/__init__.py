"""Per-pixel filter features (ilastik's six families) on numpy or cupy arrays."""

from brushlab.features.featureset import FAMILIES, ILASTIK_SCALES, FeatureSet

__all__ = ["FeatureSet", "FAMILIES", "ILASTIK_SCALES"]
