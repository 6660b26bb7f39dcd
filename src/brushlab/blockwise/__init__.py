"""Blockwise prediction with Dask: volumes larger than memory, chunk by chunk, into OME-Zarr."""

from __future__ import annotations

from brushlab.blockwise._run import (
    BlockwiseEstimate,
    BlockwiseResult,
    output_status,
    predict_blockwise,
)

__all__ = ["BlockwiseEstimate", "BlockwiseResult", "output_status", "predict_blockwise"]
