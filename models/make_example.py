"""Regenerate models/coins-pixel-classifier.zip, the example Model Zoo package of the notebooks.

A brushlab pixel classifier (default features, 50 trees) trained on scikit-image's
``coins`` with a few straight scribbles, exported with ``export_bioimageio``.

    .venv/bin/python models/make_example.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import skimage.data

import brushlab


def main() -> Path:
    """Train, export and return the path of the example package."""
    image = skimage.data.coins()
    labels = np.zeros(image.shape, np.uint8)
    labels[10:14, 10:120] = 1  # background above the coins
    labels[255:259, 20:200] = 1
    labels[120:124, 5:20] = 1
    labels[45:49, 40:52] = 2  # inside a few coins
    labels[110:114, 175:187] = 2
    labels[200:204, 270:285] = 2
    labels[190:194, 100:112] = 2
    clf = brushlab.PixelClassifier(n_trees=50, random_state=0)
    clf.fit(image, labels, class_names=["background", "coin"])
    out = Path(__file__).with_name("coins-pixel-classifier.zip")
    return clf.export_bioimageio(
        out,
        sample_image=image,
        name="coins pixel classifier",
        description="Coins vs background on scikit-image's coins image: a brushlab random "
        "forest on ilastik features, exported as ONNX (example package).",
        authors=["brushlab developers"],
        overwrite=True,
    )


if __name__ == "__main__":
    print(main())
