"""Deep networks trained from the user's scribbles (a U-Net, optionally fed by the forest).

Training needs PyTorch (``pip install "brushlab[train]"``); prediction, saving and
loading need only onnxruntime.
"""

from __future__ import annotations

import os

from brushlab.network._classifier import NetworkClassifier, require_torch
from brushlab.network._geometry import Architecture, plan_architecture

__all__ = ["NetworkClassifier", "load_network", "Architecture", "plan_architecture",
           "require_torch"]


def load_network(path: str | os.PathLike[str]) -> NetworkClassifier:
    """Read a :class:`NetworkClassifier` saved with :meth:`NetworkClassifier.save`.

    Raises
    ------
    brushlab.errors.ModelFileError
        When the file is missing, corrupt, foreign, from a newer brushlab, or its
        ONNX graph or embedded forest does not validate.
    """
    return NetworkClassifier.load(path)
