"""Projects written by ilastik itself import and retrain (issue 13: an independent judge).

The ``.ilp`` files and their raw data come from ilastik's own test data (ilastik's
repository, ``tests/data/PixelClassification{2d,2d3c,3d,3d2c,5t2d1c,5t3d2c}.ilp`` with
``tests/data/inputdata/*.h5``; GPL-licensed test data of the ilastik developers). They are
not committed here (the workplace keeps fetched files out of the repository): the tests read
them from ``$BRUSHLAB_ILASTIK_DATA``, else from ``ilastik/`` in the real-data folder (a folder
holding the ``.ilp`` files and ``inputdata/``), and skip with a reason when neither exists.
Every other ilastik test builds its ``.ilp`` in the test, so these are the ones ilastik
wrote.

What is checked, per file: the axes ilastik stored become brushlab dims, the label names
and the labelled pixel counts come over (counted in the file with h5py, independently of
the importer), the feature selection maps to a FeatureSet, and the session retrains and
predicts every class.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

import brushlab

from .realdata import data_root

FILES = {  # file: (brushlab dims of the image, channels)
    "PixelClassification2d.ilp": (("y", "x"), 1),
    "PixelClassification2d3c.ilp": (("y", "x", "c"), 3),
    "PixelClassification3d.ilp": (("z", "y", "x"), 1),
    "PixelClassification3d2c.ilp": (("z", "y", "x", "c"), 2),
    "PixelClassification5t2d1c.ilp": (("t", "y", "x"), 1),
    "PixelClassification5t3d2c.ilp": (("t", "z", "y", "x", "c"), 2),
}


def _folder() -> Path:
    env = os.environ.get("BRUSHLAB_ILASTIK_DATA")
    folder = Path(env) if env else data_root() / "ilastik"
    if not (folder / "PixelClassification2d.ilp").is_file():
        pytest.skip(f"no ilastik-written projects in {folder}: set BRUSHLAB_ILASTIK_DATA")
    return folder


def _label_counts_in_file(path: Path) -> dict[str, int]:
    """Labelled pixels per label name, read straight from the file with h5py."""
    with h5py.File(path, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else str(n)
                 for n in f["PixelClassification/LabelNames"][()]]
        counts = np.zeros(len(names) + 1, np.int64)
        for lane in f["PixelClassification/LabelSets"].values():
            for block in lane.values():
                values = block[()].astype(np.int64).ravel()
                counts += np.bincount(values, minlength=len(names) + 1)[: len(names) + 1]
    return {name: int(counts[k + 1]) for k, name in enumerate(names) if counts[k + 1]}


@pytest.mark.parametrize("name", sorted(FILES))
def test_ilastik_written_project_imports_and_retrains(name):
    folder = _folder()
    path = folder / name
    dims, channels = FILES[name]
    session = brushlab.import_ilastik(path, search_paths=[folder / "inputdata", folder])
    with session:
        image = session.images[0]
        assert tuple(d for d in image.dims if d != "c" or channels > 1) == dims
        assert image.sizes.get("c", 1) == channels
        assert session.label_counts() == _label_counts_in_file(path)
        assert session.features.n_features(ndim=2, n_channels=1) > 0
        clf = session.train()
        assert clf.class_names == session.class_names
        plane = {d: 0 for d in image.dims if d in ("t", "z")}
        result = session.predict_region(0, plane=tuple(plane.values()) or None)
        assert set(np.unique(result.segmentation.values)) <= set(range(1, len(clf.class_names) + 1))
        assert np.isfinite(result.probabilities.values).all()

