"""Tensors of a model description as plain data, and how brushlab image dims map onto them.

The ``bioimageio.spec`` objects (format 0.5; 0.4 descriptions are converted by the
spec) are reduced to :class:`TensorInfo`/:class:`AxisInfo`, which the tiler, the
runtime and :func:`brushlab.bioimageio.discover` use without touching pydantic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from brushlab.errors import ModelPackageError

__all__ = ["AxisInfo", "TensorInfo", "tensor_info", "SPATIAL"]

SPATIAL = ("z", "y", "x")


@dataclass(frozen=True)
class AxisInfo:
    """One axis of a model tensor.

    ``size`` is a fixed size; ``min``/``step`` a parameterized one (``min + n * step``);
    ``ref``/``offset`` a size given by another tensor's axis (``(tensor_id, axis_id)``).
    """

    id: str
    type: str
    size: int | None = None
    min: int | None = None
    step: int | None = None
    ref: tuple[str, str] | None = None
    offset: int = 0
    halo: int = 0
    scale: float = 1.0
    channel_names: tuple[str, ...] = ()

    def describe(self) -> str:
        """Short text such as ``y[64+16n]``, ``channel[3]`` or ``x[=raw.x]``."""
        if self.type == "batch":
            return "batch"
        if self.type == "channel":
            return f"channel[{len(self.channel_names)}]"
        if self.size is not None:
            return f"{self.id}[{self.size}]"
        if self.min is not None:
            return f"{self.id}[{self.min}+{self.step}n]"
        if self.ref is not None:
            off = f"{self.offset:+d}" if self.offset else ""
            return f"{self.id}[={self.ref[0]}.{self.ref[1]}{off}]"
        return self.id


@dataclass(frozen=True)
class TensorInfo:
    """One input or output tensor of a model."""

    id: str
    axes: tuple[AxisInfo, ...]
    dtype: str
    description: str = ""
    processing: tuple[Any, ...] = ()
    test_tensor: Any = None
    data_range: tuple[float | None, float | None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def axis_ids(self) -> list[str]:
        """Axis ids in the tensor's order."""
        return [a.id for a in self.axes]

    def axis(self, axis_id: str) -> AxisInfo | None:
        """Return the axis with this id, or None."""
        return next((a for a in self.axes if a.id == axis_id), None)

    @property
    def channel_axis(self) -> AxisInfo | None:
        """The channel axis, if any."""
        return next((a for a in self.axes if a.type == "channel"), None)

    @property
    def space_axes(self) -> list[AxisInfo]:
        """Spatial axes in the tensor's order."""
        return [a for a in self.axes if a.type == "space"]

    def describe(self) -> str:
        """Short text such as ``raw: batch,channel[1],y[64+16n],x[64+16n] float32``."""
        return f"{self.id}: {','.join(a.describe() for a in self.axes)} {self.dtype}"


def _axis(ax: Any) -> AxisInfo:
    kind = str(ax.type)
    kwargs: dict[str, Any] = {"id": str(ax.id), "type": kind}
    if kind == "channel":
        kwargs["channel_names"] = tuple(str(n) for n in ax.channel_names)
        kwargs["size"] = len(ax.channel_names)
        return AxisInfo(**kwargs)
    if kind == "batch":
        kwargs["size"] = ax.size
        return AxisInfo(**kwargs)
    size = ax.size
    if isinstance(size, int):
        kwargs["size"] = int(size)
    elif hasattr(size, "step"):
        kwargs["min"], kwargs["step"] = int(size.min), int(size.step)
    elif hasattr(size, "tensor_id"):
        kwargs["ref"] = (str(size.tensor_id), str(size.axis_id))
        kwargs["offset"] = int(size.offset)
    elif hasattr(size, "max"):  # data-dependent output size
        kwargs["min"], kwargs["step"] = int(size.min), 0
    kwargs["halo"] = int(getattr(ax, "halo", 0) or 0)
    kwargs["scale"] = float(getattr(ax, "scale", 1.0) or 1.0)
    return AxisInfo(**kwargs)


def tensor_info(t: Any, *, is_input: bool) -> TensorInfo:
    """Convert a format-0.5 ``InputTensorDescr``/``OutputTensorDescr`` to :class:`TensorInfo`."""
    data = t.data
    if isinstance(data, (list, tuple)):
        data = data[0]
    dtype = str(getattr(data, "type", "float32"))
    rng = getattr(data, "range", None)
    procs = tuple(t.preprocessing if is_input else t.postprocessing)
    return TensorInfo(
        id=str(t.id),
        axes=tuple(_axis(a) for a in t.axes),
        dtype=dtype,
        description=str(getattr(t, "description", "") or ""),
        processing=procs,
        test_tensor=getattr(t, "test_tensor", None),
        data_range=tuple(rng) if rng is not None else None,  # type: ignore[arg-type]
    )


def check_supported(inputs: list[TensorInfo], outputs: list[TensorInfo], where: str) -> None:
    """Raise ModelPackageError for tensors brushlab cannot tile and stitch."""
    for t in inputs:
        for a in t.axes:
            if a.type in ("time", "index"):
                raise ModelPackageError(
                    f"{where}: input {t.id!r} has a {a.type} axis {a.id!r}; brushlab runs models "
                    "whose inputs have batch, channel and z/y/x axes only"
                )
            if a.type == "space" and a.id not in SPATIAL:
                raise ModelPackageError(
                    f"{where}: input {t.id!r} has a space axis {a.id!r}; brushlab maps space axes "
                    "named z, y and x onto image dims"
                )
    in_ids = {t.id for t in inputs}
    for t in outputs:
        for a in t.space_axes:
            if a.ref is not None and a.ref[0] in in_ids:
                ref_tensor = next(i for i in inputs if i.id == a.ref[0])
                ref_axis = ref_tensor.axis(a.ref[1])
                if ref_axis is None or ref_axis.scale != a.scale:
                    raise ModelPackageError(
                        f"{where}: output {t.id!r} axis {a.id!r} is at another scale than its "
                        "input axis; brushlab stitches outputs at the input's resolution only"
                    )
