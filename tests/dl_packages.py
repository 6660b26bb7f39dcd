"""Tiny ONNX models and Model Zoo packages (formats 0.4 and 0.5) built by the dl tests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper


def _model(nodes: list[Any], inits: list[Any], x: str, y: str, c_in: Any, c_out: Any, nd: int = 2):
    sp = ["z", "y", "x"][3 - nd :]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["b", c_in, *sp])],
        [helper.make_tensor_value_info(y, TensorProto.FLOAT, ["b", c_out, *sp])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def affine_model(
    gain: float = 2.0, offset: float = 1.0, *, x: str = "raw", y: str = "out", channels: int = 1
):
    """y = gain * x + offset, pointwise."""
    inits = [
        numpy_helper.from_array(np.float32(gain), "gain"),
        numpy_helper.from_array(np.float32(offset), "offset"),
    ]
    nodes = [
        helper.make_node("Mul", [x, "gain"], ["m"]),
        helper.make_node("Add", ["m", "offset"], [y]),
    ]
    return _model(nodes, inits, x, y, channels, channels)


def blur_model(*, pads: int, x: str = "raw", y: str = "out"):
    """3x3 box mean: ``pads=1`` keeps the size (zero padding), ``pads=0`` crops a pixel a side."""
    w = np.full((1, 1, 3, 3), 1.0 / 9.0, np.float32)
    nodes = [helper.make_node("Conv", [x, "w"], [y], pads=[pads] * 4)]
    return _model(nodes, [numpy_helper.from_array(w, "w")], x, y, 1, 1)


def logits_model(weights: Sequence[float], *, x: str = "raw", y: str = "logits"):
    """1x1 convolution from one channel to len(weights) channels (class logits)."""
    w = np.asarray(weights, np.float32).reshape(-1, 1, 1, 1)
    b = -np.asarray(weights, np.float32) * 0.5
    nodes = [helper.make_node("Conv", [x, "w", "b"], [y])]
    return _model(
        nodes, [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")], x, y, 1, len(w)
    )


def box_mean_np(x: np.ndarray) -> np.ndarray:
    """Reference 3x3 mean of a 2D array, symmetric borders (what tiling with mirroring gives)."""
    p = np.pad(x, 1, mode="symmetric")
    return sum(p[i : i + x.shape[0], j : j + x.shape[1]] for i in range(3) for j in range(3)) / 9.0


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def space(axes: str, size: Any) -> list[dict[str, Any]]:
    """0.5 space axes ``axes`` (e.g. "yx") all with ``size`` (int or {"min", "step"})."""
    return [{"type": "space", "id": a, "size": size} for a in axes]


def ref_space(axes: str, tensor: str, *, halo: int = 0, offset: int = 0) -> list[dict[str, Any]]:
    out = []
    for a in axes:
        ax: dict[str, Any] = {
            "type": "space",
            "id": a,
            "size": {"tensor_id": tensor, "axis_id": a, "offset": offset},
        }
        if halo:
            ax["halo"] = halo
        out.append(ax)
    return out


def write_package_05(
    folder: Path,
    model: Any,
    *,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    test_inputs: Sequence[np.ndarray],
    test_outputs: Sequence[np.ndarray],
    weights_sha: bool = True,
    yaml_name: str = "rdf.yaml",
    config: dict[str, Any] | None = None,
) -> Path:
    """Write a format-0.5 package: ``inputs``/``outputs`` are tensor dicts without test_tensor."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "model.onnx")
    (folder / "README.md").write_text("# test model\n")
    for i, (t, arr) in enumerate(zip(inputs, test_inputs)):
        np.save(folder / f"in{i}.npy", arr)
        t["test_tensor"] = {"source": f"in{i}.npy", "sha256": sha(folder / f"in{i}.npy")}
        t.setdefault("data", {"type": "float32"})
    for i, (t, arr) in enumerate(zip(outputs, test_outputs)):
        np.save(folder / f"out{i}.npy", arr)
        t["test_tensor"] = {"source": f"out{i}.npy", "sha256": sha(folder / f"out{i}.npy")}
        t.setdefault("data", {"type": "float32"})
    weights: dict[str, Any] = {"source": "model.onnx", "opset_version": 17}
    if weights_sha:
        weights["sha256"] = sha(folder / "model.onnx")
    rdf = {
        "format_version": "0.5.4",
        "type": "model",
        "name": f"test {folder.name}",
        "description": "a model the brushlab tests build",
        "authors": [{"name": "brushlab tests"}],
        "cite": [{"text": "brushlab", "url": "https://example.com/brushlab"}],
        "license": "MIT",
        "documentation": "README.md",
        "inputs": inputs,
        "outputs": outputs,
        "weights": {"onnx": weights},
        "timestamp": "2024-01-01T00:00:00",
    }
    if config:
        rdf["config"] = config
    (folder / yaml_name).write_text(yaml.safe_dump(rdf, sort_keys=False))
    return folder


