"""Running the exported network with onnxruntime alone: sessions, alignment, one window.

A U-Net's max pooling makes its output depend on where the pooling grid lies, so a
window is always cut to start on a global multiple of :attr:`Architecture.multiple`;
with the halo of :attr:`Architecture.halo` every tile then sees exactly the pixels
(and the grid) the whole image would, and tiled predictions equal untiled ones.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from brushlab.errors import ClassifierError, ModelFileError
from brushlab.network._geometry import Architecture

__all__ = ["onnx_session", "check_onnx", "run_window", "providers"]

INPUT, OUTPUT = "input", "probabilities"  # the names _unet.export_onnx gives
_SESSIONS: dict[tuple[str, str, int], Any] = {}
_LOCK = threading.Lock()


def providers(device: str) -> list[str]:
    """Onnxruntime execution providers for ``device`` ("auto", "cpu" or "cuda")."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise ClassifierError(
            "device='cuda' but this onnxruntime has no CUDA provider; install onnxruntime-gpu "
            "or use device='auto'"
        )
    return ["CPUExecutionProvider"]


def check_onnx(data: bytes, arch: Architecture) -> None:
    """Reject ONNX bytes that are not a graph of the expected inputs and outputs."""
    import onnx

    try:
        model = onnx.load_from_string(bytes(data))
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises several unrelated types on bad bytes
        raise ModelFileError(f"the network's ONNX graph is invalid ({exc}); re-save it") from exc
    inputs = [(i.name, len(i.type.tensor_type.shape.dim)) for i in model.graph.input]
    outputs = [(o.name, len(o.type.tensor_type.shape.dim)) for o in model.graph.output]
    rank = arch.ndim + 2
    if inputs != [(INPUT, rank)] or outputs != [(OUTPUT, rank)]:
        raise ModelFileError(
            f"the network's ONNX graph has inputs {inputs} and outputs {outputs}, expected "
            f"[{(INPUT, rank)}] and [{(OUTPUT, rank)}]; re-save it"
        )
    dim = model.graph.input[0].type.tensor_type.shape.dim[1]
    if dim.HasField("dim_value") and dim.dim_value != arch.in_channels:
        raise ModelFileError(
            f"the network's ONNX graph takes {dim.dim_value} channels but its metadata says "
            f"{arch.in_channels}; re-save it"
        )


def onnx_session(data: bytes, device: str = "auto", threads: int = 0) -> Any:
    """Return a cached onnxruntime session for ``data`` (they do not pickle: one per process)."""
    import onnxruntime as ort

    key = (hashlib.sha256(data).hexdigest(), device, int(threads))
    with _LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            options = ort.SessionOptions()
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            # Do not spin waiting for work: on shared, busy cores spinning threads slow all.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(data, options, providers=providers(device))
            _SESSIONS[key] = session
    return session


def run_window(
    session: Any,
    arch: Architecture,
    window: np.ndarray,
    window_origin: Sequence[int],
    tile_start: Sequence[int],
    tile_shape: Sequence[int],
) -> np.ndarray:
    """Probabilities ``(K, *tile_shape)`` from a network input window.

    Parameters
    ----------
    session : onnxruntime.InferenceSession
        The network.
    window : numpy.ndarray
        ``(C, *spatial)`` float32 network input around the tile, at least
        ``arch.halo`` wide on each side of it.
    window_origin, tile_start : sequence of int
        Global index of the window's first pixel and of the tile's first pixel.
    tile_shape : sequence of int
        Size of the tile.
    """
    cut, pad, crop = [], [(0, 0)], []
    for g0, a, n, size, r, m in zip(
        window_origin, tile_start, tile_shape, window.shape[1:], arch.radius, arch.multiple
    ):
        start = -(-g0 // m) * m  # first global multiple of m inside the window
        if start > a - r or a + n + r > g0 + size:
            raise ClassifierError(
                f"the window around a tile is too small for the network's receptive field "
                f"(radius {r} + alignment {m}); pass a halo of at least {arch.halo}"
            )
        lo, hi = start - g0, size
        length = hi - lo
        cut.append(slice(lo, hi))
        pad.append((0, -length % m))
        crop.append(slice(a - start, a - start + n))
    x = np.pad(window[(slice(None), *cut)], pad)[None].astype(np.float32, copy=False)
    out = session.run([OUTPUT], {INPUT: np.ascontiguousarray(x)})[0][0]
    return np.ascontiguousarray(out[(slice(None), *crop)], dtype=np.float32)
