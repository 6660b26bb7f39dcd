"""Deep-learning models: run BioImage Model Zoo packages with ONNX weights, export classifiers.

- :func:`load_model` opens a package (folder, ``.zip`` or yaml; formats 0.4 and 0.5),
  validated offline by ``bioimageio.spec``; :meth:`BioimageioModel.predict` runs it
  on a brushlab image tile by tile and returns a Dataset like
  :meth:`PixelClassifier.predict`; :meth:`BioimageioModel.test` checks the package's
  own test tensors.
- :func:`discover` lists the packages of a models folder.
- Objects from a result's probabilities: :func:`brushlab.objects.objects_from_probabilities`.
- :meth:`PixelClassifier.export_bioimageio` (:func:`export_bioimageio`) writes a
  trained classifier as a package whose ONNX graph reproduces brushlab.

onnx, onnxruntime and bioimageio.spec are imported on first use only.

Examples
--------
>>> import brushlab
>>> model = brushlab.load_model("models/coins-pixel-classifier")  # doctest: +SKIP
>>> result = model.predict(image)  # doctest: +SKIP
>>> objects = brushlab.objects.objects_from_probabilities(
...     result.probabilities, mask_threshold=0.5, class_threshold=0.6)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from brushlab.bioimageio._discover import (
    ModelSummary,
    discover,
    discover_frame,
    is_package,
    package_yaml,
    summarize,
)
from brushlab.bioimageio._model import BioimageioModel, ModelTestReport, load_model
from brushlab.classifier.exporters import register_exporter

__all__ = [
    "BioimageioModel",
    "ModelSummary",
    "ModelTestReport",
    "discover",
    "discover_frame",
    "export_bioimageio",
    "export_network_bioimageio",
    "is_package",
    "load_model",
    "package_yaml",
    "run_model_overlay",
    "summarize",
]


def export_bioimageio(clf: Any, path: Any, **kwargs: Any) -> Any:
    """Write a trained PixelClassifier as a Model Zoo package (see the method's docs)."""
    from brushlab.bioimageio._export_package import export_bioimageio as _export

    return _export(clf, path, **kwargs)


def export_network_bioimageio(net: Any, path: Any, **kwargs: Any) -> Any:
    """Write a trained NetworkClassifier (with its forest) as one Model Zoo package."""
    from brushlab.bioimageio._export_network import export_network_bioimageio as _export

    return _export(net, path, **kwargs)


register_exporter("bioimageio", export_bioimageio)  # PixelClassifier.export_bioimageio
register_exporter("bioimageio-network", export_network_bioimageio)  # NetworkClassifier's


def run_model_overlay(model: BioimageioModel, image_plane: Any, **kwargs: Any) -> Any:
    """Class probabilities ``(K, Y, X)`` float32 of one image plane, for an overlay.

    Parameters
    ----------
    model : BioimageioModel
        From :func:`load_model`.
    image_plane : array-like
        ``(Y, X)`` or ``(Y, X, C)`` pixels (what the viewer shows).
    **kwargs
        Passed to :meth:`BioimageioModel.predict` (``tile_shape``, ``border``, ``probabilities``).

    Returns
    -------
    numpy.ndarray
        ``(K, Y, X)`` probabilities; class names are ``model.predict(...).coords["class"]``.

    Examples
    --------
    >>> proba = run_model_overlay(model, plane)  # doctest: +SKIP
    """
    import numpy as np

    from brushlab.errors import ModelPackageError
    from brushlab.io import as_image

    arr = np.asarray(image_plane)
    img = as_image(arr, dims="yx" if arr.ndim == 2 else "yxc")
    result = model.predict(img, **kwargs)
    if "probabilities" not in result:
        raise ModelPackageError(
            f"model {model.name!r} gives no class probabilities for an overlay; its outputs: "
            f"{', '.join(map(str, result.data_vars))}"
        )
    return result.probabilities.values
