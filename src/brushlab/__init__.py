"""brushlab: AI segmentation of microscopy images in a notebook cell.

The headless core: :func:`imread` loads any image as an ``xarray.DataArray``
with dims from ``t, z, y, x, c``; :class:`FeatureSet` computes ilastik's filter
families; :class:`PixelClassifier` trains a random forest from sparse labels and
predicts probabilities, segmentation and uncertainty, tile by tile.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import datasets, dl, errors, images, metrics, models, objects
from .blockwise import predict_blockwise
from .classifier import PixelClassifier, load_classifier
from .dl import load_model
from .errors import BrushlabError
from .features import FeatureSet
from .ilastik import import_ilastik
from .images import as_image, imread
from .network import NetworkClassifier
from .objects import ObjectClassifier, instances, measure
from .project import open_project
from .session import Session
from .writers import write_image


def __getattr__(name: str) -> object:
    # The widget pulls in ipywidgets/ipycanvas/bokeh: import it only when asked for.
    if name in ("annotate", "Annotator"):
        from . import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module 'brushlab' has no attribute {name!r}")


__all__ = [
    "__version__",
    "Annotator",
    "annotate",
    "BrushlabError",
    "FeatureSet",
    "PixelClassifier",
    "NetworkClassifier",
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
