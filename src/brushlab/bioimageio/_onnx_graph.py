"""A small helper to write ONNX graphs node by node with unique tensor names."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["GraphBuilder"]


class GraphBuilder:
    """Collect nodes and initializers of an ONNX graph.

    Every call returns the name(s) of the tensor(s) it creates, so graphs read
    like array code: ``y = g.op("Add", [a, b])``.

    Examples
    --------
    >>> g = GraphBuilder()
    >>> two = g.const(np.float32(2.0), "two")
    >>> y = g.op("Mul", ["x", two])
    >>> y.startswith("Mul")
    True
    """

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0
        self._consts: dict[tuple[str, bytes, tuple[int, ...]], str] = {}

    def fresh(self, base: str) -> str:
        """Return a new unique tensor name starting with ``base``."""
        self._count += 1
        return f"{base}_{self._count}"

    def const(self, value: Any, base: str = "const") -> str:
        """Add ``value`` (numpy array or scalar) as an initializer; equal constants are shared."""
        from onnx import numpy_helper

        arr = np.asarray(value)
        key = (arr.dtype.str, arr.tobytes(), arr.shape)
        if key in self._consts:
            return self._consts[key]
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(arr, name))
        self._consts[key] = name
        return name

    def ints(self, values: Any) -> str:
        """Return a constant int64 vector."""
        return self.const(np.asarray(values, dtype=np.int64).reshape(-1), "i64")

    def scalar(self, value: float, dtype: Any = np.float32) -> str:
        """Return a constant scalar of ``dtype``."""
        return self.const(np.asarray(value, dtype=dtype), "scalar")

    def op(
        self,
        op_type: str,
        inputs: list[str],
        *,
        n_out: int = 1,
        outputs: list[str] | None = None,
        domain: str | None = None,
        **attrs: Any,
    ) -> Any:
        """Append a node; return its output name (or list of names when ``n_out > 1``)."""
        from onnx import helper

        outs = outputs if outputs is not None else [self.fresh(op_type) for _ in range(n_out)]
        kwargs: dict[str, Any] = dict(attrs)
        if domain:
            kwargs["domain"] = domain
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self.fresh("n"), **kwargs))
        return outs[0] if len(outs) == 1 and n_out == 1 else outs
