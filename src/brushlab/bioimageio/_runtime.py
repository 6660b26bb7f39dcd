"""onnxruntime sessions: created once per process and weights, reused by every call.

Sessions do not pickle, so a model object only holds the weights' bytes and looks
its session up here (lazily, per process); a model sent to a Dask worker builds
its own there on first use. The CUDA execution provider is used when onnxruntime
offers it (the ``onnxruntime-gpu`` wheel), the CPU otherwise.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from brushlab.errors import ModelPackageError

__all__ = ["get_session", "providers_for", "OnnxRunner", "clear_sessions"]

_SESSIONS: OrderedDict[tuple[str, tuple[str, ...], int | None], Any] = OrderedDict()
MAX_SESSIONS = 8  # least recently used sessions beyond this are dropped (they hold the weights)
_LOCK = threading.Lock()
_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(uint16)": np.uint16,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(uint32)": np.uint32,
    "tensor(int64)": np.int64,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
}


def providers_for(device: str = "auto") -> list[str]:
    """Return the execution providers for ``device`` ("auto", "cpu" or "gpu").

    Examples
    --------
    >>> providers_for("cpu")
    ['CPUExecutionProvider']
    """
    import onnxruntime as ort

    if device not in ("auto", "cpu", "gpu"):
        raise ModelPackageError(f"device must be 'auto', 'cpu' or 'gpu', not {device!r}")
    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "gpu":
        raise ModelPackageError(
            "device='gpu' needs onnxruntime's CUDA execution provider, which this onnxruntime "
            f"lacks (available: {', '.join(available)}): install onnxruntime-gpu or use "
            "device='cpu'"
        )
    return ["CPUExecutionProvider"]


def get_session(
    weights: bytes | str,
    *,
    device: str = "auto",
    threads: int | None = None,
    key: str | None = None,
) -> Any:
    """Return the cached onnxruntime session for these weights (bytes or a file path)."""
    import onnxruntime as ort

    providers = tuple(providers_for(device))
    if key is None:
        key = hashlib.sha256(weights).hexdigest() if isinstance(weights, bytes) else str(weights)
    cache_key = (key, providers, threads)
    with _LOCK:
        session = _SESSIONS.get(cache_key)
        if session is not None:
            _SESSIONS.move_to_end(cache_key)
        else:
            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads = int(threads)
            options.log_severity_level = 3
            try:
                session = ort.InferenceSession(
                    weights, sess_options=options, providers=list(providers)
                )
            except Exception as exc:  # onnxruntime raises its own exception types
                raise ModelPackageError(
                    "onnxruntime cannot load these ONNX weights "
                    f"({' '.join(str(exc).split())[:400]}): "
                    "the file may be damaged or need a newer onnxruntime"
                ) from exc
            _SESSIONS[cache_key] = session
            while len(_SESSIONS) > MAX_SESSIONS:
                _SESSIONS.popitem(last=False)
    return session


def clear_sessions() -> None:
    """Forget every cached session (frees their memory)."""
    with _LOCK:
        _SESSIONS.clear()


class OnnxRunner:
    """Run a session on tensors named by the description's ids.

    ONNX names are used when they equal the description's ids; otherwise inputs
    and outputs are matched by position (many exported models call them
    ``input.1``/``output_0``), which needs equal counts.
    """

    def __init__(self, session: Any, input_ids: Sequence[str], output_ids: Sequence[str]) -> None:
        self.session = session
        ins = [i.name for i in session.get_inputs()]
        outs = [o.name for o in session.get_outputs()]
        self.input_names = _match(input_ids, ins, "inputs")
        self.output_names = _match(output_ids, outs, "outputs")
        self.input_types = {
            i.name: _ORT_TYPES.get(i.type, np.float32) for i in session.get_inputs()
        }
        self.output_ids = list(output_ids)

    def run(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once; ``arrays`` maps input ids to arrays in the description's axis order."""
        feed: dict[str, np.ndarray] = {}
        for tid, name in self.input_names.items():
            feed[name] = np.ascontiguousarray(arrays[tid], dtype=self.input_types[name])
        wanted = [self.output_names[o] for o in self.output_ids]
        results = self.session.run(wanted, feed)
        return dict(zip(self.output_ids, results))


def _match(ids: Sequence[str], names: Sequence[str], what: str) -> dict[str, str]:
    if set(ids) <= set(names):
        return {i: i for i in ids}
    if len(ids) != len(names):
        raise ModelPackageError(
            f"the description lists {len(ids)} {what} ({', '.join(ids)}) but the ONNX file has "
            f"{len(names)} ({', '.join(names)}): the package does not match its weights"
        )
    return dict(zip(ids, names))
