"""From pixels to objects: post-processing, instances, measurements, object classification.

- Post-processing of prediction results, composable: :func:`min_confidence`,
  :func:`crf_smooth`, :func:`fill_holes`, :func:`remove_small_objects`,
  :func:`separate_objects`.
- :func:`objects_from_probabilities`: objects and a table from class probabilities (a
  mask threshold, then a class threshold, as ImageC does); :func:`object_table`.
- :func:`instances`: label images from class masks or boundary probabilities.
- :func:`measure`: a table of object measurements (pandas); :func:`write_table`.
- :class:`ObjectClassifier`: classify objects from a few labelled ones (ilastik's
  Object Classification); :func:`label_overlay`, :func:`class_overlay`, :func:`overlay` and
  :func:`object_at` for viewers.

numpy, cupy and xarray in; the same kind out. 2D and 3D; anisotropic spacing is
respected in distances and measurements.

Examples
--------
>>> import numpy as np, brushlab
>>> mask = np.zeros((30, 30), bool); mask[3:10, 3:10] = True; mask[15:25, 12:28] = True
>>> labels = brushlab.instances(mask)
>>> brushlab.measure(labels)["area"].tolist()
[49.0, 160.0]
"""

from __future__ import annotations

from brushlab.objects._crf import crf_smooth
from brushlab.objects._from_probabilities import object_table, objects_from_probabilities
from brushlab.objects._instances import DEFAULTS, instances, separate_objects
from brushlab.objects._measure import SHAPE_2D, SHAPE_3D, measure, write_table
from brushlab.objects._object_classifier import ObjectClassifier, load_object_classifier
from brushlab.objects._overlay import (
    CLASS_COLORS,
    class_overlay,
    label_overlay,
    object_at,
    overlay,
)
from brushlab.objects._postprocess import fill_holes, min_confidence, remove_small_objects

__all__ = [
    "CLASS_COLORS",
    "DEFAULTS",
    "SHAPE_2D",
    "SHAPE_3D",
    "ObjectClassifier",
    "class_overlay",
    "crf_smooth",
    "fill_holes",
    "instances",
    "label_overlay",
    "load_object_classifier",
    "measure",
    "min_confidence",
    "object_at",
    "object_table",
    "overlay",
    "objects_from_probabilities",
    "remove_small_objects",
    "separate_objects",
    "write_table",
]
