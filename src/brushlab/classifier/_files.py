"""A PixelClassifier as a file: save, load and Model Zoo export (trees as arrays, never pickle)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brushlab.errors import ModelFileError
from brushlab.features import FeatureSet

if TYPE_CHECKING:
    from brushlab.classifier._pixel_classifier import PixelClassifier

__all__ = ["ClassifierFiles"]


class ClassifierFiles:
    """``save``, ``load`` and ``export_bioimageio`` of a :class:`PixelClassifier`."""

    if TYPE_CHECKING:  # the state and helpers PixelClassifier provides

        def __getattr__(self, name: str) -> Any: ...

    # -- files -----------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the trained classifier to ``path`` (trees as arrays plus JSON; no pickle).

        Returns
        -------
        pathlib.Path
            The written file.
        """
        from brushlab._version import __version__
        from brushlab.classifier.boosted_trees import BoostedTrees
        from brushlab.classifier.modelfile import forest_to_arrays, write_model_file

        self._require_trained()
        if isinstance(self._model, BoostedTrees):
            arrays, model_meta = self._model.to_arrays()
            which = "boosted_trees"
        else:
            arrays, model_meta = forest_to_arrays(self._model)
            which = "forest"
        meta = {
            "kind": "pixel-classifier",
            "brushlab_version": __version__,
            "features": self.features.to_dict(),
            "class_names": self.class_names,
            "n_channels": self.n_channels,
            "spatial_ndim": self.spatial_ndim,
            "params": {
                "n_trees": self.n_trees,
                "random_state": self.random_state,
                "model": self.model,
                "n_leaves": self.n_leaves,
                "learning_rate": self.learning_rate,
                "subsample": self.subsample,
                "class_weight": self.class_weight,
                "max_depth": self.max_depth,
                "min_samples_leaf": self.min_samples_leaf,
                "max_features": self.max_features,
                "tile_shape": list(self.tile_shape) if self.tile_shape else None,
            },
            "training": self.training,
            which: model_meta,
        }
        json.dumps(meta)  # fail here, before anything is written, if not JSON-able
        return write_model_file(path, arrays, meta)

    def export_bioimageio(
        self, path: str | os.PathLike[str], *, sample_image: Any, **kwargs: Any
    ) -> Path:
        """Write a BioImage Model Zoo package (format 0.5, ONNX weights) of this classifier.

        The ONNX graph computes the features (separable 1D convolutions with brushlab's
        kernels, eigenvalues in closed form, symmetric mirroring at the borders) and
        the forest (ONNX-ML ``TreeEnsembleClassifier``); onnxruntime reproduces
        :meth:`predict`'s probabilities. The package is validated with
        ``bioimageio.spec`` and its own test passes before it is written.

        Parameters
        ----------
        path : str or path-like
            A folder, or a ``.zip`` file.
        sample_image : image
            An image like the training ones: test tensors (a centre crop) and the cover.
        **kwargs
            ``name``, ``description``, ``authors``, ``license``, ``tags``, ``spacing``,
            ``overwrite``: see :func:`brushlab.bioimageio.export_bioimageio`.

        Returns
        -------
        pathlib.Path
            The written package.

        Examples
        --------
        >>> clf.export_bioimageio("cells.zip", sample_image=image)  # doctest: +SKIP
        """
        from brushlab.classifier.exporters import exporter

        return exporter("bioimageio")(self, path, sample_image=sample_image, **kwargs)  # type: ignore[no-any-return]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PixelClassifier:
        """Read a classifier written by :meth:`save`."""
        from brushlab.classifier.boosted_trees import BoostedTrees
        from brushlab.classifier.forest_arrays import check_model_fits
        from brushlab.classifier.modelfile import forest_from_arrays, read_model_file

        arrays, meta = read_model_file(path)
        if meta.get("kind") != "pixel-classifier":
            raise ModelFileError(f"{path} does not hold a brushlab pixel classifier")
        try:
            params = dict(meta["params"])
            boosted = "boosted_trees" in meta
            params["model"] = "boosted_trees" if boosted else "random_forest"  # format 1: forests
            params.setdefault("subsample", 1.0)  # files before subsampling: every tree saw all
            clf: Any = cls(  # type: ignore[call-arg]
                FeatureSet.from_dict(meta["features"]),
                n_trees=int(params.pop("n_trees")),
                random_state=params.pop("random_state"),
                **params,
            )
            if boosted:
                clf._model = BoostedTrees.from_arrays(arrays, dict(meta["boosted_trees"]))
            else:
                clf._model = forest_from_arrays(arrays, meta["forest"])
            clf.class_names = [str(n) for n in meta["class_names"]]
            clf.n_channels = int(meta["n_channels"])
            clf.spatial_ndim = int(meta["spatial_ndim"])
            clf.training = dict(meta.get("training", {}))
            if clf.spatial_ndim not in (2, 3) or not 1 <= clf.n_channels <= 4096:
                raise ValueError(f"{clf.n_channels} channels, {clf.spatial_ndim}D")
            n_features = clf.features.n_features(ndim=clf.spatial_ndim, n_channels=clf.n_channels)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ModelFileError):
                raise
            raise ModelFileError(
                f"{path} is a brushlab model file with incomplete metadata ({exc}); re-save it"
            ) from exc
        check_model_fits(
            clf._model, n_classes=len(clf.class_names), n_features=n_features, where=path
        )
        return clf
