"""BioimageioModel: a BioImage Model Zoo package with ONNX weights, run on brushlab images."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brushlab._core.backend import to_numpy
from brushlab.bioimageio._axes import TensorInfo, check_supported, tensor_info
from brushlab.bioimageio._package import LoadedPackage, check_local_file, read_package
from brushlab.bioimageio._processing import apply_processing, check_processing
from brushlab.bioimageio._runtime import OnnxRunner, get_session
from brushlab.bioimageio._selftest import ModelTestReport, self_test
from brushlab.bioimageio._tiling import plan_tiles, run_tiled
from brushlab.errors import ImageError, ModelPackageError

__all__ = ["BioimageioModel", "ModelTestReport", "load_model"]

_SAMPLE = "__sample__"


class BioimageioModel:
    """A model package with ONNX weights, validated by ``bioimageio.spec`` and run by onnxruntime.

    Use :func:`load_model` to open one.

    Parameters
    ----------
    package : LoadedPackage
        From :func:`brushlab.bioimageio._package.read_package`.
    device : {"auto", "cpu", "gpu"}
        Where onnxruntime runs: "auto" takes CUDA when available.
    threads : int, optional
        onnxruntime's intra-op threads (its default when None).
    """

    def __init__(
        self, package: LoadedPackage, *, device: str = "auto", threads: int | None = None
    ) -> None:
        descr = package.description
        self._package = package
        self.description = descr
        self.name = str(descr.name)
        self.summary = str(descr.description)
        self.path = Path(package.files.location)
        self.format_version = package.source_format
        self.inputs = [tensor_info(t, is_input=True) for t in descr.inputs]
        self.outputs = [tensor_info(t, is_input=False) for t in descr.outputs]
        self.device = device
        self.threads = threads
        where = f"model {self.name!r}"
        check_supported(self.inputs, self.outputs, where)
        for t in self.inputs:
            check_processing(t.processing, where=where, post=False)
        for t in self.outputs:
            check_processing(t.processing, where=where, post=True)
        self._runner: OnnxRunner | None = None

    # -- runtime -----------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_runner"] = None  # sessions do not pickle; each process builds its own
        return state

    @property
    def runner(self) -> OnnxRunner:
        """The onnxruntime session wrapper (created on first use, cached per process)."""
        if self._runner is None:
            entry = self.description.weights.onnx
            weights: bytes | str = self._package.weights
            if getattr(entry, "external_data", None) is not None:
                weights = str(self._external_weights(entry))
            session = get_session(weights, device=self.device, threads=self.threads)
            self._runner = OnnxRunner(
                session, [t.id for t in self.inputs], [t.id for t in self.outputs]
            )
        return self._runner

    def _external_weights(self, entry: Any) -> Path:
        import shutil
        import tempfile
        import weakref

        files = self._package.files
        scratch = Path(tempfile.mkdtemp(prefix="brushlab-onnx-"))
        weakref.finalize(self, shutil.rmtree, scratch, True)  # extracted files go with the model
        check_local_file(
            files, entry.external_data.source, entry.external_data.sha256, what="ONNX external data"
        )
        files.local_path(str(entry.external_data.source), scratch)
        return files.local_path(str(entry.source), scratch)

    @property
    def providers(self) -> list[str]:
        """Execution providers of the session (e.g. ``['CPUExecutionProvider']``)."""
        return list(self.runner.session.get_providers())

    # -- whole tensors -------------------------------------------------------------
    def run(
        self,
        tensors: Mapping[str, Any],
        *,
        preprocess: bool = True,
        postprocess: bool = True,
    ) -> dict[str, xr.DataArray]:
        """Run the model once on whole tensors (no tiling), as ``bioimageio test`` does.

        Parameters
        ----------
        tensors : mapping
            Input id -> array in the description's axis order (or a DataArray with
            the axis ids as dims).
        preprocess, postprocess : bool
            Apply the description's processing steps.

        Returns
        -------
        dict
            Output id -> DataArray with the output's axis ids as dims.
        """
        raw = {t.id: self._as_tensor(tensors, t) for t in self.inputs}
        ready = {
            t.id: self._preprocess(raw[t.id], t, raw) if preprocess else raw[t.id]
            for t in self.inputs
        }
        results = self.runner.run({k: v.values for k, v in ready.items()})
        out = {}
        for t in self.outputs:
            arr = xr.DataArray(results[t.id], dims=t.axis_ids)
            out[t.id] = apply_processing(arr, t.processing, raw) if postprocess else arr
        return out

    def _as_tensor(self, tensors: Mapping[str, Any], t: TensorInfo) -> xr.DataArray:
        if t.id not in tensors:
            raise ModelPackageError(
                f"model {self.name!r} needs the input {t.id!r}; got {sorted(tensors)}"
            )
        value = tensors[t.id]
        if isinstance(value, xr.DataArray):
            return value.transpose(*t.axis_ids)
        arr = np.asarray(value)
        if arr.ndim != len(t.axes):
            raise ModelPackageError(
                f"input {t.id!r} needs {len(t.axes)} axes ({','.join(t.axis_ids)}), "
                f"got shape {arr.shape}"
            )
        return xr.DataArray(arr, dims=t.axis_ids)

    @staticmethod
    def _preprocess(
        x: xr.DataArray, t: TensorInfo, raw: Mapping[str, xr.DataArray]
    ) -> xr.DataArray:
        ops = list(t.processing)
        if not (ops and str(ops[0].id) == "ensure_dtype"):
            x = x.astype(np.float32)
        return apply_processing(x, ops, raw)

    # -- self-test -----------------------------------------------------------------
    def test(self) -> ModelTestReport:
        """Run the package's test inputs and compare with its test outputs.

        Tolerances come from the description (``config.bioimageio.reproducibility_tolerance``,
        defaults of the spec otherwise): an element mismatches when
        ``|out - ref| > absolute_tolerance + relative_tolerance * |ref|``.

        Returns
        -------
        ModelTestReport
            ``passed``, and per output the max abs difference and mismatch counts.
        """
        return self_test(self)

    # -- images --------------------------------------------------------------------
    def predict(
        self,
        image: Any,
        *,
        tile_shape: int | Mapping[str, int] | Sequence[int] | None = None,
        border: int | Mapping[str, int] | None = None,
        probabilities: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> xr.Dataset:
        """Predict a brushlab image, tile by tile, with the package's pre- and postprocessing.

        Parameters
        ----------
        image : array-like, DataArray or path
            Anything :func:`brushlab.as_image` reads; dims from t, z, y, x, c. Dims the
            model lacks (t, or z for a 2D model) are run one plane at a time.
        tile_shape : int, mapping or sequence, optional
            Output pixels per tile and space axis: one int for all, ``{"y": 256, "x": 256}``,
            or a sequence in the model's space-axis order. Results do not depend on it.
        border : int or mapping, optional
            Context pixels per side of each tile instead of the model's declared halo
            (ZEISS Intellesis' "border size"). A model without a halo that looks
            beyond a tile needs one for seamless tiles.
        probabilities : str, optional
            Output id to read class probabilities from (default: the first output
            whose channels sum to one, or a single-channel output in [0, 1]).
        progress : callable, optional
            ``progress(done, total)`` after each tile.

        Returns
        -------
        xarray.Dataset
            One variable per model output (named by output id, over the image's dims
            without ``c`` and the output's channels); ``probabilities`` (dim ``class``),
            ``segmentation``, ``uncertainty`` and ``confidence`` where an output holds
            class probabilities. Objects from them:
            ``brushlab.objects.objects_from_probabilities(result.probabilities, ...)``.
        """
        from brushlab.bioimageio._result import assemble

        if len(self.inputs) != 1:
            raise ModelPackageError(
                f"model {self.name!r} has {len(self.inputs)} inputs; predict() takes one image: "
                "use run() with a tensor per input"
            )
        inp = self.inputs[0]
        img, tensor, loop = self._image_tensor(image, inp)
        batch = _batch_id(inp)
        has_batch = batch != _SAMPLE
        raw = {inp.id: tensor}
        if has_batch:
            ready = self._preprocess(tensor, inp, raw)
        else:  # no batch axis: every plane is its own sample, statistics included
            ready = xr.concat(
                [self._preprocess(s, inp, {inp.id: s}) for s in tensor.transpose(_SAMPLE, ...)],
                dim=_SAMPLE,
            )
        space_ids = [a.id for a in inp.space_axes]
        plans = plan_tiles(
            inp,
            self.outputs,
            {a: int(ready.sizes[a]) for a in space_ids},
            tile_shape=_per_axis(tile_shape, space_ids, "tile_shape"),
            border=_per_axis(border, space_ids, "border"),
        )
        n_samples = int(ready.sizes[batch])
        n_tiles = int(np.prod([len(p.starts) for p in plans]))
        done = [0]

        def tick(_: int, __: int) -> None:
            done[0] += 1
            if progress is not None:
                progress(done[0], n_tiles * n_samples)

        def one(block: np.ndarray) -> Mapping[str, np.ndarray]:
            return self.runner.run({inp.id: block})

        per_output: dict[str, list[np.ndarray]] = {t.id: [] for t in self.outputs}
        for b in range(n_samples):
            sample = ready.isel({batch: slice(b, b + 1)})
            if has_batch:
                arr = sample.transpose(*inp.axis_ids).values
            else:
                arr = sample.transpose(_SAMPLE, *inp.axis_ids).values[0]
            stitched = run_tiled(one, arr, inp, self.outputs, plans, progress=tick)
            for t in self.outputs:
                pos = next((i for i, a in enumerate(t.axes) if a.type == "batch"), None)
                out = stitched[t.id]
                per_output[t.id].append(out if pos is None else np.take(out, 0, axis=pos))
        outputs: dict[str, xr.DataArray] = {}
        for t in self.outputs:
            out_batch = next((a.id for a in t.axes if a.type == "batch"), _SAMPLE)
            dims = [a.id for a in t.axes if a.type != "batch"]
            stacked = xr.DataArray(np.stack(per_output[t.id]), dims=[out_batch, *dims])
            post = apply_processing(stacked, t.processing, raw)
            outputs[t.id] = post.rename({out_batch: _SAMPLE}) if out_batch != _SAMPLE else post
        return assemble(
            self,
            img,
            loop,
            outputs,
            probabilities=probabilities,
        )

    def _image_tensor(
        self, image: Any, inp: TensorInfo
    ) -> tuple[xr.DataArray, xr.DataArray, list[tuple[str, int]]]:
        """Return the image as the input tensor: planes the model lacks stacked as batch."""
        from brushlab.io import as_image, check_image

        img = as_image(image)
        check_image(img, where="the image")
        space = [a.id for a in inp.space_axes]
        missing = [d for d in space if d not in img.dims]
        if missing:
            raise ImageError(
                f"model {self.name!r} needs {len(space)}D images (dims {', '.join(space)}); this "
                f"image has dims {', '.join(map(str, img.dims))}: pass dims= to brushlab.imread"
            )
        loop = [(str(d), int(img.sizes[d])) for d in ("t", "z") if d in img.dims and d not in space]
        channel = inp.channel_axis
        want = channel.size if channel is not None else 1
        have = int(img.sizes.get("c", 1))
        if have != want:
            names = f" ({', '.join(channel.channel_names)})" if channel is not None else ""
            raise ImageError(
                f"model {self.name!r} expects images with {want} channel(s){names}, this image "
                f"has {have}: pick or combine channels to match (e.g. image.isel(c=[0])), or read "
                "it with dims= so the channel axis is recognised"
            )
        order = [d for d, _ in loop] + (["c"] if "c" in img.dims else []) + space
        data = to_numpy(img.transpose(*order).data)
        n = int(np.prod([s for _, s in loop], dtype=np.int64))
        data = data.reshape(n, have, *[int(img.sizes[d]) for d in space])
        ch_id = channel.id if channel is not None else "__channel__"
        tensor = xr.DataArray(data, dims=[_batch_id(inp), ch_id, *space])
        if channel is None:
            tensor = tensor.isel({ch_id: 0})
        return img, tensor, loop

    def __repr__(self) -> str:
        ins = "; ".join(t.describe() for t in self.inputs)
        outs = "; ".join(t.describe() for t in self.outputs)
        return f"BioimageioModel({self.name!r}, inputs=[{ins}], outputs=[{outs}])"


def _batch_id(inp: TensorInfo) -> str:
    return next((a.id for a in inp.axes if a.type == "batch"), _SAMPLE)


def _per_axis(value: Any, ids: Sequence[str], what: str) -> dict[str, int] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {str(k): int(v) for k, v in value.items()}
    if isinstance(value, (int, np.integer)):
        return {i: int(value) for i in ids}
    values = list(value)
    if len(values) != len(ids):
        raise ModelPackageError(
            f"{what} needs one value per space axis {tuple(ids)}, got {tuple(values)}"
        )
    return {i: int(v) for i, v in zip(ids, values)}


def load_model(
    path: str | os.PathLike[str], *, device: str = "auto", threads: int | None = None
) -> BioimageioModel:
    """Open a BioImage Model Zoo package with ONNX weights, offline.

    Parameters
    ----------
    path : str or path-like
        Package folder, ``.zip``, or its ``rdf.yaml``/``bioimageio.yaml`` (formats 0.4 and 0.5).
    device : {"auto", "cpu", "gpu"}
        Where onnxruntime runs ("auto": CUDA when available).
    threads : int, optional
        onnxruntime intra-op threads.

    Returns
    -------
    BioimageioModel
        With :meth:`~BioimageioModel.predict`, :meth:`~BioimageioModel.run` and
        :meth:`~BioimageioModel.test`.

    Raises
    ------
    brushlab.errors.ModelPackageError
        When the package is missing, malformed, of an unknown format, has no ONNX
        weights, a wrong sha256, or steps brushlab does not implement.

    Examples
    --------
    >>> import brushlab
    >>> model = brushlab.load_model("models/coins-pixel-classifier")  # doctest: +SKIP
    >>> model.test().passed  # doctest: +SKIP
    True
    """
    return BioimageioModel(read_package(path), device=device, threads=threads)
