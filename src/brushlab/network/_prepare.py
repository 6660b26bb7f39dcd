"""From images and scribbles to network inputs: checks, normalisation, validation split, forest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from brushlab.errors import ClassifierError, LabelError

if TYPE_CHECKING:
    from brushlab.classifier import PixelClassifier
    from brushlab.network._classifier import NetworkClassifier
    from brushlab.network._geometry import Architecture

__all__ = ["TrainingData", "prepare", "validation_split", "val_masks", "split_block"]

DENSE_CONFIDENCE = 0.9


@dataclass
class TrainingData:
    """Network inputs and labels per frame (all numpy)."""

    inputs: list[np.ndarray]  # (C_in, *S) float32: normalised image channels, then forest
    labels: list[np.ndarray]  # (*S) int64: 0 unlabelled, 1..K
    val: list[np.ndarray]  # (*S) bool: labelled pixels held out for validation
    n_image_channels: int
    dense: list[np.ndarray] | None = None  # (*S) int64 extra targets (forest's confident)
    val_blocks: list[tuple[int, tuple[slice, ...]]] | None = None  # where ``val`` lies


def split_block(shape: Sequence[int]) -> tuple[int, ...]:
    """Return the validation block of a frame: 128 x 128 (16 x 64 x 64 in 3D), <= half of it."""
    base = (128, 128) if len(shape) == 2 else (16, 64, 64)
    return tuple(max(1, min(b, n // 2)) for b, n in zip(base, shape))


def validation_split(
    labels: Sequence[np.ndarray], fraction: float, seed: int, *, max_blocks: int = 12
) -> list[tuple[int, tuple[slice, ...]]]:
    """Hold out whole spatial blocks of labels so that every class is in both parts.

    Neighbouring pixels of one stroke look alike, so single pixels would leak: whole
    blocks (:func:`split_block`) go to validation, until ``fraction`` of the labelled
    pixels or ``max_blocks`` blocks (which bounds the cost of each validation).

    Returns
    -------
    list of (frame index, block)
        The validation blocks.

    Examples
    --------
    >>> lab = np.zeros((128, 128), np.int64); lab[::8, :64] = 1; lab[::8, 64:] = 2
    >>> blocks = validation_split([lab], 0.25, seed=0)
    >>> val = val_masks([lab], blocks)[0]
    >>> sorted(np.unique(lab[val]).tolist()), sorted(np.unique(lab[~val & (lab > 0)]).tolist())
    ([1, 2], [1, 2])
    """
    if fraction <= 0:
        return []
    classes = np.unique(np.concatenate([lab[lab > 0] for lab in labels]))
    total = sum(int((lab > 0).sum()) for lab in labels)
    candidates = []
    for i, lab in enumerate(labels):
        block = split_block(lab.shape)
        for start in np.ndindex(*[-(-n // b) for n, b in zip(lab.shape, block)]):
            sl = tuple(slice(s * b, min((s + 1) * b, n)) for s, b, n in
                       zip(start, block, lab.shape))
            if lab[sl].any():
                candidates.append((i, sl))
    for attempt in range(50):
        rng = np.random.default_rng([seed, attempt])
        chosen: list[tuple[int, tuple[slice, ...]]] = []
        count, seen = 0, set[int]()
        for j in rng.permutation(len(candidates)):
            if (count >= fraction * total and len(seen) == classes.size) or \
                    len(chosen) >= max_blocks:
                break
            i, sl = candidates[j]
            here = set(np.unique(labels[i][sl]).tolist()) - {0}
            if count >= fraction * total and not here - seen:
                continue  # enough pixels already: only blocks with a missing class help
            chosen.append((i, sl))
            seen |= here
            count += int((labels[i][sl] > 0).sum())
        masks = val_masks(labels, chosen)
        held = np.concatenate([lab[v] for lab, v in zip(labels, masks)])
        kept = np.concatenate([lab[~v & (lab > 0)] for lab, v in zip(labels, masks)])
        if np.isin(classes, held).all() and np.isin(classes, kept).all():
            return chosen
    counts = {int(k): int(sum((lab == k).sum() for lab in labels)) for k in classes}
    raise LabelError(
        f"too few labels for a validation split: labelled pixels per class {counts} do not "
        "spread over enough image blocks to hold some of every class out; paint each class "
        "in a few more places, or pass validation_fraction=0 (no early stopping)"
    )


def val_masks(labels: Sequence[np.ndarray], blocks: Sequence[tuple[int, tuple[slice, ...]]]
              ) -> list[np.ndarray]:
    """Boolean masks of the labelled pixels inside the validation blocks."""
    masks = [np.zeros(lab.shape, bool) for lab in labels]
    for i, sl in blocks:
        masks[i][sl] = labels[i][sl] > 0
    return masks


def prepare(
    clf: NetworkClassifier,
    arch: Architecture,
    frames: list[np.ndarray],
    labels: list[np.ndarray],
    dims: Sequence[str],
    spacing: Sequence[float],
    names: Sequence[str],
    seed: int,
) -> tuple[TrainingData, PixelClassifier | None, tuple[list[float], list[float]]]:
    """Check sizes, split, normalise and add the forest's out-of-fold probabilities."""
    radius = arch.radius
    if not any(all(n > r for n, r in zip(f.shape[1:], radius)) for f in frames):
        sizes = sorted({tuple(f.shape[1:]) for f in frames})
        raise ClassifierError(
            f"every training image {sizes[:3]} is smaller than the network's field of view "
            f"(radius {radius} pixels per axis for depth={arch.depth}): train on larger images, "
            "or use a shallower network, e.g. depth=2 or 3"
        )
    blocks = validation_split(labels, clf.validation_fraction, seed)
    val = val_masks(labels, blocks)
    stack = np.concatenate([f.reshape(f.shape[0], -1) for f in frames], axis=1)
    mean = stack.mean(axis=1, dtype=np.float64)
    std = stack.std(axis=1, dtype=np.float64)
    std = np.where(std > 0, std, 1.0)
    shape = (-1, *[1] * len(dims))
    inputs = [((f - mean.reshape(shape)) / std.reshape(shape)).astype(np.float32) for f in frames]
    forest = None
    dense = None
    if clf.forest_template is not None:
        from brushlab.network._forest_input import frame_image, out_of_fold

        template = clf.forest_template
        if template.random_state is None:
            import copy

            template = copy.copy(template)
            template.random_state = seed
        images = [frame_image(f, dims, spacing) for f in frames]
        forest, oof = out_of_fold(template, images, labels, names, folds=clf.forest_folds,
                                  seed=seed)
        inputs = [np.concatenate([x, p]) for x, p in zip(inputs, oof)]
        if clf.dense_targets > 0:
            dense = [np.where(p.max(axis=0) > DENSE_CONFIDENCE, p.argmax(axis=0) + 1, 0)
                     .astype(np.int64) for p in oof]
    data = TrainingData(inputs, labels, val, int(frames[0].shape[0]), dense, blocks)
    return data, forest, ([float(v) for v in mean], [float(v) for v in std])


def describe(data: TrainingData) -> dict[str, Any]:
    """Count training and validation pixels (for the training summary)."""
    val = int(sum(int(v.sum()) for v in data.val))
    total = int(sum(int((lab > 0).sum()) for lab in data.labels))
    return {"train_pixels": total - val, "validation_pixels": val}
