"""The shape of a U-Net without torch: pooling per level, receptive field, halo, alignment.

Inference (onnxruntime) and tiling need these numbers; training builds the torch
module from the same :class:`Architecture`, so both agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from brushlab.errors import ClassifierError, ModelFileError

__all__ = ["Architecture", "plan_architecture"]

# A z step coarser than this many x/y steps is not pooled (nnU-Net's rule of thumb).
ANISOTROPY = 2.0


@dataclass(frozen=True)
class Architecture:
    """A U-Net: ``depth`` levels, two 3x3(x3) convolutions + batch norm + ReLU per level.

    Parameters
    ----------
    ndim : int
        Spatial dims (2 or 3).
    in_channels, n_classes : int
        Input channels (image channels plus forest probabilities) and output classes.
    depth : int
        Levels, the finest included (``depth - 1`` poolings).
    base_channels : int
        Feature maps at the finest level; doubled per level.
    pools : tuple of tuple of int
        Pooling factor per axis after each level but the last (1 = not pooled:
        the z axis of anisotropic stacks).
    """

    ndim: int
    in_channels: int
    n_classes: int
    depth: int = 4
    base_channels: int = 16
    pools: tuple[tuple[int, ...], ...] = ()

    @property
    def multiple(self) -> tuple[int, ...]:
        """Input sizes (and origins, for exact tiling) must be multiples of this per axis."""
        out = [1] * self.ndim
        for pool in self.pools:
            out = [a * b for a, b in zip(out, pool)]
        return tuple(out)

    @property
    def radius(self) -> tuple[int, ...]:
        """Distance per axis beyond which input pixels cannot change an output pixel.

        Every level adds its two convolutions on the way down and up, and each
        pooling/upsampling pair adds its window; the bottleneck adds two convolutions.
        """
        out = []
        for axis in range(self.ndim):
            stride, r = 1, 0
            for pool in self.pools:
                f = pool[axis]
                r += 4 * stride + 2 * (f - 1) * stride
                stride *= f
            r += 2 * stride
            out.append(r)
        return tuple(out)

    @property
    def halo(self) -> tuple[int, ...]:
        """Margin a tile needs: the receptive field plus room to align the pooling grid."""
        return tuple(r + m - 1 for r, m in zip(self.radius, self.multiple))

    def to_dict(self) -> dict[str, Any]:
        """JSON form (for the model file)."""
        return {
            "ndim": self.ndim,
            "in_channels": self.in_channels,
            "n_classes": self.n_classes,
            "depth": self.depth,
            "base_channels": self.base_channels,
            "pools": [list(p) for p in self.pools],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Architecture:
        """Validate and rebuild from :meth:`to_dict`'s output."""
        try:
            arch = cls(
                ndim=int(data["ndim"]),
                in_channels=int(data["in_channels"]),
                n_classes=int(data["n_classes"]),
                depth=int(data["depth"]),
                base_channels=int(data["base_channels"]),
                pools=tuple(tuple(int(f) for f in p) for p in data["pools"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(
                f"the network's architecture is incomplete ({exc}); re-save it") from exc
        ok = (
            arch.ndim in (2, 3)
            and arch.in_channels >= 1
            and arch.n_classes >= 2
            and 1 <= arch.depth <= 8
            and 1 <= arch.base_channels <= 512
            and len(arch.pools) == arch.depth - 1
            and all(len(p) == arch.ndim and all(f in (1, 2) for f in p) for p in arch.pools)
        )
        if not ok:
            raise ModelFileError(f"the network's architecture {dict(data)} is not a valid U-Net")
        return arch


def plan_architecture(
    *,
    ndim: int,
    in_channels: int,
    n_classes: int,
    depth: int,
    base_channels: int,
    spacing: Sequence[float],
) -> Architecture:
    """Choose the pooling per level: an axis is pooled unless it is already coarser.

    Examples
    --------
    >>> plan_architecture(ndim=3, in_channels=1, n_classes=2, depth=3, base_channels=8,
    ...                   spacing=(5.0, 1.0, 1.0)).pools
    ((1, 2, 2), (1, 2, 2))
    >>> plan_architecture(ndim=2, in_channels=1, n_classes=2, depth=4, base_channels=16,
    ...                   spacing=(1.0, 1.0)).halo
    (65, 65)
    """
    if ndim not in (2, 3):
        raise ClassifierError(f"networks take 2D or 3D images, not {ndim}D")
    if not 1 <= int(depth) <= 8:
        raise ClassifierError(f"depth must be 1 to 8 levels, got {depth}")
    if not 1 <= int(base_channels) <= 512:
        raise ClassifierError(f"base_channels must be 1 to 512, got {base_channels}")
    step = [float(s) if s and math.isfinite(float(s)) and s > 0 else 1.0 for s in spacing]
    pools = []
    for _ in range(int(depth) - 1):
        finest = min(step)
        pool = tuple(2 if s < ANISOTROPY * finest else 1 for s in step)
        pools.append(pool)
        step = [s * f for s, f in zip(step, pool)]
    return Architecture(
        ndim=ndim,
        in_channels=int(in_channels),
        n_classes=int(n_classes),
        depth=int(depth),
        base_channels=int(base_channels),
        pools=tuple(pools),
    )
