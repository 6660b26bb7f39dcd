"""The quickstart pipeline, headless: sample image -> scribbles -> train -> predict -> files.

Run ``python -m brushlab.demo --out demo_output`` (what ``make demo HEADLESS=1``
does). It uses ``skimage.data.cell`` (bundled with scikit-image, works offline).
With no one to paint (the notebook's widget is where a user paints), the
scribbles are drawn by :func:`brushlab.testing.simulate_scribbles` inside a rough
Otsu mask: a few short strokes per class, as a user would paint.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["sample_scribbles", "overlay_rgb", "run_demo", "main"]


def sample_scribbles(image: np.ndarray, *, strokes_per_class: int = 8, seed: int = 0) -> np.ndarray:
    """Scribbles for the sample image: class 1 = background, class 2 = cells.

    Parameters
    ----------
    image : ndarray
        2D greyscale image.
    strokes_per_class : int
        Short strokes drawn per class.
    seed : int
        Random seed.

    Returns
    -------
    ndarray
        uint8 labels, 0 = unlabelled.
    """
    from scipy import ndimage as ndi
    from skimage.filters import threshold_otsu

    from brushlab.testing import simulate_scribbles

    smooth = ndi.gaussian_filter(image.astype(np.float32), 2)
    rough = (smooth > threshold_otsu(smooth)).astype(np.uint8)
    return simulate_scribbles(
        rough, classes=[0, 1], strokes_per_class=strokes_per_class, margin=6, seed=seed
    )


def overlay_rgb(image: np.ndarray, segmentation: np.ndarray, *, alpha: float = 0.4) -> np.ndarray:
    """Blend a class image over a greyscale image as uint8 RGB (class 1 left uncoloured).

    Parameters
    ----------
    image : ndarray
        2D greyscale image.
    segmentation : ndarray
        2D classes 1..K.
    alpha : float
        Opacity of the class colours.

    Returns
    -------
    ndarray
        ``(y, x, 3)`` uint8.

    Examples
    --------
    >>> import numpy as np
    >>> rgb = overlay_rgb(np.arange(16.0).reshape(4, 4), np.array([[1, 2, 1, 2]] * 4))
    >>> rgb.shape, rgb.dtype.name
    ((4, 4, 3), 'uint8')
    >>> bool((rgb[:, 0, 0] == rgb[:, 0, 1]).all())  # class 1 stays grey
    True
    """
    img = image.astype(np.float64)
    lo, hi = np.percentile(img, (0.5, 99.5))
    grey = np.clip((img - lo) / max(hi - lo, 1e-12), 0, 1)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    colours = np.array([[0, 0, 0], [0, 0, 0], [1.0, 0.2, 0.8], [0.2, 0.9, 0.3], [1.0, 0.8, 0.1]])
    seg = np.clip(segmentation.astype(int), 0, len(colours) - 1)
    colour = colours[seg]
    mask = (seg >= 2)[..., None]
    rgb = np.where(mask, (1 - alpha) * rgb + alpha * colour, rgb)
    return (rgb * 255).round().astype(np.uint8)


def run_demo(out: str | Path, *, n_trees: int = 100) -> dict[str, Path]:
    """Train on the sample image's scribbles, predict it and write the outputs.

    Parameters
    ----------
    out : str or Path
        Output folder (created).
    n_trees : int
        Trees in the forest.

    Returns
    -------
    dict
        Name -> written file.
    """
    from skimage import data

    from brushlab import PixelClassifier, write_image

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    image = data.cell()
    labels = sample_scribbles(image)
    t0 = time.perf_counter()
    clf = PixelClassifier(n_trees=n_trees, random_state=0)
    clf.fit(image, labels, class_names=["background", "cell"])
    t1 = time.perf_counter()
    result = clf.predict(image)
    t2 = time.perf_counter()
    files = {
        "model": clf.save(out / "cell.brushlab"),
        "labels": write_image(out / "labels.png", labels),
        "segmentation": write_image(out / "segmentation.tif", result.segmentation),
        "probabilities": write_image(
            out / "probabilities.tif", result.probabilities.rename({"class": "c"})
        ),
        "uncertainty": write_image(out / "uncertainty.tif", result.uncertainty),
        "overlay": write_image(out / "overlay.png", overlay_rgb(image, result.segmentation.values)),
    }
    labelled = int((labels > 0).sum())
    print(
        f"sample image {image.shape}, {labelled} labelled pixels "
        f"({100 * labelled / labels.size:.2f} %), fit {t1 - t0:.2f} s, predict {t2 - t1:.2f} s"
    )
    print(f"cell fraction: {float((result.segmentation.values == 2).mean()):.3f}")
    for name, path in files.items():
        print(f"  {name:14s} {path}")
    return files


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m brushlab.demo [--out DIR] [--check]``."""
    parser = argparse.ArgumentParser(prog="python -m brushlab.demo", description=__doc__)
    parser.add_argument("--out", default="demo_output", help="output folder")
    parser.add_argument("--check", action="store_true", help="only check the install and exit")
    args = parser.parse_args(argv)
    if args.check:
        import brushlab

        print(f"brushlab {brushlab.__version__} is installed")
        return 0
    run_demo(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
