"""Register one section to its neighbour: translation, rigid, affine, and a smooth residual field.

Everything here works on two 2D float images, ``fixed`` and ``moving``, and answers with
a *pull* transform: a 3 x 3 matrix ``M`` on homogeneous ``(y, x, 1)`` pixel coordinates
such that ``fixed(p) ~ moving(M @ p)``. The matrix is found by block matching, as SOFIMA
and AlignEM-SWiFT do: the cross-correlation peak of windowed patches on a grid gives one
local shift per patch, and a robust fit (``skimage.measure.ransac``) of the model to those
shifts, from a coarse pyramid level to full resolution, gives the transform. Feature
matching (SIFT + RANSAC, ``method="features"``) is offered too; on serial sections 50 nm
apart few features repeat, so a feature fit with too few inliers falls back to blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

__all__ = ["PairResult", "estimate_pair", "residual_field", "prepare", "MODELS"]

MODELS = ("translation", "rigid", "affine", "elastic")
_MIN_STD = 1e-3
_SMOOTH = 1.0  # a patch flatter than this (on the normalised image) carries no signal


@dataclass(frozen=True)
class PairResult:
    """The transform of one section pair and how much to trust it.

    Attributes
    ----------
    matrix : ndarray
        3 x 3 pull matrix, fixed pixel ``(y, x, 1)`` -> moving pixel.
    score : float
        Normalised cross-correlation of ``fixed`` and the warped ``moving`` on their
        overlap (1 = identical; unrelated sections score near 0).
    inliers : int
        Patches (or features) that agree with the fitted model.
    method : str
        ``"blocks"`` or ``"features"`` (what produced ``matrix``).
    """

    matrix: np.ndarray
    score: float
    inliers: int
    method: str


def prepare(section: np.ndarray) -> np.ndarray:
    """Return the float32 image registration reads: channels averaged, zero mean, unit variance.

    A blank section (no variance) comes back as zeros.
    """
    img = np.asarray(section, dtype=np.float32)
    if img.ndim == 3:  # (C, y, x)
        img = img.mean(axis=0)
    img = img - np.float32(img.mean())
    std = float(img.std())
    return img / np.float32(std) if std > 0 else np.zeros_like(img)


def warp_pull(image: np.ndarray, matrix: np.ndarray, shape: tuple[int, ...] | None = None,
              field: np.ndarray | None = None, step: float | None = None) -> np.ndarray:
    """Resample ``image`` at ``matrix @ (p + field(p))`` for every output pixel ``p`` (linear)."""
    from brushlab.align._apply import source_coordinates

    out_shape = tuple(shape or image.shape)
    coords = source_coordinates(matrix, (slice(0, out_shape[0]), slice(0, out_shape[1])),
                                field, step)
    return ndi.map_coordinates(image, coords, order=1, mode="constant", cval=np.nan,
                               prefilter=False)


def _downsample(image: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return image
    h, w = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    return image[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


def _patch_centres(shape: tuple[int, ...], patch: int, stride: int) -> np.ndarray:
    """Patch centres on a grid covering ``shape`` (whole patches only)."""
    axes = []
    for n in shape:
        if n <= patch:
            axes.append(np.array([n / 2]))
        else:
            count = int(np.ceil((n - patch) / stride)) + 1
            axes.append(np.linspace(patch / 2, n - patch / 2, count))
    yy, xx = np.meshgrid(*axes, indexing="ij")
    return np.stack([yy.ravel(), xx.ravel()], axis=1)


def block_shifts(fixed: np.ndarray, moving: np.ndarray, centres: np.ndarray, patch: int,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Local shift ``t`` per patch (``fixed(p) ~ moving(p + t)``) and its peak strength.

    ``moving`` may hold NaN where it has no data; patches with too little valid data or
    texture get strength 0. Cross-correlation of Hann-windowed, zero-mean patches, all
    patches in one batched FFT, the peak refined to sub-pixel by a parabola per axis.
    """
    half = patch // 2
    size = 2 * half
    window = np.outer(np.hanning(size), np.hanning(size)).astype(np.float32)
    tops = np.clip(np.round(centres - half).astype(int), 0,
                   np.maximum(np.array(fixed.shape) - size, 0))
    stack_f = np.zeros((len(centres), size, size), np.float32)
    stack_m = np.zeros_like(stack_f)
    valid = np.zeros(len(centres), bool)
    for k, (y, x) in enumerate(tops):
        a = fixed[y:y + size, x:x + size]
        b = moving[y:y + size, x:x + size]
        if a.shape != (size, size):
            continue
        nan = np.isnan(b)
        if nan.mean() > 0.2:
            continue
        b = np.where(nan, 0, b)
        a = (a - a.mean()) * window
        b = (b - b.mean()) * window
        sa, sb = float(a.std()), float(b.std())
        if sa < _MIN_STD or sb < _MIN_STD:
            continue
        stack_f[k], stack_m[k], valid[k] = a / sa, b / sb, True
    shifts = np.zeros((len(centres), 2))
    strength = np.zeros(len(centres))
    if not valid.any():
        return shifts, strength
    spectrum = np.fft.rfft2(stack_f[valid]) * np.conj(np.fft.rfft2(stack_m[valid]))
    corr = np.fft.irfft2(spectrum, s=(size, size)) / (size * size)
    flat = corr.reshape(len(corr), -1).argmax(axis=1)
    py, px = np.unravel_index(flat, (size, size))
    rows = np.arange(len(corr))
    peak = corr[rows, py, px]

    def refine(before: np.ndarray, after: np.ndarray) -> np.ndarray:
        denom = before - 2 * peak + after
        with np.errstate(divide="ignore", invalid="ignore"):
            delta = np.where(denom < 0, 0.5 * (before - after) / denom, 0.0)
        return np.clip(delta, -0.5, 0.5)

    dy = refine(corr[rows, (py - 1) % size, px], corr[rows, (py + 1) % size, px])
    dx = refine(corr[rows, py, (px - 1) % size], corr[rows, py, (px + 1) % size])
    sy = np.where(py > half, py - size, py) + dy
    sx = np.where(px > half, px - size, px) + dx
    shifts[valid] = -np.stack([sy, sx], axis=1)  # the peak sits at -t
    strength[valid] = peak
    return shifts, strength


