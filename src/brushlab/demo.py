"""The quickstart pipeline, headless: sample image -> scribbles -> train -> predict -> files.

Run ``python -m brushlab.demo --out demo_output`` (what ``make demo HEADLESS=1``
does). It uses ``skimage.data.cell`` (bundled with scikit-image, works offline).
With no one to paint (the notebook's widget is where a user paints), the
scribbles are drawn by :func:`brushlab.datasets.demo_scribbles` inside a rough
Otsu mask: a few short strokes per class, as a user would paint. Public API only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["run_demo", "main"]


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
    from brushlab import PixelClassifier, datasets, objects, write_image

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    image = datasets.cell()
    labels = datasets.demo_scribbles(image)
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
        "overlay": write_image(out / "overlay.png", objects.overlay(image, result.segmentation)),
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
    """Command-line entry: ``python -m brushlab.demo [--out DIR] [--check]``.

    Examples
    --------
    >>> main(["--check"])
    brushlab ... is installed
    0
    """
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
