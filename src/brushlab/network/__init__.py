"""Deep networks trained from the user's scribbles (a U-Net, optionally fed by the forest).

Training needs PyTorch (``pip install "brushlab[train]"``); prediction, saving and
loading need only onnxruntime.
"""

from __future__ import annotations

import os

from brushlab.classifier import PixelClassifier, load_classifier
from brushlab.network._classifier import NetworkClassifier, require_torch
from brushlab.network._geometry import Architecture, plan_architecture

__all__ = ["NetworkClassifier", "load_network", "load_model_file", "Architecture",
           "plan_architecture", "require_torch"]


def load_network(path: str | os.PathLike[str]) -> NetworkClassifier:
    """Read a :class:`NetworkClassifier` saved with :meth:`NetworkClassifier.save`.

    Raises
    ------
    brushlab.errors.ModelFileError
        When the file is missing, corrupt, foreign, from a newer brushlab, or its
        ONNX graph or embedded forest does not validate.
    """
    return NetworkClassifier.load(path)


def load_model_file(path: str | os.PathLike[str]) -> PixelClassifier | NetworkClassifier:
    """Read any brushlab model file: a pixel classifier or a network, by what it holds.

    The one place that tells the two kinds apart (``brushlab predict``, blockwise
    prediction and the model registry use it). Neither kind needs torch to load or predict.

    Raises
    ------
    brushlab.errors.ModelFileError
        When the file is missing, corrupt, foreign or from a newer brushlab.

    Examples
    --------
    >>> import numpy as np, brushlab, tempfile, os
    >>> image = np.zeros((32, 32), np.float32); image[:, 16:] = 1
    >>> labels = np.zeros((32, 32), np.uint8); labels[4:28:4, 2:12] = 1; labels[4:28:4, 20:30] = 2
    >>> fs = brushlab.FeatureSet({"gaussian_smoothing": [1.0]})
    >>> clf = brushlab.PixelClassifier(fs, n_trees=3, random_state=0).fit(image, labels)
    >>> path = clf.save(os.path.join(tempfile.mkdtemp(), "model.brushlab"))
    >>> type(load_model_file(path)).__name__
    'PixelClassifier'
    """
    from brushlab.classifier.modelfile import read_model_metadata
    from brushlab.network._modelfile import KIND

    if read_model_metadata(path).get("kind") == KIND:
        return load_network(path)
    return load_classifier(path)
