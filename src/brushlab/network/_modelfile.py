"""Network model files: ONNX bytes + JSON metadata (+ the forest's own model file) in one zip.

The container is brushlab's model file (:mod:`brushlab.modelfile`: atomic write,
checksums, never a pickle). The ONNX graph and, when the network reads a forest's
probabilities, that forest's complete model file are stored as uint8 arrays, so one
file reproduces :meth:`NetworkClassifier.predict`. Loading validates every part and
never imports torch.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from brushlab.classifier import PixelClassifier
from brushlab.classifier.modelfile import read_model_file, write_model_file
from brushlab.errors import ModelFileError
from brushlab.network._geometry import Architecture
from brushlab.network._infer import check_onnx

__all__ = ["save_network", "load_network", "KIND", "NETWORK_FORMAT"]

KIND = "network-classifier"
NETWORK_FORMAT = 1
_PARAMS = ("minutes", "max_steps", "depth", "base_channels", "batch_size", "learning_rate",
           "validation_fraction", "patience", "forest_folds", "dense_targets", "calibrate_bias",
           "random_state",
           "device", "n_jobs")


def save_network(clf: Any, path: str | os.PathLike[str]) -> Path:
    """Write a trained :class:`NetworkClassifier` to ``path`` (see the module docstring)."""
    from brushlab._version import __version__

    arch = clf._require_trained()
    arrays = {"network_onnx": np.frombuffer(clf.onnx, np.uint8)}
    if clf.forest is not None:
        with tempfile.TemporaryDirectory() as tmp:
            forest_path = clf.forest.save(Path(tmp) / "forest.brushlab")
            arrays["forest_model"] = np.frombuffer(forest_path.read_bytes(), np.uint8)
    meta = {
        "kind": KIND,
        "network_format": NETWORK_FORMAT,
        "brushlab_version": __version__,
        "architecture": arch.to_dict(),
        "class_names": clf.class_names,
        "n_channels": clf.n_channels,
        "spatial_ndim": clf.spatial_ndim,
        "normalisation": {"mean": clf.mean, "std": clf.std},
        "calibration": clf.calibration,
        "forest_input": clf.forest is not None,
        "params": {k: getattr(clf, k) for k in _PARAMS},
        "patch_size": list(clf.patch_size) if clf.patch_size else None,
        "tile_shape": list(clf.tile_shape) if clf.tile_shape else None,
        "training": clf.training,
    }
    return write_model_file(path, arrays, meta)


def load_network(
    path: str | os.PathLike[str], network_class: Any, default_tile: dict[int, Any]
) -> Any:
    """Read and validate a network model file into ``network_class`` (NetworkClassifier).

    The result predicts without torch. ``default_tile`` gives the tile per number of dims.
    """
    arrays, meta = read_model_file(path)
    if meta.get("kind") != KIND:
        raise ModelFileError(f"{path} does not hold a brushlab network (kind {meta.get('kind')!r})")
    version = meta.get("network_format")
    if not isinstance(version, int) or version > NETWORK_FORMAT:
        raise ModelFileError(f"{path} holds network format {version!r}; this brushlab reads "
                             f"{NETWORK_FORMAT} and older: upgrade brushlab")
    try:
        arch = Architecture.from_dict(meta["architecture"])
        names = [str(n) for n in meta["class_names"]]
        n_channels, ndim = int(meta["n_channels"]), int(meta["spatial_ndim"])
        mean = [float(v) for v in meta["normalisation"]["mean"]]
        std = [float(v) for v in meta["normalisation"]["std"]]
        with_forest = bool(meta["forest_input"])
        params = dict(meta["params"])
        onnx = arrays["network_onnx"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path} is a network file with incomplete metadata ({exc}); "
                             "re-save it") from exc
    expected_in = n_channels + (len(names) if with_forest else 0)
    problems = []
    if arch.n_classes != len(names) or arch.in_channels != expected_in or arch.ndim != ndim:
        problems.append("the architecture does not match the classes, channels or dims")
    if len(mean) != n_channels or len(std) != n_channels:
        problems.append("the normalisation does not match the channel count")
    if not all(math.isfinite(v) for v in mean + std) or min(std, default=1.0) <= 0:
        problems.append("the normalisation holds non-finite or non-positive values")
    if onnx.dtype != np.uint8 or onnx.ndim != 1 or with_forest != ("forest_model" in arrays):
        problems.append("the stored network or forest is missing or malformed")
    if problems:
        raise ModelFileError(f"{path} is not a usable network file: {'; '.join(problems)}")
    data = onnx.tobytes()
    check_onnx(data, arch)
    forest = None
    if with_forest:
        forest = _load_forest(arrays["forest_model"], path)
        if forest.class_names != names or forest.n_channels != n_channels:
            raise ModelFileError(f"{path}: the embedded forest has classes {forest.class_names} "
                                 f"and {forest.n_channels} channel(s), the network {names} and "
                                 f"{n_channels}; re-save it")
    clf = network_class(
        forest=None, **{k: params[k] for k in _PARAMS if k in params},
        patch_size=meta.get("patch_size"), tile_shape=meta.get("tile_shape"))
    clf.arch, clf.onnx, clf.forest, clf.class_names = arch, data, forest, names
    clf.n_channels, clf.spatial_ndim, clf.mean, clf.std = n_channels, ndim, mean, std
    clf.tile_shape = clf.tile_shape or default_tile[ndim]
    clf.calibration = dict(meta.get("calibration") or {})
    clf.training = dict(meta.get("training") or {})
    return clf


def _load_forest(data: np.ndarray, path: str | os.PathLike[str]) -> PixelClassifier:
    if data.dtype != np.uint8 or data.ndim != 1:
        raise ModelFileError(f"{path}: the embedded forest is malformed; re-save it")
    with tempfile.TemporaryDirectory() as tmp:
        inner = Path(tmp) / "forest.brushlab"
        inner.write_bytes(data.tobytes())
        try:
            return PixelClassifier.load(inner)
        except ModelFileError as exc:
            raise ModelFileError(f"{path}: the embedded forest is unusable ({exc})") from exc
