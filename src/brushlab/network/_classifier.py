"""NetworkClassifier: a U-Net trained from sparse labels, optionally on a forest's output."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brushlab._core.tiling import iter_tiles, read_with_halo
from brushlab.classifier import OUTPUTS, PixelClassifier, result_dataset
from brushlab.errors import ClassifierError, ImageError, LabelError, MissingDependencyError
from brushlab.io import check_image, check_labels, split_frames
from brushlab.network._forest_input import forest_probabilities
from brushlab.network._geometry import Architecture, plan_architecture
from brushlab.network._infer import onnx_session, run_window

__all__ = ["NetworkClassifier", "require_torch"]

DEFAULT_TILE = {2: (1024, 1024), 3: (32, 256, 256)}
DEFAULT_PATCH = {2: (128, 128), 3: (16, 96, 96)}


def require_torch() -> Any:
    """Import torch, or say how to install it."""
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError(
            f"training a network needs PyTorch, which is not installed ({exc}): "
            'pip install "brushlab[train]" (or pip install torch), then train again; '
            "predicting with a saved network needs only onnxruntime"
        ) from exc
    return torch


class NetworkClassifier:
    """A U-Net pixel classifier trained from scribbles; predicts with onnxruntime only.

    Training needs PyTorch (``pip install "brushlab[train]"``); prediction, saving and
    loading need only onnxruntime. The contract is :class:`~brushlab.PixelClassifier`'s:
    ``fit(images, labels, class_names=...)``, ``predict(image) -> Dataset``, ``save``/``load``.

    Parameters
    ----------
    forest : None, True or PixelClassifier, default True
        Feed the network a forest's class probabilities as extra input channels
        (a learned autocontext). True uses ``PixelClassifier()``; a PixelClassifier
        is used as a template (its settings, retrained). On the training images the
        probabilities come out of fold (see :mod:`brushlab.network._forest_input`).
        None trains from the image alone.
    minutes : float, default 5
        Training time budget (the forest's training comes on top).
    max_steps : int, optional
        Stop after this many optimisation steps.
    depth, base_channels : int, default 4 and 16
        U-Net levels and feature maps at the finest level.
    patch_size : sequence of int, optional
        Training patch (default 128 x 128, or 16 x 96 x 96 in 3D).
    batch_size : int, default 4
    learning_rate : float, default 1e-3
    validation_fraction : float, default 0.15
        Share of labelled pixels (in whole spatial blocks) held out for early stopping
        and calibration; 0 trains on all labels for the whole budget, uncalibrated.
    patience : int, default 8
        Evaluations without a better validation F1 before stopping.
    forest_folds : int, default 3
        Folds of the out-of-fold forest probabilities.
    dense_targets : float, default 0
        Weight of the forest's confident pixels (p > 0.9) as extra targets.
    calibrate_bias : bool, default False
        Also shift the class decision (per-class logit biases) to the best F1 on the
        validation scribbles. Off by default: scribbles sample thin classes at their
        centre lines, so on ISBI the shift moved away from dense-truth F1 (a
        temperature that calibrates the probabilities is always fitted).
    random_state : int, optional
        Seed of the split, the sampling and the weights (0 when None).
    device : {"auto", "cpu", "cuda"}, default "auto"
        Where training and prediction run ("auto": CUDA when available).
    n_jobs : int, optional
        CPU threads for prediction (all cores when None).
    tile_shape : sequence of int, optional
        Prediction tile; results do not depend on it.

    Examples
    --------
    >>> import numpy as np, brushlab
    >>> from brushlab.network import NetworkClassifier
    >>> image = np.zeros((64, 64), np.float32); image[:, 32:] = 1
    >>> labels = np.zeros((64, 64), np.uint8); labels[5:60:6, 5:25] = 1; labels[5:60:6, 40:60] = 2
    >>> net = NetworkClassifier(forest=None, depth=2, base_channels=4, max_steps=30,
    ...                         patch_size=(32, 32), random_state=0)
    >>> net = net.fit(image, labels)  # doctest: +SKIP
    >>> int(net.predict(image).segmentation[30, 50])  # doctest: +SKIP
    2
    """

    def __init__(
        self,
        forest: Any = True,
        *,
        minutes: float = 5.0,
        max_steps: int | None = None,
        depth: int = 4,
        base_channels: int = 16,
        patch_size: Sequence[int] | None = None,
        batch_size: int = 4,
        learning_rate: float = 1e-3,
        validation_fraction: float = 0.15,
        patience: int = 8,
        forest_folds: int = 3,
        dense_targets: float = 0.0,
        calibrate_bias: bool = False,
        random_state: int | None = None,
        device: str = "auto",
        n_jobs: int | None = None,
        tile_shape: Sequence[int] | None = None,
    ) -> None:
        from brushlab.network._forest_input import forest_template

        self.forest_template = forest_template(forest)
        if not 0.0 <= float(validation_fraction) < 0.9:
            raise ClassifierError(
                f"validation_fraction must be in [0, 0.9), got {validation_fraction}")
        if float(minutes) <= 0 or int(batch_size) < 1 or int(forest_folds) < 2:
            raise ClassifierError("minutes must be > 0, batch_size >= 1 and forest_folds >= 2")
        if device not in ("auto", "cpu", "cuda"):
            raise ClassifierError(f"device must be 'auto', 'cpu' or 'cuda', not {device!r}")
        self.minutes, self.max_steps = float(minutes), max_steps
        self.depth, self.base_channels = int(depth), int(base_channels)
        self.patch_size = tuple(patch_size) if patch_size is not None else None
        self.batch_size, self.learning_rate = int(batch_size), float(learning_rate)
        self.validation_fraction, self.patience = float(validation_fraction), int(patience)
        self.forest_folds, self.dense_targets = int(forest_folds), float(dense_targets)
        self.calibrate_bias = bool(calibrate_bias)
        self.random_state, self.device, self.n_jobs = random_state, device, n_jobs
        self.tile_shape = tuple(tile_shape) if tile_shape is not None else None
        self.forest: PixelClassifier | None = None
        self.arch: Architecture | None = None
        self.onnx: bytes | None = None
        self.class_names: list[str] | None = None
        self.n_channels: int | None = None
        self.spatial_ndim: int | None = None
        self.mean: list[float] = []
        self.std: list[float] = []
        self.calibration: dict[str, Any] = {}
        self.training: dict[str, Any] = {}

    # -- training --------------------------------------------------------------
    def fit(
        self,
        images: Any,
        labels: Any,
        class_names: Sequence[str] | None = None,
        *,
        progress: Callable[[dict[str, Any]], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> NetworkClassifier:
        """Train on one or several images with sparse labels (0 = unlabelled, 1..K).

        Parameters
        ----------
        images, labels, class_names
            As for :meth:`brushlab.PixelClassifier.fit`.
        progress : callable, optional
            Called with a dict after each validation (``step``, ``seconds``,
            ``train_loss``, ``val_loss``, ``val_accuracy``, ``val_f1``, ``best_val_f1``).
        cancel : callable, optional
            Polled between steps; when it returns True training stops and keeps the
            best network so far.

        Returns
        -------
        NetworkClassifier
            ``self``, trained.
        """
        from brushlab.network._prepare import describe, prepare

        torch = require_torch()
        t0 = time.perf_counter()
        seed = 0 if self.random_state is None else int(self.random_state)
        frames, lab_frames, dims, spacing, n_channels = self._frames(images, labels)
        present = np.unique(np.concatenate([lab[lab > 0] for lab in lab_frames]))
        if present.size == 0:
            raise LabelError("the labels are all 0 (unlabelled): paint at least two classes")
        k = int(max(present.max(), len(class_names) if class_names else 0))
        names = list(class_names) if class_names else [f"class {i}" for i in range(1, k + 1)]
        if present.size == 1:
            raise LabelError(f"only class {names[int(present[0]) - 1]!r} is labelled: paint at "
                             "least two classes to train")
        if len(names) < k or len(set(names)) != len(names):
            raise LabelError(f"class names {names} must be unique and cover labels 1..{k}")
        arch = plan_architecture(
            ndim=len(dims), in_channels=n_channels + (k if self.forest_template else 0),
            n_classes=k, depth=self.depth, base_channels=self.base_channels, spacing=spacing)
        data, forest, stats = prepare(self, arch, frames, lab_frames, dims, spacing, names, seed)
        t_prepared = time.perf_counter()
        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        from brushlab.network._train import train
        from brushlab.network._unet import export_onnx

        patch = self.patch_size or DEFAULT_PATCH[len(dims)]
        patch = tuple(-(-int(p) // m) * m for p, m in zip(patch, arch.multiple))
        result = train(
            arch, data, seconds=60.0 * self.minutes, max_steps=self.max_steps,
            patch=patch, batch_size=self.batch_size, learning_rate=self.learning_rate,
            dense_weight=self.dense_targets, patience=self.patience, seed=seed, device=device,
            threads=self.n_jobs, calibrate_bias=self.calibrate_bias, progress=progress,
            cancel=cancel)
        t_trained = time.perf_counter()
        self.onnx = export_onnx(result.net, result.temperature, result.bias)
        self.arch, self.forest, self.class_names = arch, forest, names
        self.tile_shape = self.tile_shape or DEFAULT_TILE[arch.ndim]
        self.n_channels, self.spatial_ndim = n_channels, len(dims)
        self.mean, self.std = stats
        self.calibration = {"temperature": result.temperature, "bias": result.bias}
        self.training = {
            "labelled_pixels": {n: int(sum((lab == i).sum() for lab in lab_frames))
                                for i, n in enumerate(names, start=1)},
            "n_images": len(frames), "steps": result.best.get("step"),
            "best_val_f1": result.best.get("f1"), "stopped": result.stopped,
            "device": result.device, "patch": list(patch), "spacing": list(spacing),
            "history": result.history, "fit_seconds": round(time.perf_counter() - t0, 3),
            "prepare_seconds": round(t_prepared - t0, 3),
            "train_seconds": round(t_trained - t_prepared, 3), **describe(data),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        return self

    def _frames(self, images: Any, labels: Any) -> tuple[list[np.ndarray], list[np.ndarray],
                                                         list[str], list[float], int]:
        from brushlab.io import as_image

        image_list = list(images) if isinstance(images, (list, tuple)) else [images]
        label_list = list(labels) if isinstance(labels, (list, tuple)) else [labels]
        if len(image_list) != len(label_list) or not image_list:
            raise LabelError(f"got {len(image_list)} images and {len(label_list)} label arrays: "
                             "pass one label array per image, at least one")
        frames: list[np.ndarray] = []
        lab_frames: list[np.ndarray] = []
        dims: list[str] = []
        spacing: list[float] = []
        n_channels = 0
        for i, (image, lab) in enumerate(zip(image_list, label_list)):
            img = as_image(image)
            check_image(img, where=f"training image {i}")
            fr = split_frames(img, "cpu")
            if not frames:
                dims, spacing, n_channels = fr.spatial_dims, fr.spacing, fr.n_channels
            elif (fr.n_channels, fr.ndim) != (n_channels, len(dims)):
                raise ImageError(f"training image {i} has {fr.n_channels} channel(s) and "
                                 f"{fr.ndim} spatial dims, the first has {n_channels} and "
                                 f"{len(dims)}: all training images need the same")
            lab_arr = check_labels(lab, img, i)
            lab_arr = lab_arr if "t" in img.dims else lab_arr[None]
            for data, lab_frame in zip(fr.arrays, lab_arr):
                frames.append(np.asarray(data, np.float32))
                lab_frames.append(np.asarray(lab_frame, np.int64))
        return frames, lab_frames, dims, spacing, n_channels

    # -- prediction ------------------------------------------------------------
    @property
    def is_trained(self) -> bool:
        """Whether :meth:`fit` (or loading) has produced a network."""
        return self.onnx is not None

    def _require_trained(self) -> Architecture:
        if self.onnx is None or self.arch is None:
            raise ClassifierError("this NetworkClassifier is not trained yet: call fit() first")
        return self.arch

    def halo(self, spacing: Sequence[float] | None = None) -> tuple[int, ...]:
        """Margin per spatial axis a tile needs: the network's field of view plus the forest's."""
        arch = self._require_trained()
        sp = [1.0] * arch.ndim if spacing is None else list(spacing)
        extra = self.forest.features.halo(sp) if self.forest is not None else [0] * arch.ndim
        return tuple(int(a + b) for a, b in zip(arch.halo, extra))

    def fingerprint(self) -> str:
        """Digest of everything that decides predictions (resuming blockwise runs checks it)."""
        import hashlib
        import json

        digest = hashlib.sha256(self.onnx or b"")
        digest.update(json.dumps([self.mean, self.std, self.class_names]).encode())
        if self.forest is not None:
            from brushlab.classifier import classifier_fingerprint as _fingerprint

            digest.update(_fingerprint(self.forest).encode())
        return digest.hexdigest()[:20]

    def work_channels(self, ndim: int, n_channels: int) -> int:
        """About how many float32 values per tile pixel prediction holds at its peak."""
        arch = self._require_trained()
        forest = 0
        if self.forest is not None:
            forest = self.forest.features.n_features(ndim=ndim, n_channels=n_channels)
        return int(16 * arch.base_channels + arch.in_channels + forest)

    @property
    def model_bytes(self) -> int:
        """Memory the model itself takes on a worker."""
        from brushlab.classifier import classifier_bytes

        forest = classifier_bytes(self.forest) if self.forest is not None else 0
        return 2 * len(self.onnx or b"") + forest

    def check_compatible(self, n_channels: int, ndim: int) -> None:
        """Raise ClassifierError unless images with these channels and dims fit the network."""
        if n_channels != self.n_channels or ndim != self.spatial_ndim:
            raise ClassifierError(
                f"the network was trained on {self.spatial_ndim}D images with {self.n_channels} "
                f"channel(s); this image is {ndim}D with {n_channels}: use a matching image "
                "(pass dims= to imread) or retrain")

    def predict(
        self,
        image: Any,
        *,
        outputs: Sequence[str] = OUTPUTS,
        tile_shape: Sequence[int] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> xr.Dataset:
        """Predict every pixel of ``image``, tile by tile (see :meth:`PixelClassifier.predict`).

        The network's input for one frame (the normalised image and the forest's
        probabilities) is held in memory next to the result, so the forest runs once per
        frame; for images larger than memory use
        :func:`brushlab.blockwise.predict_blockwise`.

        Returns
        -------
        xarray.Dataset
            ``probabilities``, ``segmentation``, ``uncertainty``, ``confidence``, built by
            the same code as the forest's.
        """
        from brushlab.io import as_image

        arch = self._require_trained()
        unknown = set(outputs) - set(OUTPUTS)
        if unknown:
            raise ClassifierError(f"unknown outputs {sorted(unknown)}; choose from {OUTPUTS}")
        img = as_image(image)
        check_image(img, where="the image")
        fr = split_frames(img, "cpu")
        self.check_compatible(fr.n_channels, fr.ndim)
        tile = tuple(int(t) for t in (tile_shape or self.tile_shape or DEFAULT_TILE[arch.ndim]))
        if len(tile) != arch.ndim or min(tile) < 1:
            raise ClassifierError(f"tile_shape {tile} must have {arch.ndim} positive entries")
        shape = fr.arrays[0].shape[1:]
        proba = np.zeros((len(fr.arrays), len(self.class_names or []), *shape), np.float32)
        tiles = list(iter_tiles(shape, tile))
        threads = int(self.n_jobs) if self.n_jobs else (os.cpu_count() or 1)
        session = onnx_session(self.onnx or b"", self.device, threads)
        done = 0
        # Per frame: the network's input once (the forest's part on a thread pool, in
        # its own small tiles), then the network tile by tile on every core. Computing
        # the forest per network tile instead redid it on every tile's halo (1.27x the
        # frame at 2048 x 2048 with 1024-pixel tiles).
        with ThreadPoolExecutor(threads) as pool:
            sp = list(fr.spacing)
            frame_halo = (self.forest.features.halo(sp) if self.forest is not None
                          else (0,) * arch.ndim)
            whole = tuple(slice(0, n) for n in shape)
            for fi, frame in enumerate(fr.arrays):
                block = read_with_halo(np.asarray(frame, np.float32), whole, frame_halo)
                origin = [-h for h in frame_halo]
                inputs, _ = self._window(block, frame_halo, origin, fr.spacing, pool,
                                         network_halo=False)
                for t in tiles:
                    win = read_with_halo(inputs, t, arch.halo)
                    proba[(fi, slice(None), *t)] = run_window(  # type: ignore[index]
                        session, arch, win, [s.start - h for s, h in zip(t, arch.halo)],
                        [s.start for s in t], [s.stop - s.start for s in t])
                    done += 1
                    if progress is not None:
                        progress(done, len(tiles) * len(fr.arrays))
        return result_dataset(proba, img, outputs, list(self.class_names or []))

    def _window(self, block: np.ndarray, halo: Sequence[int], origin: Sequence[int],
                spacing: Sequence[float] | None, pool: ThreadPoolExecutor | None = None,
                *, network_halo: bool = True) -> tuple[np.ndarray, list[int]]:
        """Network input around a tile (normalised image, forest probabilities) and its origin.

        With ``network_halo=False`` the input covers the tile only (no network margin).
        """
        arch = self._require_trained()
        margin = arch.halo if network_halo else [0] * arch.ndim
        extra = [int(h) - n for h, n in zip(halo, margin)]
        if min(extra) < 0:
            raise ClassifierError(f"halo {tuple(halo)} is smaller than the network needs "
                                  f"{self.halo(spacing)}")
        inner = block[(slice(None), *[slice(e, n - e) for e, n in zip(extra, block.shape[1:])])]
        mean = np.asarray(self.mean, np.float32).reshape(-1, *[1] * arch.ndim)
        std = np.asarray(self.std, np.float32).reshape(-1, *[1] * arch.ndim)
        parts = [(np.asarray(inner, np.float32) - mean) / std]
        if self.forest is not None:
            parts.append(forest_probabilities(self.forest, block, extra, origin, spacing, pool,
                                              len(self.class_names or [])))
        return np.concatenate(parts), [o + e for o, e in zip(origin, extra)]

    def predict_tile(
        self,
        block: Any,
        *,
        halo: Sequence[int],
        origin: Sequence[int],
        spacing: Sequence[float] | None = None,
    ) -> np.ndarray:
        """Class probabilities ``(K, *tile)`` of one tile grown by ``halo`` (>= :meth:`halo`).

        The same contract as :meth:`brushlab.PixelClassifier.predict_tile`, so blockwise
        (Dask) prediction and the widget's viewport run networks too.
        """
        arch = self._require_trained()
        block = np.asarray(block, np.float32)
        self.check_compatible(int(block.shape[0]), block.ndim - 1)
        win, win_origin = self._window(block, halo, origin, spacing)
        tile_start = [o + h for o, h in zip(origin, halo)]
        tile = [n - 2 * h for n, h in zip(block.shape[1:], halo)]
        threads = int(self.n_jobs) if self.n_jobs else (os.cpu_count() or 1)
        session = onnx_session(self.onnx or b"", self.device, threads)
        return run_window(session, arch, win, win_origin, tile_start, tile)

    # -- files -----------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the network (ONNX), its forest (if any) and JSON metadata to one zip, atomically.

        Returns
        -------
        pathlib.Path
            The written file.
        """
        from brushlab.network._modelfile import save_network

        return save_network(self, path)

    def export_bioimageio(
        self, path: str | os.PathLike[str], *, sample_image: Any, **kwargs: Any
    ) -> Path:
        """Write a BioImage Model Zoo package: features, forest and U-Net in one ONNX graph.

        Its own test (``brushlab.load_model(path).test()``) passes before it is written;
        see :func:`brushlab.bioimageio.export_network_bioimageio`.

        Returns
        -------
        pathlib.Path
            The written package (a folder, or a ``.zip``).
        """
        from brushlab.classifier.exporters import exporter

        export_network_bioimageio = exporter("bioimageio-network")

        return export_network_bioimageio(self, path, sample_image=sample_image, **kwargs)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NetworkClassifier:
        """Read a network written by :meth:`save` (validated; no pickle, no torch)."""
        from brushlab.network._modelfile import load_network

        return load_network(path, cls, DEFAULT_TILE)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        state = f"classes={self.class_names}" if self.is_trained else "untrained"
        source = "image + forest" if self.forest_template or self.forest else "image"
        return (f"NetworkClassifier(depth={self.depth}, base_channels={self.base_channels}, "
                f"input={source}, {state})")
