"""Align serial sections: register an EM stack section to section, in memory or blockwise.

:func:`align` registers each section to its predecessors (translation, rigid, affine,
then optionally a smooth elastic field), chains the pairs to a reference section and
returns the aligned stack with its transforms; :func:`apply_alignment` applies them to
another channel or to labels; :func:`align_blockwise` does both for stacks of any
length on Dask, writing a resumable OME-Zarr.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from brushlab.align._align import AlignmentResult, align, apply_alignment
from brushlab.align._blockwise import AlignEstimate, AlignOutput, align_blockwise
from brushlab.align._transforms import SectionTransforms, load_transforms

__all__ = ["align", "apply_alignment", "align_blockwise", "AlignmentResult", "AlignEstimate",
           "AlignOutput", "SectionTransforms", "load_transforms"]


class _CallableModule(types.ModuleType):
    """``brushlab.align(stack)`` calls :func:`align`; ``brushlab.align.X`` is this package."""

    def __call__(self, *args: Any, **kwargs: Any) -> AlignmentResult:
        return align(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
