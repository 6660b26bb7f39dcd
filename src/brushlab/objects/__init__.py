"""From pixels to objects: post-processing, instances, measurements, object classification.

- Post-processing of prediction results, composable: :func:`min_confidence`,
  :func:`crf_smooth`, :func:`fill_holes`, :func:`remove_small_objects`,
  :func:`separate_objects`.
- :func:`instances`: label images from class masks or boundary probabilities.
- :func:`measure`: a table of object measurements (pandas), :func:`write_table`.
- :class:`ObjectClassifier`: classify objects from a few labelled ones (ilastik's
  Object Classification), with :func:`class_overlay`, :func:`label_overlay` and
  :func:`object_at` for viewers.

numpy, cupy and xarray in; the same kind out. 2D and 3D; anisotropic spacing is
respected in distances and measurements.
"""

from __future__ import annotations

from ._instances import DEFAULTS, instances, separate_objects
from ._postprocess import fill_holes, min_confidence, remove_small_objects

__all__ = [
    "DEFAULTS",
    "fill_holes",
    "instances",
    "min_confidence",
    "remove_small_objects",
    "separate_objects",
]
