"""Prediction of a trained PixelClassifier: whole images tile by tile, single tiles, rows."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from brushlab._core.backend import to_numpy
from brushlab._core.tiling import iter_tiles, read_with_halo
from brushlab.classifier._planes import per_plane, plane_halo, plane_tile, predict_planes
from brushlab.classifier.results import OUTPUTS, result_dataset
from brushlab.errors import ClassifierError
from brushlab.io import check_image, split_frames

__all__ = ["TilePrediction"]

DEFAULT_TILE = {2: (256, 256), 3: (64, 128, 128)}


class TilePrediction:
    """``predict``, ``predict_tile`` and ``predict_features`` of a :class:`PixelClassifier`."""

    if TYPE_CHECKING:  # the state and helpers PixelClassifier provides

        def __getattr__(self, name: str) -> Any: ...

    def predict(
        self,
        image: Any,
        *,
        outputs: Sequence[str] = OUTPUTS,
        tile_shape: Sequence[int] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> xr.Dataset:
        """Predict every pixel of ``image``.

        Parameters
        ----------
        image : array-like, DataArray or path
            With the channel count the classifier was trained on, and its spatial
            dims; a 2D-trained classifier predicts a 3D stack plane by plane (and,
            like every classifier, a time series frame by frame).
        outputs : sequence of str
            Any of ``probabilities``, ``segmentation``, ``uncertainty``, ``confidence``.
        tile_shape : sequence of int, optional
            Spatial tile (default: the classifier's); results do not depend on it.
        progress : callable, optional
            Called as ``progress(done, total)`` after each tile (from worker
            threads, one call at a time, with ``done`` counting up to ``total``).

        Returns
        -------
        xarray.Dataset
            ``probabilities`` (float32, dim ``class`` first, summing to 1),
            ``segmentation`` (1..K, smallest unsigned dtype), ``uncertainty``
            (1 - (p_max - p_second), as ilastik) and ``confidence`` (p_max), over
            the image's dims without ``c``.
        """
        from brushlab.io import as_image

        self._require_trained()
        unknown = set(outputs) - set(OUTPUTS)
        if unknown:
            raise ClassifierError(f"unknown outputs {sorted(unknown)}; choose from {OUTPUTS}")
        img = as_image(image)
        check_image(img, where="the image")
        fr = split_frames(img, self._device_for(img.data))
        frames, spacing, nd = fr.arrays, fr.spacing, fr.ndim
        self.check_compatible(fr.n_channels, nd)
        shape = frames[0].shape[1:]
        tile = plane_tile(self, tile_shape or self.tile_shape or DEFAULT_TILE[nd], nd)
        if len(tile) != nd:
            raise ClassifierError(f"tile_shape {tile} must have {nd} entries for this image")
        halo = plane_halo(self, spacing)  # 0 along z for a 2D model on a stack
        k = len(self.class_names or [])
        proba = np.zeros((len(frames), k, *shape), dtype=np.float32)
        jobs = [(fi, t) for fi in range(len(frames)) for t in iter_tiles(shape, tile)]
        done = [0]
        lock = threading.Lock()

        def one(job: tuple[int, tuple[slice, ...]]) -> None:
            fi, t = job
            block = read_with_halo(frames[fi], t, halo)
            origin = [s.start - h for s, h in zip(t, halo)]
            p = self.predict_tile(block, halo=halo, origin=origin, spacing=spacing)
            index: tuple[Any, ...] = (fi, slice(None), *t)
            proba[index] = p
            with lock:  # tiles finish on several threads; report each count once, in order
                done[0] += 1
                if progress is not None:
                    progress(done[0], len(jobs))

        self._map(one, jobs)
        return self._result(proba, img, outputs)

    def predict_tile(
        self,
        block: Any,
        *,
        halo: Sequence[int],
        origin: Sequence[int],
        spacing: Sequence[float] | None = None,
    ) -> np.ndarray:
        """Class probabilities of one tile: the building block of every prediction path.

        In-memory :meth:`predict`, blockwise (Dask) prediction and the widget's
        viewport all call this, so they agree bit for bit.

        Parameters
        ----------
        block : array
            ``(C, *spatial)`` pixels of the tile grown by ``halo`` on each side
            (mirrored where the image ends; see :func:`brushlab._core.tiling.read_with_halo`).
        halo : sequence of int
            The halo ``block`` carries; at least ``self.features.halo(spacing)``.
        origin : sequence of int
            Global index of ``block``'s first pixel per spatial axis (tile start minus halo).
        spacing : sequence of float, optional
            Physical pixel size per spatial axis (1 when None).

        Returns
        -------
        numpy.ndarray
            ``(K, *tile)`` float32 probabilities, one row per class name.
        """
        self._require_trained()
        ndim = block.ndim - 1
        self.check_compatible(int(block.shape[0]), ndim)
        if per_plane(self, ndim):
            return predict_planes(self, block, halo=halo, origin=origin, spacing=spacing)
        sp = [1.0] * ndim if spacing is None else [float(v) for v in spacing]
        return self.predict_features(self.features.compute_block(block, sp, halo, origin))

    def predict_features(self, feats: Any) -> np.ndarray:
        """Class probabilities ``(K, *tile)`` from channel-first features ``(F, *tile)``."""
        nf = feats.shape[0]
        tile_shape = feats.shape[1:]
        x = np.ascontiguousarray(to_numpy(feats).reshape(nf, -1).T)
        model = self._model
        if hasattr(model, "estimators_") and hasattr(model, "n_outputs_"):
            # The forest's own average, without joblib's per-call overhead per tile.
            acc = np.zeros((x.shape[0], len(model.classes_)), dtype=np.float64)
            for est in model.estimators_:
                acc += est.predict_proba(x, check_input=False)
            p = acc / len(model.estimators_)
        else:
            p = model.predict_proba(x)
        k = len(self.class_names or [])
        out = np.zeros((k, x.shape[0]), dtype=np.float32)
        for col, cls in enumerate(model.classes_):
            out[int(cls) - 1] = p[:, col]
        return out.reshape(k, *tile_shape)

    def check_compatible(self, n_channels: int, ndim: int) -> None:
        """Raise ClassifierError unless images with these channels and dims fit the model."""
        if n_channels != self.n_channels:
            raise ClassifierError(
                f"the classifier was trained on images with {self.n_channels} channel(s) but this "
                f"image has {n_channels}: use an image with the same channels, or retrain"
            )
        if ndim != self.spatial_ndim and not per_plane(self, ndim):  # 2D models do stacks
            raise ClassifierError(
                f"the classifier was trained on {self.spatial_ndim}D images but this image is "
                f"{ndim}D: pass dims= to imread, or retrain on {ndim}D data"
            )

    def _result(self, proba: np.ndarray, img: xr.DataArray, outputs: Sequence[str]) -> xr.Dataset:
        return result_dataset(proba, img, outputs, list(self.class_names or []))