def write_package_04(
    folder: Path,
    model: Any,
    *,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    test_inputs: Sequence[np.ndarray],
    test_outputs: Sequence[np.ndarray],
) -> Path:
    """Write a format-0.4 package (``name``/``axes`` strings/``shape`` per tensor)."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "model.onnx")
    (folder / "README.md").write_text("# test model 0.4\n")
    names_in, names_out = [], []
    for i, arr in enumerate(test_inputs):
        np.save(folder / f"in{i}.npy", arr)
        names_in.append(f"in{i}.npy")
    for i, arr in enumerate(test_outputs):
        np.save(folder / f"out{i}.npy", arr)
        names_out.append(f"out{i}.npy")
    for t in inputs + outputs:
        t.setdefault("data_type", "float32")
        t.setdefault("data_range", [-1e30, 1e30])
    rdf = {
        "format_version": "0.4.10",
        "type": "model",
        "name": f"test {folder.name}",
        "description": "a 0.4 model the brushlab tests build",
        "authors": [{"name": "brushlab tests"}],
        "cite": [{"text": "brushlab", "url": "https://example.com/brushlab"}],
        "license": "MIT",
        "documentation": "README.md",
        "test_inputs": names_in,
        "test_outputs": names_out,
        "timestamp": "2024-01-01T00:00:00",
        "inputs": inputs,
        "outputs": outputs,
        "weights": {
            "onnx": {
                "source": "model.onnx",
                "sha256": sha(folder / "model.onnx"),
                "opset_version": 17,
            }
        },
    }
    (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False))
    return folder


def simple_package(
    folder: Path,
    *,
    model: Any = None,
    preprocessing: list[dict[str, Any]] | None = None,
    postprocessing: list[dict[str, Any]] | None = None,
    reference: Callable[[np.ndarray], np.ndarray] | None = None,
    size: Any = None,
    halo: int = 0,
    offset: int = 0,
    shape: tuple[int, int] = (32, 40),
    out_channels: Sequence[str] = ("out",),
    in_channels: Sequence[str] = ("c0",),
    input_id: str = "raw",
    output_id: str = "out",
    seed: int = 0,
) -> Path:
    """A one-input, one-output 2D package whose test output comes from ``reference``."""
    model = model if model is not None else affine_model()
    rng = np.random.default_rng(seed)
    x = (rng.random((1, len(in_channels), *shape)) * 100).astype(np.float32)
    ref = reference if reference is not None else (lambda a: a * 2 + 1)
    y = ref(x).astype(np.float32)
    inp = {
        "id": input_id,
        "axes": [
            {"type": "batch"},
            {"type": "channel", "channel_names": list(in_channels)},
            *space("yx", size or {"min": 8, "step": 8}),
        ],
    }
    if preprocessing:
        inp["preprocessing"] = preprocessing
    out = {
        "id": output_id,
        "axes": [
            {"type": "batch"},
            {"type": "channel", "channel_names": list(out_channels)},
            *ref_space("yx", input_id, halo=halo, offset=offset),
        ],
    }
    if postprocessing:
        out["postprocessing"] = postprocessing
    return write_package_05(
        folder, model, inputs=[inp], outputs=[out], test_inputs=[x], test_outputs=[y]
    )
