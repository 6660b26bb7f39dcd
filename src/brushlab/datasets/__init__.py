"""Public data sets for the notebooks and the course, fetched once and checked by hash.

- :func:`isbi2012`: ISBI 2012 serial-section TEM (membranes vs cell interior), 3D.
- :func:`bbbc039`: BBBC039 U2OS nuclei (Hoechst), 12-bit, with instance labels.
- :func:`cell`, :func:`coins`, :func:`immunohistochemistry`: bundled with scikit-image.
- :func:`simulate_scribbles` (from a ground truth) and :func:`demo_scribbles` (on a sample
  image): the short strokes a user paints, for headless notebooks and accuracy checks.

The cache folder is :func:`data_dir`: ``$BRUSHLAB_DATA``, else pooch's user cache. A
fetcher first reads ``isbi2012/{image,label}_XX.png`` (XX = 00..19) or
``bbbc039/image_KK.tif`` and ``mask_KK.png`` (KK in :data:`BBBC039_INDICES`) from it,
each checked against its sha256 in :data:`REGISTRY`, without any network access. Else
it downloads the official files there with pooch: ISBI 2012's ``train-volume.tif`` and
``train-labels.tif`` from http://brainiac2.mit.edu/isbi_challenge/ (md5 sums of
torchvision-style loaders; the registry's ``isbi2012`` hashes cover the PNG copy in
GitHub ``zhixuhao/unet`` at ``b45af4d4``, not the TIFFs), or BBBC039's ``images.zip``
and ``masks.zip`` from https://bbbc.broadinstitute.org/BBBC039/ (a sha256 per archive),
whose members are extracted under the short names and checked against the registry
(those hashes cover the original, unchanged files). ISBI slices 20-29 and the other
images of brushlab's BBBC039 subset are left out: brushlab evaluates itself on them.

Examples
--------
>>> from brushlab import datasets
>>> datasets.coins().shape
(303, 384)
>>> image, truth = datasets.isbi2012(slices=[0, 1])  # doctest: +SKIP
>>> image.shape, truth.shape  # doctest: +SKIP
((2, 512, 512), (2, 512, 512))
"""

from __future__ import annotations

from brushlab.datasets._fetch import (
    BBBC039_INDICES,
    REGISTRY,
    DatasetError,
    bbbc039,
    cell,
    coins,
    data_dir,
    immunohistochemistry,
    isbi2012,
)
from brushlab.datasets._scribbles import demo_scribbles, simulate_scribbles

__all__ = [
    "BBBC039_INDICES",
    "REGISTRY",
    "DatasetError",
    "bbbc039",
    "cell",
    "coins",
    "data_dir",
    "demo_scribbles",
    "immunohistochemistry",
    "isbi2012",
    "simulate_scribbles",
]