def gradient_shifts(fixed: np.ndarray, moving: np.ndarray, centres: np.ndarray, patch: int,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Small local shifts (below ~2 pixels) by Lucas-Kanade per patch; free of peak locking.

    Same conventions as :func:`block_shifts`. Solves ``f - m = g . t`` in least squares
    over each windowed patch, ``g`` the gradient of the mean of both images.
    """
    valid_m = ~np.isnan(moving)
    m = ndi.gaussian_filter(np.where(valid_m, moving, 0), _SMOOTH)
    f = ndi.gaussian_filter(fixed, _SMOOTH)
    gy, gx = np.gradient((f + m) / 2)
    diff = f - m
    half = patch // 2
    size = 2 * half
    window = np.outer(np.hanning(size), np.hanning(size))
    tops = np.clip(np.round(centres - half).astype(int), 0,
                   np.maximum(np.array(fixed.shape) - size, 0))
    erode = ndi.binary_erosion(valid_m, iterations=3).astype(np.float64)
    if fixed.shape[0] < size or fixed.shape[1] < size:
        return np.zeros((len(centres), 2)), np.zeros(len(centres))
    rows = tops[:, 0][:, None, None] + np.arange(size)[None, :, None]
    cols = tops[:, 1][:, None, None] + np.arange(size)[None, None, :]
    w = window[None] * erode[rows, cols]  # (K, size, size): every patch at once
    a, b, d = gy[rows, cols], gx[rows, cols], diff[rows, cols]
    saa, sab, sbb = (w * a * a).sum((1, 2)), (w * a * b).sum((1, 2)), (w * b * b).sum((1, 2))
    ra, rb = (w * a * d).sum((1, 2)), (w * b * d).sum((1, 2))
    det = saa * sbb - sab * sab
    total = w.sum((1, 2))
    low = 0.5 * (saa + sbb - np.sqrt((saa - sbb) ** 2 + 4 * sab * sab))  # smaller eigenvalue
    ok = (total >= 0.8 * window.sum()) & (low > 1e-6 * np.maximum(total, 1e-12)) & (det > 0)
    safe = np.where(ok, det, 1.0)
    shifts = np.stack([(sbb * ra - sab * rb) / safe, (saa * rb - sab * ra) / safe], axis=1)
    shifts[~ok] = 0
    strength = np.where(ok, low / np.maximum(total, 1e-12), 0.0)
    return shifts, strength


def _model_class(model: str) -> Any:
    from skimage.transform import AffineTransform, EuclideanTransform

    return EuclideanTransform if model == "rigid" else AffineTransform


def _fit(src: np.ndarray, dst: np.ndarray, model: str, threshold: float, *,
         start: np.ndarray | None = None) -> tuple[np.ndarray, int] | None:
    """Pull matrix mapping ``src`` (fixed) to ``dst`` (moving) points, robustly; None if unsure.

    Without ``start``, RANSAC; with a ``start`` close to the answer (sub-pixel
    refinement), least squares on the points within ``threshold`` of it, twice.
    """
    if model == "translation":
        delta = dst - src
        centre = np.median(delta, axis=0)
        inl = np.linalg.norm(delta - centre, axis=1) <= threshold
        if inl.sum() < 3:
            return None
        matrix = np.eye(3)
        matrix[:2, 2] = np.median(delta[inl], axis=0)
        return matrix, int(inl.sum())
    from skimage.measure import ransac

    need = 2 if model == "rigid" else 3
    if len(src) < max(need + 2, 6):
        return None
    if start is not None:
        matrix = start
        for _ in range(2):
            moved = src @ matrix[:2, :2].T + matrix[:2, 2]
            inl = np.linalg.norm(moved - dst, axis=1) <= threshold
            if inl.sum() < need + 2:
                return None
            cls = _model_class(model)
            if hasattr(cls, "from_estimate"):  # scikit-image >= 0.26
                estimated = cls.from_estimate(src[inl], dst[inl])
            else:  # pragma: no cover - older scikit-image
                estimated = cls()
                estimated = estimated if estimated.estimate(src[inl], dst[inl]) else None
            if not estimated:
                return None
            matrix = np.asarray(estimated.params, dtype=np.float64)
        return matrix, int(inl.sum())
    fitted, inliers = ransac((src, dst), _model_class(model), min_samples=need,
                             residual_threshold=threshold, max_trials=60,
                             stop_probability=0.995, rng=0)
    if fitted is None or inliers is None or inliers.sum() < need + 2:
        return None
    return np.asarray(fitted.params, dtype=np.float64), int(inliers.sum())


def _score(fixed: np.ndarray, warped: np.ndarray) -> float:
    ok = ~np.isnan(warped)
    if ok.sum() < 0.1 * ok.size:
        return 0.0
    a, b = fixed[ok], warped[ok]
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def _coarse_translation(fixed: np.ndarray, moving: np.ndarray, factor: int) -> np.ndarray:
    from skimage.registration import phase_cross_correlation

    f, m = _downsample(fixed, factor), _downsample(moving, factor)
    # band-pass, then a window: flat borders (the fill of an earlier warp) carry no weight
    window = np.outer(np.hanning(f.shape[0]), np.hanning(f.shape[1]))
    f = (ndi.gaussian_filter(f, 1.0) - ndi.gaussian_filter(f, 8.0)) * window
    m = (ndi.gaussian_filter(m, 1.0) - ndi.gaussian_filter(m, 8.0)) * window
    if f.std() < _MIN_STD or m.std() < _MIN_STD:
        return np.zeros(2)
    shift = phase_cross_correlation(f, m, normalization=None)[0]
    return -np.asarray(shift, dtype=np.float64) * factor


def _scale_matrix(factor: float) -> np.ndarray:
    return np.diag([factor, factor, 1.0])


def _blocks(fixed: np.ndarray, moving: np.ndarray, model: str, start: np.ndarray,
            ) -> tuple[np.ndarray, int]:
    """Refine ``start`` by block matching, coarse to fine."""
    matrix, inliers = start, 0
    size = min(fixed.shape)
    # (downsampling, patch, RANSAC threshold in level pixels): neighbouring sections differ
    # by a few pixels patch to patch, so the fit keeps that spread and averages it out;
    # then two gradient passes refine to sub-pixel where the residual shifts are small.
    if size >= 384:
        schedule = [(4, 32, 2.0), (2, 32, 2.0), (1, 64, 3.0)] + [(1, 64, 1.5)] * 2
    elif size >= 128:
        schedule = [(2, 24, 2.0), (1, 32, 3.0)] + [(1, 32, 1.5)] * 2
    else:
        schedule = [(1, max(8, size // 4), 3.0)] + [(1, max(8, size // 4), 1.5)] * 2
    for stage, (factor, patch, threshold) in enumerate(schedule):
        f = _downsample(fixed, factor)
        if factor > 1:
            f = ndi.gaussian_filter(f, 0.5)
        scale = _scale_matrix(factor)
        level = np.linalg.inv(scale) @ matrix @ scale  # the same transform in level pixels
        mov = _downsample(moving, factor)
        warped = warp_pull(mov, level, f.shape)
        centres = _patch_centres(f.shape, patch, patch // 2)
        measure = gradient_shifts if stage >= len(schedule) - 2 else block_shifts
        shifts, strength = measure(f, warped, centres, patch)
        use = strength > 0
        if use.sum() < 4:
            continue
        src = centres[use]
        pts = np.c_[src + shifts[use], np.ones(use.sum())]
        dst = (level @ pts.T).T[:, :2]
        fit = _fit(src, dst, model, threshold, start=level if measure is gradient_shifts else None)
        if fit is None:
            continue
        matrix, inliers = scale @ fit[0] @ np.linalg.inv(scale), fit[1]
    return matrix, inliers


def _features(fixed: np.ndarray, moving: np.ndarray, model: str) -> tuple[np.ndarray, int] | None:
    from skimage.feature import SIFT, match_descriptors

    keys = []
    for img in (fixed, moving):
        sift = SIFT(upsampling=1)
        try:
            sift.detect_and_extract(img)
        except RuntimeError:  # no keypoints at all
            return None
        keys.append((sift.keypoints, sift.descriptors))
    (k0, d0), (k1, d1) = keys
    matches = match_descriptors(d0, d1, cross_check=True, max_ratio=0.8)
    if len(matches) < 8:
        return None
    fit = _fit(k0[matches[:, 0]].astype(float), k1[matches[:, 1]].astype(float), model, 2.0)
    if fit is None or fit[1] < max(12, 0.3 * len(matches)):
        return None
    return fit


def estimate_pair(fixed: np.ndarray, moving: np.ndarray, *, model: str = "affine",
                  method: str = "blocks") -> PairResult:
    """Find the pull transform that maps ``fixed`` pixels onto ``moving``.

    Parameters
    ----------
    fixed, moving : ndarray
        2D images of one shape, as returned by :func:`prepare`.
    model : {"translation", "rigid", "affine", "elastic"}
        Degrees of freedom of the matrix (``"elastic"`` fits an affine matrix here;
        its field comes from :func:`residual_field`).
    method : {"blocks", "features"}
        Block matching, or SIFT feature matching that falls back to blocks when
        fewer than 12 matches (or 30 %) agree.

    Returns
    -------
    PairResult
        The matrix, its score and the evidence behind it.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage import data
    >>> fixed = prepare(data.camera()[::2, ::2])
    >>> moving = np.roll(fixed, (5, -3), axis=(0, 1))  # moving(p + (5, -3)) = fixed(p)
    >>> np.round(estimate_pair(fixed, moving, model="translation").matrix[:2, 2], 1)
    array([ 5., -3.])
    """
    if model not in MODELS:
        raise ValueError(f"model {model!r} is not one of {MODELS}")
    fit_model = "affine" if model == "elastic" else model
    start = np.eye(3)
    start[:2, 2] = _coarse_translation(fixed, moving, 4 if min(fixed.shape) >= 256 else 1)
    used = "blocks"
    if method == "features":
        found = _features(fixed, moving, fit_model)
        if found is not None:
            start, used = found[0], "features"
    elif method != "blocks":
        raise ValueError(f"method {method!r} is not 'blocks' or 'features'")
    matrix, inliers = _blocks(fixed, moving, fit_model, start)
    score = _score(fixed, warp_pull(moving, matrix, fixed.shape))
    return PairResult(matrix, score, inliers, used)


def _nan_median(values: np.ndarray) -> float:
    """Median of the non-NaN values; NaN when there are none (without a warning)."""
    kept = values[~np.isnan(values)]
    return float(np.median(kept)) if kept.size else np.nan


def _clean(field: np.ndarray, good: np.ndarray, smooth: float) -> np.ndarray:
    """Replace weak or outlying nodes (median test) by their neighbours' median, then smooth."""
    out = np.empty_like(field)
    for axis in range(2):
        values = np.where(good, field[axis], np.nan)
        median = ndi.generic_filter(values, _nan_median, size=3, mode="nearest")
        bad = ~good | (np.abs(values - median) > 1.5) | np.isnan(values)
        filled = np.where(bad, median, values)
        if np.isnan(filled).all():
            filled = np.zeros_like(filled)
        elif np.isnan(filled).any():  # no valid neighbour: the nearest valid node
            nearest = ndi.distance_transform_edt(np.isnan(filled), return_distances=False,
                                                 return_indices=True)
            filled = filled[tuple(nearest)]
        out[axis] = ndi.gaussian_filter(filled, smooth, mode="nearest") if smooth else filled
    return out


def residual_field(fixed: np.ndarray, moving: np.ndarray, *, step: int,
                   smooth: float = 0.5) -> np.ndarray:
    """Smooth pull displacement ``d`` on a grid (``fixed(p) ~ moving(p + d(p))``).

    Patches of ``2 * step`` pixels centred on the grid nodes ``(0, step, 2 * step, ...)``:
    one pass of block matching (cross-correlation), then two passes of gradient
    (Lucas-Kanade) refinement on ``moving`` warped by the field so far. Each pass's
    weak or outlying nodes are replaced by their neighbours' median and the update is
    smoothed with a Gaussian of ``smooth`` nodes. Returns ``(2, ny, nx)`` float32 with
    ``ny = ceil(H / step) + 1``.
    """
    ny, nx = (-(-n // step) + 1 for n in fixed.shape)
    yy, xx = np.meshgrid(np.arange(ny) * step, np.arange(nx) * step, indexing="ij")
    centres = np.stack([yy.ravel(), xx.ravel()], axis=1).astype(float)
    centres = np.minimum(centres, np.array(fixed.shape) - 1)
    field = np.zeros((2, ny, nx), np.float64)
    for measure in (block_shifts, gradient_shifts, gradient_shifts):
        warped = moving if measure is block_shifts else warp_pull(
            moving, np.eye(3), fixed.shape, field.astype(np.float32), step)
        shifts, strength = measure(fixed, warped, centres, 2 * step)
        good = (strength > 0).reshape(ny, nx)
        if not good.any():
            break
        field += _clean(shifts.reshape(ny, nx, 2).transpose(2, 0, 1), good, smooth)
    return field.astype(np.float32)
