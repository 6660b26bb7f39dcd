"""Files <-> images: read any supported file or array as an ``xarray.DataArray``, write it back.

Images have named dims from ``t, z, y, x, c``; physical pixel sizes live in
``attrs["spacing"]`` and ``attrs["unit"]``. :func:`open_image` opens a file lazily
(dask-backed: metadata now, pixels region by region), :func:`imread` is open + read
whole (after checking the declared size against a memory budget), :func:`write_image`
writes atomically (``.zarr``: single-scale OME-Zarr 0.5).

Examples
--------
>>> import numpy as np
>>> from brushlab.io import as_image
>>> as_image(np.zeros((4, 5, 3), np.uint8)).dims
('y', 'x', 'c')
"""

from __future__ import annotations

from brushlab.io._bioio import open_bioio, scene_names
from brushlab.io._dims import DIMS, METERS, Frames, spacing_of, split_frames, unit_name
from brushlab.io._formats import split_h5
from brushlab.io._image import as_image, imread
from brushlab.io._lazy import Source, StoreReader, open_image, open_source
from brushlab.io._validation import check_image, check_labels
from brushlab.io._writers import write_image

__all__ = [
    "DIMS",
    "METERS",
    "Frames",
    "Source",
    "StoreReader",
    "as_image",
    "check_image",
    "check_labels",
    "imread",
    "open_bioio",
    "open_image",
    "open_source",
    "scene_names",
    "spacing_of",
    "split_frames",
    "split_h5",
    "unit_name",
    "write_image",
]
