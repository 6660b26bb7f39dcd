"""Files <-> images: read any supported file or array as an ``xarray.DataArray``, write it back.

Images have named dims from ``t, z, y, x, c``; physical pixel sizes live in the ``y``/``x``
(``z``) coordinates. :func:`imread` reads a file whole; :func:`write_image` writes one
atomically.

Examples
--------
>>> import numpy as np
>>> from brushlab.io import as_image
>>> as_image(np.zeros((4, 5, 3), np.uint8)).dims
('y', 'x', 'c')
"""

from __future__ import annotations

from brushlab.io._bioio import open_bioio, scene_names
from brushlab.io._image import DIMS, as_image, imread, spacing_of
from brushlab.io._writers import write_image

__all__ = [
    "DIMS",
    "as_image",
    "imread",
    "open_bioio",
    "scene_names",
    "spacing_of",
    "write_image",
]
