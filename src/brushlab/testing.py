"""Helpers for tests, benchmarks and headless notebooks: simulated scribbles, scores.

A user labels a few short strokes per class; :func:`simulate_scribbles` draws
such strokes from a ground-truth class image, so accuracy can be measured on
real data the way a user would train, without hand-painting.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["simulate_scribbles", "f1_score"]


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
        raise ValueError("simulate_scribbles draws on 2D images; call it per slice")
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


def f1_score(predicted: np.ndarray, truth: np.ndarray) -> float:
    """F1 (Dice) of two boolean masks; 1.0 when both are empty.

    Parameters
    ----------
    predicted, truth : ndarray
        Masks of one shape (anything non-zero counts as True).

    Returns
    -------
    float
        ``2 |P & T| / (|P| + |T|)``.

    Examples
    --------
    >>> import numpy as np
    >>> f1_score(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]))
    0.6666666666666666
    >>> f1_score(np.zeros(3), np.zeros(3))
    1.0
    """
    p = np.asarray(predicted, dtype=bool)
    t = np.asarray(truth, dtype=bool)
    tp = np.count_nonzero(p & t)
    denom = np.count_nonzero(p) + np.count_nonzero(t)
    return 1.0 if denom == 0 else float(2.0 * tp / denom)
