"""brushlab: AI segmentation of microscopy images in a notebook cell.

The headless core: :func:`imread` loads any image as an ``xarray.DataArray``
with dims from ``t, z, y, x, c``; :class:`FeatureSet` computes ilastik's filter
families; :class:`PixelClassifier` trains boosted trees (or a random forest) from sparse
labels and predicts probabilities, segmentation and uncertainty, tile by tile.

Examples
--------
>>> import brushlab
>>> brushlab.imread is brushlab.io.imread
True
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

# brushlab.align is a callable module: brushlab.align(stack) aligns a stack
from brushlab import align, bioimageio, datasets, errors, io, metrics, objects, registry
from brushlab._version import __version__
from brushlab.align import apply_alignment
from brushlab.bioimageio import load_model
from brushlab.blockwise import predict_blockwise
from brushlab.classifier import PixelClassifier, load_classifier
from brushlab.errors import BrushlabError
from brushlab.features import FeatureSet
from brushlab.ilastik import import_ilastik
from brushlab.io import as_image, imread, write_image
from brushlab.network import NetworkClassifier
from brushlab.objects import ObjectClassifier, instances, measure
from brushlab.project import open_project
from brushlab.session import Session

# Names from before the package moves: brushlab.models (the registry), brushlab.dl (the
# BioImage Model Zoo runner), brushlab.images (image I/O) keep working.
models = registry
dl = bioimageio
images = io
for _old, _new in (("models", registry), ("dl", bioimageio), ("images", io)):
    sys.modules.setdefault(f"brushlab.{_old}", _new)

_LAZY = {"annotate": "brushlab.widgets", "Annotator": "brushlab.widgets"}


def __getattr__(name: str) -> Any:
    # The widget pulls in ipywidgets/ipycanvas/bokeh: import it only when asked for.
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'brushlab' has no attribute {name!r}")


__all__ = [
    "__version__",
    "align",
    "apply_alignment",
    "Annotator",
    "annotate",
    "BrushlabError",
    "FeatureSet",
    "ObjectClassifier",
    "PixelClassifier",
    "NetworkClassifier",
    "Session",
    "as_image",
    "bioimageio",
    "datasets",
    "dl",
    "errors",
    "images",
    "import_ilastik",
    "imread",
    "instances",
    "io",
    "load_classifier",
    "load_model",
    "measure",
    "metrics",
    "models",
    "objects",
    "open_project",
    "predict_blockwise",
    "registry",
    "write_image",
]
