"""A trained network as a BioImage Model Zoo package: the whole chain in one ONNX graph.

The graph takes raw intensities and does what :meth:`NetworkClassifier.predict` does:

1. mirror the image by the network's halo ``H`` (a multiple of the pooling factor,
   so the pooling grid lies where brushlab's tiles put it) plus the forest's feature
   halo, compute brushlab's filter features and the forest (the same subgraphs as
   :func:`brushlab.dl.export_bioimageio`), crop the feature halo;
2. normalise the mirrored image with the training mean and standard deviation;
3. run the U-Net on both and crop ``H``.

Spatial sizes must be multiples of the pooling factor (declared in the rdf).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from brushlab.errors import ClassifierError

__all__ = ["export_network_bioimageio", "network_to_onnx"]

INPUT_NAME, OUTPUT_NAME = "raw", "probabilities"


def network_to_onnx(net: Any, *, spacing: Sequence[float] | None = None) -> tuple[Any, list[int]]:
    """Build the one-graph ONNX model of a trained network (and its forest).

    Returns
    -------
    model : onnx.ModelProto
        Input ``raw`` ``(N, C, *spatial)``, output ``probabilities`` ``(N, K, *spatial)``.
    halo : list of int
        Context each output pixel depends on, per spatial axis.
    """
    import onnx
    from onnx import TensorProto, compose, helper

    from brushlab.bioimageio._export_features import _crop, feature_graph, mirror_pad
    from brushlab.bioimageio._export_forest import forest_graph
    from brushlab.bioimageio._export_onnx import ONNX_ML_OPSET, ONNX_OPSET
    from brushlab.bioimageio._onnx_graph import GraphBuilder
    from brushlab.network._infer import INPUT as NET_IN
    from brushlab.network._infer import OUTPUT as NET_OUT

    arch = net._require_trained()
    nd, c, k = arch.ndim, int(net.n_channels), len(net.class_names)
    sp = [1.0] * nd if spacing is None else [float(s) for s in spacing]
    h = [m * (hh // m) for hh, m in zip(arch.halo, arch.multiple)]  # >= radius, aligned
    g = GraphBuilder()
    image = mirror_pad(g, INPUT_NAME, h)
    shape = [1, -1, *[1] * nd]
    mean = g.const(np.asarray(net.mean, np.float32).reshape(shape))
    std = g.const(np.asarray(net.std, np.float32).reshape(shape))
    parts = [g.op("Div", [g.op("Sub", [image, mean]), std])]
    fh: list[int] = [0] * nd
    if net.forest is not None:
        forest = net.forest
        fh = [int(v) for v in forest.features.halo(sp)]
        wide = mirror_pad(g, INPUT_NAME, [a + b for a, b in zip(h, fh)])
        feats = feature_graph(g, wide, forest.features, ndim=nd, n_channels=c, spacing=sp)
        nf = forest.features.n_features(ndim=nd, n_channels=c)
        rows = g.op("Reshape", [g.op("Transpose", [feats], perm=[0, *range(2, 2 + nd), 1]),
                                g.ints([-1, nf])])
        proba = forest_graph(g, str(rows), forest._model, class_ids=list(range(1, k + 1)))
        lead = g.op("Shape", [wide], start=0, end=1)
        spatial = g.op("Shape", [wide], start=2)
        grid = g.op("Reshape", [proba, g.op("Concat", [lead, spatial, g.ints([k])], axis=0)])
        grid = g.op("Transpose", [grid], perm=[0, 1 + nd, *range(1, 1 + nd)])
        parts.append(_crop(g, str(grid), fh))
    g.op("Concat", parts, axis=1, outputs=["net_input"])
    names = ["z", "y", "x"][3 - nd:]
    pre_graph = helper.make_graph(
        g.nodes, "brushlab_network_inputs",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", c, *names])],
        [helper.make_tensor_value_info("net_input", TensorProto.FLOAT, None)], g.initializers)
    pre = helper.make_model(pre_graph, opset_imports=[
        helper.make_opsetid("", ONNX_OPSET), helper.make_opsetid("ai.onnx.ml", ONNX_ML_OPSET)])
    unet = onnx.load_from_string(net.onnx)
    pre.ir_version = unet.ir_version = max(8, min(unet.ir_version, 9))
    unet.opset_import.append(helper.make_opsetid("ai.onnx.ml", ONNX_ML_OPSET))
    merged = compose.merge_models(pre, unet, io_map=[("net_input", NET_IN)], prefix2="unet_")
    # crop the network's halo: Slice(start h, end -h) on every spatial axis
    axes = list(range(2, 2 + nd))
    merged.graph.initializer.extend([
        helper.make_tensor("crop_starts", TensorProto.INT64, [nd], h),
        helper.make_tensor("crop_ends", TensorProto.INT64, [nd], [-v if v else 2**62 for v in h]),
        helper.make_tensor("crop_axes", TensorProto.INT64, [nd], axes)])
    merged.graph.node.append(helper.make_node(
        "Slice", [f"unet_{NET_OUT}", "crop_starts", "crop_ends", "crop_axes"], [OUTPUT_NAME]))
    del merged.graph.output[:]
    merged.graph.output.append(
        helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", k, *names]))
    onnx.checker.check_model(merged)
    return merged, [a + b for a, b in zip(h, fh)]


def export_network_bioimageio(
    net: Any,
    path: str | os.PathLike[str],
    *,
    sample_image: Any,
    name: str | None = None,
    description: str | None = None,
    authors: Sequence[str] = ("brushlab user",),
    license: str = "CC-BY-4.0",
    tags: Sequence[str] = (),
    overwrite: bool = False,
) -> Path:
    """Write ``net`` as a Model Zoo package (format 0.5, ONNX weights) whose test passes.

    Parameters
    ----------
    net : NetworkClassifier
        Trained.
    path : str or path-like
        A folder, or a ``.zip`` file.
    sample_image : image
        Like the training images: the test tensors (a centre crop) and the cover.
    name, description, authors, license, tags, overwrite
        As for :meth:`brushlab.PixelClassifier.export_bioimageio`.

    Returns
    -------
    pathlib.Path
        The written package.
    """
    import yaml
    from bioimageio.spec import InvalidDescr, load_description

    from brushlab._version import __version__
    from brushlab.bioimageio._export_package import _install, _parity, _write_cover
    from brushlab.bioimageio._model import load_model
    from brushlab.bioimageio._package import _spec_errors
    from brushlab.io import as_image, split_frames

    arch = net._require_trained()
    out = Path(path)
    if out.exists() and not overwrite:
        raise ClassifierError(f"{out} exists: pass overwrite=True or choose another path")
    img = as_image(sample_image)
    fr = split_frames(img, "cpu")
    net.check_compatible(fr.n_channels, fr.ndim)
    dims, sp = fr.spatial_dims, [float(s) for s in fr.spacing]
    model, halo = network_to_onnx(net, spacing=sp)
    m = arch.multiple
    size = [min(n // mm * mm, 128 if d != "z" else 16) for d, n, mm in
            zip(dims, fr.arrays[0].shape[1:], m)]
    if min(size) < 1:
        raise ClassifierError(f"the sample image {fr.arrays[0].shape[1:]} is smaller than the "
                              f"network's size step {m}: pass a larger sample_image")
    starts = [(n - s) // 2 for n, s in zip(fr.arrays[0].shape[1:], size)]
    crop = np.asarray(fr.arrays[0], np.float32)[(slice(None), *[slice(a, a + s) for a, s in
                                                                zip(starts, size)])]
    test_in = crop[None]
    crop_img = as_image(np.moveaxis(crop, 0, -1), dims=[*dims, "c"])
    crop_img.attrs["spacing"] = dict(zip(dims, sp))
    reference = net.predict(crop_img)
    test_out = reference.probabilities.values[None].astype(np.float32)
    parity = _parity(model, test_in, test_out)
    with tempfile.TemporaryDirectory(prefix="brushlab-export-") as tmp:
        root = Path(tmp) / "package"
        root.mkdir()
        (root / "model.onnx").write_bytes(model.SerializeToString())
        np.save(root / "test_input.npy", test_in)
        np.save(root / "test_output.npy", test_out)
        _write_cover(root / "cover.png", test_in[0], reference.segmentation.values, dims)
        title = name or "brushlab network"
        (root / "README.md").write_text(_readme(net, title, dims, halo, parity), encoding="utf-8")
        rdf = _rdf(net, title, description, authors, license, tags, dims, sp, halo, root,
                   __version__)
        (root / "bioimageio.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False),
                                              encoding="utf-8")
        descr = load_description(root / "bioimageio.yaml", perform_io_checks=True)
        if isinstance(descr, InvalidDescr):
            raise ClassifierError(f"bioimageio.spec rejects the exported description: "
                                  f"{_spec_errors(descr)} (a brushlab bug: please report it)")
        report = load_model(root).test()
        if not report.passed:
            raise ClassifierError(f"the exported package does not reproduce brushlab: {report}")
        _install(root, out, overwrite)
    return out


def _rdf(net: Any, name: str, description: str | None, authors: Sequence[str], license: str,
         tags: Sequence[str], dims: Sequence[str], spacing: Sequence[float],
         halo: Sequence[int], root: Path, version: str) -> dict[str, Any]:
    import datetime

    from brushlab.bioimageio._export_package import _ABS_TOL, FORMAT_VERSION, _sha256

    arch = net.arch
    names = [str(n) for n in net.class_names]
    steps = list(arch.multiple)
    inputs = [{"type": "space", "id": d, "scale": s,
               "size": {"min": st * -(-(2 * h + 1) // st), "step": st}}
              for d, s, h, st in zip(dims, spacing, halo, steps)]
    outputs = [{"type": "space", "id": d, "scale": s, "halo": h,
                "size": {"tensor_id": INPUT_NAME, "axis_id": d}}
               for d, s, h in zip(dims, spacing, halo)]
    chain = "brushlab filter features + random forest + U-Net" if net.forest else "U-Net"
    return {
        "format_version": FORMAT_VERSION, "type": "model", "name": name,
        "description": description or f"{chain} pixel classifier ({', '.join(names)}) trained "
                                      "from scribbles, exported by brushlab",
        "authors": [{"name": a} for a in authors],
        "cite": [{"text": "Ronneberger et al. (2015) U-Net",
                  "doi": "10.1007/978-3-319-24574-4_28"}],
        "license": license, "documentation": "README.md", "covers": ["cover.png"],
        "tags": sorted({"pixel-classification", "unet", "brushlab", f"{len(dims)}d", "onnx",
                        *(["random-forest"] if net.forest else []), *tags}),
        "inputs": [{"id": INPUT_NAME, "description": "raw intensities (normalised inside)",
                    "axes": [{"type": "batch"}, {"type": "channel", "channel_names":
                             [f"channel{i}" for i in range(int(net.n_channels))]}, *inputs],
                    "test_tensor": {"source": "test_input.npy",
                                    "sha256": _sha256(root / "test_input.npy")},
                    "data": {"type": "float32"}}],
        "outputs": [{"id": OUTPUT_NAME, "description": "class probabilities",
                     "axes": [{"type": "batch"}, {"type": "channel", "channel_names": names},
                              *outputs],
                     "test_tensor": {"source": "test_output.npy",
                                     "sha256": _sha256(root / "test_output.npy")},
                     "data": {"type": "float32", "range": [0.0, 1.0]}}],
        "weights": {"onnx": {"source": "model.onnx", "sha256": _sha256(root / "model.onnx"),
                             "opset_version": 17}},
        "timestamp": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": {"bioimageio": {"reproducibility_tolerance": [
            {"absolute_tolerance": _ABS_TOL, "relative_tolerance": 0.0,
             "mismatched_elements_per_million": 100}]},
            "brushlab": {"version": version, "kind": "network-classifier",
                         "class_names": names, "architecture": arch.to_dict(),
                         "forest_input": net.forest is not None, "halo": list(halo),
                         "spacing": list(spacing)}},
    }


def _readme(net: Any, name: str, dims: Sequence[str], halo: Sequence[int],
            parity: dict[str, float]) -> str:
    arch = net.arch
    forest = ("brushlab's filter features and random forest (ONNX-ML TreeEnsembleClassifier) "
              "give class probabilities that join the normalised image as network input; "
              if net.forest is not None else "")
    return "\n".join([
        f"# {name}", "",
        f"A {arch.depth}-level U-Net ({arch.base_channels} base channels) trained in brushlab "
        f"from sparse scribbles; {forest}one ONNX graph does the whole chain.", "",
        f"- Input `raw`: float32 `(batch, channel, {', '.join(dims)})`, raw intensities; spatial "
        f"sizes multiples of {dict(zip(dims, arch.multiple))}.",
        f"- Output `probabilities`: classes {', '.join(net.class_names)}.",
        f"- Borders are mirrored (numpy 'symmetric'); each output pixel depends on "
        f"{dict(zip(dims, halo))} pixels of context per side (the declared halo).", "",
        f"On the test input ({parity['pixels']} pixels) onnxruntime reproduces brushlab's "
        f"probabilities with max abs difference {parity['max_abs_diff']:.2g}.", "",
        "```python", "import brushlab", "model = brushlab.load_model('this_package')",
        "print(model.test())", "```", ""])
