"""brushlab: AI segmentation of microscopy images in a notebook cell.

The headless core: :func:`imread` loads any image as an ``xarray.DataArray``
with dims from ``t, z, y, x, c``; :class:`FeatureSet` computes ilastik's filter
families; :class:`PixelClassifier` trains a random forest from sparse labels and
predicts probabilities, segmentation and uncertainty, tile by tile.
"""

from __future__ import annotations

__version__ = "0.1.0"

from brushlab import datasets, dl, errors, images, metrics, models, objects
from brushlab.blockwise import predict_blockwise
from brushlab.classifier import PixelClassifier, load_classifier
from brushlab.dl import load_model
from brushlab.errors import BrushlabError
from brushlab.features import FeatureSet
from brushlab.ilastik import import_ilastik
from brushlab.images import as_image, imread
from brushlab.objects import ObjectClassifier, instances, measure
from brushlab.project import open_project
from brushlab.session import Session
from brushlab.writers import write_image


def __getattr__(name: str) -> object:
    # The widget pulls in ipywidgets/ipycanvas/bokeh: import it only when asked for.
    if name in ("annotate", "Annotator"):
        from brushlab import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module 'brushlab' has no attribute {name!r}")


__all__ = [
    "__version__",
    "Annotator",
    "annotate",
    "BrushlabError",
    "FeatureSet",
    "PixelClassifier",
    "Session",
    "as_image",
    "datasets",
    "errors",
    "images",
    "imread",
    "import_ilastik",
    "load_classifier",
    "load_model",
    "dl",
    "models",
    "open_project",
    "predict_blockwise",
    "write_image",
    "ObjectClassifier",
    "instances",
    "measure",
    "metrics",
    "objects",
]
