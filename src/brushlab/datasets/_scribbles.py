"""Scribbles a user would paint, drawn from a ground truth: accuracy measured the way users train.

A user labels a few short strokes per class; :func:`simulate_scribbles` draws such strokes
from a ground-truth class image, so accuracy can be measured on real data without
hand-painting; :func:`demo_scribbles` draws them on a sample image without ground truth
(a rough Otsu split stands in for it), for demos and headless notebooks.

Examples
--------
>>> import numpy as np
>>> truth = np.zeros((64, 64), int); truth[:, 32:] = 1
>>> labels = simulate_scribbles(truth, strokes_per_class=2, seed=0)
>>> sorted(np.unique(labels).tolist())
[0, 1, 2]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from brushlab.errors import LabelError

__all__ = ["demo_scribbles", "simulate_scribbles"]


def simulate_scribbles(
    truth: np.ndarray,
    *,
    classes: Sequence[int] | None = None,
    strokes_per_class: int = 10,
    stroke_length: int = 15,
    margin: int = 2,
    seed: int = 0,
) -> np.ndarray:
    """Draw short strokes inside each class of a 2D ground-truth image.

    Each stroke starts at a random pixel of the class, at least ``margin``
    pixels from its border (or on the class's skeleton when the class is too
    thin for that, as membranes are), and follows the class for about
    ``stroke_length`` pixels: a straight line in a random direction, cut where it
    would leave the class.

    Parameters
    ----------
    truth : ndarray
        2D integer image of classes; 0 is treated as a class too unless
        ``classes`` says otherwise.
    classes : sequence of int, optional
        Class values to draw, in order; stroke pixels get labels 1, 2, ... in
        that order. Default: the sorted unique values of ``truth``.
    strokes_per_class : int
        Strokes per class.
    stroke_length : int
        Length of each stroke in pixels.
    margin : int
        Distance from the class border a stroke keeps.
    seed : int
        Random seed.

    Returns
    -------
    ndarray
        uint8 labels, 0 = unlabelled.
    """
    from scipy.ndimage import binary_erosion
    from skimage.draw import line
    from skimage.morphology import disk, skeletonize

    if truth.ndim != 2:
        raise LabelError("simulate_scribbles draws on 2D images; call it per slice")
    rng = np.random.default_rng(seed)
    values = list(classes) if classes is not None else sorted(np.unique(truth).tolist())
    out = np.zeros(truth.shape, dtype=np.uint8)
    for label, value in enumerate(values, start=1):
        mask = truth == value
        core = binary_erosion(mask, structure=disk(margin)) if margin > 0 else mask
        if core.sum() < 10 * stroke_length:
            core = skeletonize(mask)
        ys, xs = np.nonzero(core)
        if ys.size == 0:
            continue
        for _ in range(strokes_per_class):
            i = rng.integers(ys.size)
            best: tuple[np.ndarray, np.ndarray] | None = None
            for _attempt in range(8):
                angle = rng.uniform(0, np.pi)
                half = stroke_length / 2
                dy, dx = half * np.sin(angle), half * np.cos(angle)
                r0, c0 = int(round(ys[i] - dy)), int(round(xs[i] - dx))
                r1, c1 = int(round(ys[i] + dy)), int(round(xs[i] + dx))
                rr, cc = line(r0, c0, r1, c1)
                keep = (rr >= 0) & (rr < truth.shape[0]) & (cc >= 0) & (cc < truth.shape[1])
                rr, cc = rr[keep], cc[keep]
                inside = core[rr, cc]
                if best is None or inside.sum() > best[0].size:
                    best = (rr[inside], cc[inside])
            assert best is not None
            out[best] = label
    return out


def demo_scribbles(image: np.ndarray, *, strokes_per_class: int = 8, seed: int = 0) -> np.ndarray:
    """Scribbles for a sample image without ground truth: 1 = background, 2 = bright objects.

    A smoothed Otsu split stands in for the truth; strokes keep 6 pixels from its border.

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

    Examples
    --------
    >>> from brushlab import datasets
    >>> labels = datasets.demo_scribbles(datasets.cell())
    >>> sorted(np.unique(labels).tolist())
    [0, 1, 2]
    """
    from scipy import ndimage as ndi
    from skimage.filters import threshold_otsu

    smooth = ndi.gaussian_filter(image.astype(np.float32), 2)
    rough = (smooth > threshold_otsu(smooth)).astype(np.uint8)
    return simulate_scribbles(
        rough, classes=[0, 1], strokes_per_class=strokes_per_class, margin=6, seed=seed
    )
