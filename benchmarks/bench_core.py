"""Benchmark brushlab's core against two peers, side by side, in one run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_core.py [--quick] [--json out.json]

What it measures, per image size (512x512, a 2048x2048 mosaic and a 64x512x512
stack; ``--quick``: 512x512 and a 16x256x256 stack):

- Peer A, "plain scipy": the 49 features of ``brushlab.FeatureSet.all()``
  written naively with ``scipy.ndimage`` (one filter call per family and
  scale, stacked ``(C, H, W)`` then copied to the ``(pixels, features)``
  layout a classifier reads), on 1 and on 2 threads. On the 3D stack only a
  slab of a few slices is computed and the time is extrapolated per voxel.
- Peer B, "skimage+sklearn": ``skimage.feature.multiscale_basic_features``
  (default arguments) and ``sklearn.ensemble.RandomForestClassifier`` (100
  trees, ``n_jobs=-1``), fit on the same scribbles, ``predict_proba`` of the
  whole image.
- brushlab: ``PixelClassifier(random_state=0)`` (default FeatureSet and model: boosted
  trees since issue 14), the same with ``model="random_forest"``, and
  ``PixelClassifier(FeatureSet.all())``, and features only for
  ``FeatureSet.all()`` on 1 thread (``FeatureSet.compute``, 256x256 tiles) and
  on 2 threads (tiles on a thread pool through ``FeatureSet.compute_block``).

Labels are simulated scribbles (``brushlab.datasets.simulate_scribbles``) on the
ISBI 2012 training slices 0, 5 and 10; accuracy is the membrane F1 on the whole
benchmark image. Each (method, size) runs in a fresh subprocess of this script,
so its peak memory (peak RSS minus the RSS right after loading the data) is
its own. Nothing here asserts a timing: the script reports.

``--engine`` runs ``bench_engine.py`` instead (issue 14): the classifier engine at the
sparse label regime above and at a realistic one (scribbles on all 20 ISBI slices, ~48k
labelled pixels), boosted trees vs brushlab's random forest vs skimage + sklearn.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "isbi2012"
TRAIN_SLICES = (0, 5, 10)
N_SLICES = 20
SCRIBBLES = {"classes": [0, 255], "strokes_per_class": 25, "stroke_length": 20}
SCALES = (0.3, 0.7, 1.0, 1.6, 3.5, 5.0, 10.0)  # ilastik's, as FeatureSet.all()
DOG_RATIO = 0.66
ST_OUTER_RATIO = 0.5
TILE = {2: (256, 256), 3: (64, 128, 128)}  # PixelClassifier's default prediction tiles
NAIVE_3D_SLAB = {"full": 8, "quick": 4}  # slices of the stack Peer A computes in 3D
CHILD_TIMEOUT_S = 900

# Targets: (1) features >= 3x plain scipy, (2) end to end >= 2x skimage+sklearn
# with F1 >= theirs, (3) predict peak memory on 2048x2048 <= 1.5 GB.
TARGET_FEATURE_SPEEDUP = 3.0
TARGET_E2E_SPEEDUP = 2.0
TARGET_PEAK_MB = 1500.0

METHODS = {
    "scipy_1t": "Peer A plain scipy, 49 feat, 1 thread",
    "scipy_2t": "Peer A plain scipy, 49 feat, 2 threads",
    "scipy_closed_1t": "Peer A' scipy + closed-form eig, 1 thread",
    "skimage_sklearn": "Peer B skimage mbf + sklearn RF",
    "brushlab": "brushlab PixelClassifier (default)",
    "brushlab_rf": "brushlab PixelClassifier(model=random_forest)",
    "brushlab_all": "brushlab PixelClassifier (FeatureSet.all)",
    "brushlab_feat_1t": "brushlab FeatureSet.all, 1 thread",
    "brushlab_feat_2t": "brushlab FeatureSet.all, 2 threads",
}
METHODS_3D = ("scipy_1t", "skimage_sklearn", "brushlab", "brushlab_feat_1t", "brushlab_feat_2t")


# -- data ---------------------------------------------------------------------
@dataclass
class Case:
    """One benchmark image, its ground truth and the training data."""

    name: str
    image: np.ndarray
    membrane: np.ndarray  # bool ground truth of class 1 (label value 0)
    train_images: list[np.ndarray]
    train_labels: list[np.ndarray]
    source: str
    notes: list[str] = field(default_factory=list)

    @property
    def ndim(self) -> int:
        return self.image.ndim

    @property
    def n_pixels(self) -> int:
        return int(self.image.size)


def load_slices() -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """Twenty 512x512 uint8 slices and their truths (0 = membrane, 255 = interior)."""
    if DATA_DIR.is_dir():
        from skimage.io import imread

        images = [imread(DATA_DIR / f"image_{i:02d}.png") for i in range(N_SLICES)]
        truths = [imread(DATA_DIR / f"label_{i:02d}.png") for i in range(N_SLICES)]
        return images, truths, f"ISBI 2012 slices from {DATA_DIR}"
    return _fallback_slices() + (
        "FALLBACK: skimage.data cell()/coins() tiled to 512x512 (ISBI data not found); "
        "truth = Otsu threshold of the smoothed image, so F1 is only indicative",
    )


def _fallback_slices() -> tuple[list[np.ndarray], list[np.ndarray]]:
    from scipy import ndimage as ndi
    from skimage import data
    from skimage.filters import threshold_otsu

    bases = [data.cell(), data.coins()]
    images, truths = [], []
    for k in range(N_SLICES):
        base = bases[k % 2]
        reps = [-(-(512 + 100) // n) + 1 for n in base.shape]
        tiled = np.pad(base, [(0, (r - 1) * n) for r, n in zip(reps, base.shape)], mode="reflect")
        off = (k * 37) % 100
        img = np.ascontiguousarray(tiled[off : off + 512, off : off + 512]).astype(np.uint8)
        smooth = ndi.gaussian_filter(img.astype(np.float32), 2.0)
        images.append(img)
        truths.append(np.where(smooth > threshold_otsu(smooth), 255, 0).astype(np.uint8))
    return images, truths


def scribbles(truth: np.ndarray, seed: int) -> np.ndarray:
    """Simulated user scribbles on a 2D truth: label 1 = membrane, 2 = interior."""
    import warnings

    from brushlab.datasets import simulate_scribbles

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return simulate_scribbles(truth, seed=seed, **SCRIBBLES)


def build_case(name: str) -> Case:
    """Assemble the benchmark image ``name`` (see :func:`case_names`)."""
    images, truths, source = load_slices()
    train_2d = [images[i] for i in TRAIN_SLICES]
    labels_2d = [scribbles(truths[i], seed=k) for k, i in enumerate(TRAIN_SLICES)]
    held_out = [i for i in range(N_SLICES) if i not in TRAIN_SLICES]
    if name == "512x512":
        i = held_out[-1]
        return Case(
            name,
            images[i],
            truths[i] == 0,
            train_2d,
            labels_2d,
            source,
            [f"512x512 = slice {i} (not a training slice)"],
        )
    if name == "2048x2048":
        pick = held_out[:16]
        grid = [pick[r * 4 : r * 4 + 4] for r in range(4)]
        image = np.block([[images[i] for i in row] for row in grid])
        truth = np.block([[truths[i] for i in row] for row in grid])
        return Case(
            name,
            image,
            truth == 0,
            train_2d,
            labels_2d,
            source,
            [f"2048x2048 = 4x4 mosaic of slices {pick} (no training slice)"],
        )
    depth, side = (int(v) for v in name.split("x")[:2])
    order = [z % N_SLICES for z in range(depth)]
    stack = np.stack([images[i][:side, :side] for i in order])
    truth = np.stack([truths[i][:side, :side] for i in order])
    labels = np.zeros(stack.shape, np.uint8)
    for k, z in enumerate(TRAIN_SLICES):
        labels[z] = scribbles(truth[z], seed=k)
    return Case(
        name,
        stack,
        truth == 0,
        [stack],
        [labels],
        source,
        [
            f"{name} = slices 0..{N_SLICES - 1} repeated (cropped to {side}x{side}), "
            f"scribbles on z = {list(TRAIN_SLICES)}, 3D features and forest"
        ],
    )


def case_names(quick: bool) -> list[str]:
    return ["512x512", "16x256x256"] if quick else ["512x512", "2048x2048", "64x512x512"]


# -- Peer A: the 49 features written naively with scipy.ndimage ----------------
def naive_feature_jobs(
    x: np.ndarray, closed_form: bool = False
) -> list[tuple[int, Callable[[], np.ndarray]]]:
    """(output channel, function) per family and scale, in FeatureSet.all()'s order."""
    from scipy import ndimage as ndi

    nd = x.ndim

    def order(*axes: int) -> list[int]:
        o = [0] * nd
        for a in axes:
            o[a] += 1
        return o

    def smoothing(s: float) -> np.ndarray:
        return ndi.gaussian_filter(x, s)[None]

    def log(s: float) -> np.ndarray:
        return ndi.gaussian_laplace(x, s)[None]

    def ggm(s: float) -> np.ndarray:
        return ndi.gaussian_gradient_magnitude(x, s)[None]

    def dog(s: float) -> np.ndarray:
        return (ndi.gaussian_filter(x, s) - ndi.gaussian_filter(x, DOG_RATIO * s))[None]

    def structure_tensor(s: float) -> np.ndarray:
        grads = [ndi.gaussian_filter(x, s, order=order(a)) for a in range(nd)]
        t = {
            (i, j): ndi.gaussian_filter(grads[i] * grads[j], ST_OUTER_RATIO * s)
            for i in range(nd)
            for j in range(i, nd)
        }
        return eigenvalues(t, nd, closed_form)

    def hessian(s: float) -> np.ndarray:
        h = {
            (i, j): ndi.gaussian_filter(x, s, order=order(i, j))
            for i in range(nd)
            for j in range(i, nd)
        }
        return eigenvalues(h, nd, closed_form)

    families = [(smoothing, 1), (log, 1), (ggm, 1), (dog, 1), (structure_tensor, nd), (hessian, nd)]
    jobs, channel = [], 0
    for fi, (fn, width) in enumerate(families):
        for s in SCALES:
            if fi > 0 and s < 0.5:
                continue
            jobs.append((channel, lambda fn=fn, s=s: fn(s)))
            channel += width
    return jobs


def eigenvalues(
    m: dict[tuple[int, int], np.ndarray], nd: int, closed_form: bool = False
) -> np.ndarray:
    """Eigenvalues of a symmetric field, largest first.

    ``numpy.linalg.eigvalsh`` as a plain user writes it, or (2D only, with
    ``closed_form``) the analytic 2x2 solution a careful user would write.
    """
    if nd == 2 and closed_form:
        a, b, c = m[(0, 0)], m[(0, 1)], m[(1, 1)]
        half_trace = (a + c) / 2
        root = np.sqrt(((a - c) / 2) ** 2 + b * b)
        return np.stack([half_trace + root, half_trace - root])
    full = np.empty((*m[(0, 0)].shape, nd, nd), dtype=np.float32)
    for (i, j), v in m.items():
        full[..., i, j] = v
        full[..., j, i] = v
    ev = np.linalg.eigvalsh(full)[..., ::-1]
    return np.moveaxis(ev, -1, 0)


def naive_features(image: np.ndarray, threads: int, closed_form: bool = False) -> np.ndarray:
    """Peer A: ``(pixels, features)`` float32, each family and scale filtered on its own."""
    from threadpoolctl import threadpool_limits

    x = image.astype(np.float32)
    jobs = naive_feature_jobs(x, closed_form)
    n_channels = 7 + 3 * 6 + 2 * 6 * x.ndim  # 49 in 2D, 61 in 3D
    stack = np.empty((n_channels, *x.shape), dtype=np.float32)

    def run(job: tuple[int, Callable[[], np.ndarray]]) -> None:
        channel, fn = job
        out = fn()
        stack[channel : channel + out.shape[0]] = out

    with threadpool_limits(limits=1):
        if threads == 1:
            for job in jobs:
                run(job)
        else:
            # Heaviest first (structure tensor, Hessian at large sigma) to balance the pool.
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(run, jobs[::-1]))
    return np.ascontiguousarray(stack.reshape(n_channels, -1).T)


# -- brushlab features ---------------------------------------------------------
def brushlab_features_threaded(fs: Any, image: np.ndarray, threads: int) -> np.ndarray:
    """Features ``(*shape, F)`` from tiles run on a thread pool via ``compute_block``."""
    from threadpoolctl import threadpool_limits

    from brushlab._core.tiling import iter_tiles, read_with_halo

    nd = image.ndim
    data = image[None]
    spacing = [1.0] * nd
    halo = fs.halo(spacing)
    out = np.empty((*image.shape, fs.n_features(ndim=nd)), dtype=np.float32)

    def one(tile: tuple[slice, ...]) -> None:
        block = read_with_halo(data, tile, halo)
        origin = [t.start - h for t, h in zip(tile, halo)]
        out[tile] = np.moveaxis(fs.compute_block(block, spacing, halo, origin), 0, -1)

    tiles = list(iter_tiles(image.shape, TILE[nd]))
    with threadpool_limits(limits=1), ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, tiles))
    return out


# -- measurements (each runs in a fresh subprocess) ----------------------------
def repeats(case: Case) -> int:
    """Timed runs per measurement (the best counts): 3 for small images, else 1."""
    return 3 if case.n_pixels <= 512 * 512 else 1


def warm_crop(case: Case) -> np.ndarray:
    """A small crop to run each method on once before timing (imports, caches, kernels)."""
    return case.image[:8, :64, :64] if case.ndim == 3 else case.image[:128, :128]


def best_of(fn: Callable[[], Any], n: int) -> tuple[float, Any]:
    """Shortest wall time of ``n`` calls of ``fn`` and the last result."""
    best, result = float("inf"), None
    for _ in range(n):
        result = None  # free the previous result before the next run (peak memory)
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KiB on Linux


def f1(segmentation_is_membrane: np.ndarray, membrane: np.ndarray) -> float:
    from brushlab.metrics import f1_score

    return round(float(f1_score(segmentation_is_membrane, membrane)), 4)


def measure_scipy(case: Case, threads: int, mode: str, closed_form: bool = False) -> dict[str, Any]:
    image, note = case.image, None
    if case.ndim == 3:
        slab = NAIVE_3D_SLAB[mode]
        image = case.image[:slab]
        note = (
            f"3D: computed on a {slab}-slice slab ({image.size / 1e6:.1f} MVox) and "
            f"extrapolated x{case.n_pixels / image.size:g} (time and peak memory)"
        )
    base = rss_mb()
    naive_features(warm_crop(case), threads, closed_form)
    seconds, x = best_of(lambda: naive_features(image, threads, closed_form), repeats(case))
    peak = peak_rss_mb() - base
    scale = case.n_pixels / image.size
    return {
        "features_s": seconds * scale,
        "e2e_s": None,
        "peak_mb": peak * scale,
        "n_features": int(x.shape[1]),
        "extrapolated": scale != 1,
        "note": note,
        "rss_base_mb": base,
    }


def measure_skimage_sklearn(case: Case) -> dict[str, Any]:
    from functools import partial

    from skimage.feature import multiscale_basic_features
    from sklearn.ensemble import RandomForestClassifier

    mbf = partial(multiscale_basic_features, channel_axis=None)
    n = repeats(case)
    base = rss_mb()
    mbf(warm_crop(case))
    rf = RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=0)
    note = None
    if case.ndim == 2:
        t0 = time.perf_counter()
        xs, ys = [], []
        for img, lab in zip(case.train_images, case.train_labels):
            f = mbf(img)
            xs.append(f[lab > 0])
            ys.append(lab[lab > 0])
        rf.fit(np.concatenate(xs), np.concatenate(ys))
        fit_s = time.perf_counter() - t0
        features_s, feats = best_of(lambda: mbf(case.image), n)
    else:
        features_s, feats = best_of(lambda: mbf(case.image), n)
        lab = case.train_labels[0]
        t0 = time.perf_counter()
        rf.fit(feats[lab > 0], lab[lab > 0])
        fit_s = time.perf_counter() - t0
        note = "3D: fit reuses the stack's features (fit s = forest only)"

    def predict() -> np.ndarray:
        proba = rf.predict_proba(feats.reshape(-1, feats.shape[-1]))
        return rf.classes_[np.argmax(proba, axis=1)].reshape(case.image.shape)

    predict_s, seg = best_of(predict, n)
    peak = peak_rss_mb() - base
    return {
        "features_s": features_s,
        "fit_s": fit_s,
        "predict_s": predict_s,
        "e2e_s": features_s + predict_s,
        "peak_mb": peak,
        "f1": f1(seg == 1, case.membrane),
        "n_features": int(feats.shape[-1]),
        "note": note,
        "rss_base_mb": base,
    }


def measure_brushlab(case: Case, all_features: bool, model: str | None = None) -> dict[str, Any]:
    import brushlab

    fs = brushlab.FeatureSet.all() if all_features else brushlab.FeatureSet.default()
    n = repeats(case)
    base = rss_mb()
    fs.compute(warm_crop(case))
    clf = brushlab.PixelClassifier(fs, random_state=0, **({"model": model} if model else {}))
    t0 = time.perf_counter()
    clf.fit(case.train_images, case.train_labels)
    fit_s = time.perf_counter() - t0
    outputs = ("probabilities", "segmentation")
    e2e_s, result = best_of(lambda: clf.predict(case.image, outputs=outputs), n)
    peak = peak_rss_mb() - base
    score = f1(result["segmentation"].values == 1, case.membrane)
    del result
    # Features alone, as predict computes them (same tiles, same threads), to split e2e.
    threads = clf._threads()
    features_s, feats = best_of(lambda: brushlab_features_threaded(fs, case.image, threads), n)
    return {
        "features_s": features_s,
        "fit_s": fit_s,
        "predict_s": max(e2e_s - features_s, 1e-9),
        "predict_derived": True,
        "e2e_s": e2e_s,
        "peak_mb": peak,
        "f1": score,
        "n_features": int(feats.shape[-1]),
        "rss_base_mb": base,
    }


def measure_brushlab_features(case: Case, threads: int) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits

    import brushlab

    fs = brushlab.FeatureSet.all()

    def run(image: np.ndarray) -> np.ndarray:
        if threads == 1:
            with threadpool_limits(limits=1):
                return fs.compute(image, tile_shape=TILE[case.ndim]).data
        return brushlab_features_threaded(fs, image, threads)

    base = rss_mb()
    run(warm_crop(case))
    seconds, feats = best_of(lambda: run(case.image), repeats(case))
    peak = peak_rss_mb() - base
    return {
        "features_s": seconds,
        "e2e_s": None,
        "peak_mb": peak,
        "n_features": int(feats.shape[-1]),
        "rss_base_mb": base,
    }


def check_features(case: Case) -> dict[str, Any]:
    """Do Peer A and brushlab compute the same 49 features? Max differences, relative.

    Relative to each channel's largest magnitude; split into the interior and a
    border as wide as the feature set's halo, where boundary handling may differ.
    """
    import brushlab

    fs = brushlab.FeatureSet.all()
    shape = (*case.image.shape, fs.n_features(ndim=2))
    naive = naive_features(case.image, 1).reshape(shape)
    closed = naive_features(case.image, 1, closed_form=True).reshape(shape)
    ours_1t = fs.compute(case.image, tile_shape=TILE[2]).data
    ours_2t = brushlab_features_threaded(fs, case.image, 2)
    rel = np.abs(ours_1t - naive) / (np.abs(naive).max(axis=(0, 1)) + 1e-3)
    m = max(fs.halo([1.0, 1.0]))
    interior = rel[m:-m, m:-m]
    worst = int(np.argmax(rel.max(axis=(0, 1))))
    return {
        "interior_margin_px": m,
        "max_rel_diff_interior": float(interior.max()),
        "max_rel_diff_border": float(rel.max()),
        "worst_channel": fs.names(ndim=2)[worst],
        "closed_form_equals_eigvalsh_rel": float(
            (np.abs(closed - naive) / (np.abs(naive).max(axis=(0, 1)) + 1e-3)).max()
        ),
        "threaded_equals_compute": bool(np.array_equal(ours_1t, ours_2t)),
    }


def run_child(method: str, case_name: str, mode: str) -> dict[str, Any]:
    case = build_case(case_name)
    if method == "scipy_1t":
        out = measure_scipy(case, 1, mode)
    elif method == "scipy_2t":
        out = measure_scipy(case, 2, mode)
    elif method == "scipy_closed_1t":
        out = measure_scipy(case, 1, mode, closed_form=True)
    elif method == "skimage_sklearn":
        out = measure_skimage_sklearn(case)
    elif method == "brushlab":
        out = measure_brushlab(case, all_features=False)
    elif method == "brushlab_rf":
        out = measure_brushlab(case, all_features=False, model="random_forest")
    elif method == "brushlab_all":
        out = measure_brushlab(case, all_features=True)
    elif method == "brushlab_feat_1t":
        out = measure_brushlab_features(case, 1)
    elif method == "brushlab_feat_2t":
        out = measure_brushlab_features(case, 2)
    elif method == "check":
        return check_features(case)
    else:
        raise ValueError(method)
    out.update(method=method, size=case_name, n_pixels=case.n_pixels, ndim=case.ndim)
    return out


def system_busy_s() -> float | None:
    """CPU seconds all processes have used since boot (Linux /proc/stat), or None."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def spawn(method: str, case_name: str, mode: str) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; return its record (or the error)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--_child",
            method,
            case_name,
            mode,
            str(path),
        ]
        busy0, own0 = system_busy_s(), children_cpu_s()
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return {"method": method, "size": case_name, "error": f"timeout {CHILD_TIMEOUT_S}s"}
        wall = time.perf_counter() - t0
        busy1, own1 = system_busy_s(), children_cpu_s()
        if proc.returncode != 0 or not path.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return {"method": method, "size": case_name, "error": " | ".join(tail)}
        rec = json.loads(path.read_text())
        rec["child_wall_s"] = round(wall, 1)
        if busy0 is not None and busy1 is not None:
            rec["other_cores"] = round(max(0.0, (busy1 - busy0) - (own1 - own0)) / wall, 2)
        return rec


# -- report ----------------------------------------------------------------------
def _fmt(v: Any, spec: str = ".2f", mark: str = "") -> str:
    return "-" if v is None else f"{v:{spec}}{mark}"


def format_table(records: list[dict[str, Any]]) -> str:
    head = (
        f"{'size':<11} {'method':<42} {'feat M/s':>9} {'fit s':>7} {'pred M/s':>9} "
        f"{'e2e s':>7} {'peak MB':>8} {'F1':>6} {'nF':>3} {'other':>5}"
    )
    lines = [head, "-" * len(head)]
    for r in records:
        if "error" in r:
            lines.append(f"{r['size']:<11} {METHODS[r['method']]:<42} ERROR: {r['error']}")
            continue
        mpix = r["n_pixels"] / 1e6
        ex = "~" if r.get("extrapolated") else ""
        feat = mpix / r["features_s"] if r.get("features_s") else None
        pred = mpix / r["predict_s"] if r.get("predict_s") else None
        lines.append(
            f"{r['size']:<11} {METHODS[r['method']]:<42} {_fmt(feat, '.2f', ex):>9} "
            f"{_fmt(r.get('fit_s'), '.1f'):>7} "
            f"{_fmt(pred, '.2f', '*' if r.get('predict_derived') else ''):>9} "
            f"{_fmt(r.get('e2e_s'), '.1f'):>7} {_fmt(r.get('peak_mb'), '.0f', ex):>8} "
            f"{_fmt(r.get('f1'), '.3f'):>6} {r['n_features']:>3} "
            f"{_fmt(r.get('other_cores'), '.2f'):>5}"
        )
    return "\n".join(lines)


def _get(records: list[dict[str, Any]], method: str, size: str) -> dict[str, Any] | None:
    for r in records:
        if r["method"] == method and r["size"] == size and "error" not in r:
            return r
    return None


def evaluate_targets(records: list[dict[str, Any]], sizes: list[str]) -> list[dict[str, Any]]:
    """Ratios against the peers and whether each target is met."""
    out: list[dict[str, Any]] = []
    sizes_2d = [s for s in sizes if s.count("x") == 1]
    big = "2048x2048" if "2048x2048" in sizes_2d else sizes_2d[-1]

    def ratio(a: dict | None, b: dict | None, key: str) -> float | None:
        if a is None or b is None or not a.get(key) or not b.get(key):
            return None
        return b[key] / a[key]  # seconds: peer / brushlab = speedup

    for size in sizes:
        for threads, peer_method in ((1, "scipy_1t"), (2, "scipy_2t"), (1, "scipy_closed_1t")):
            ours = _get(records, f"brushlab_feat_{threads}t", size)
            peer = _get(records, peer_method, size)
            r = ratio(ours, peer, "features_s")
            if r is None:
                continue
            target = size in sizes_2d and peer_method == "scipy_1t"
            what = "plain scipy" if peer_method != "scipy_closed_1t" else "scipy closed-form"
            out.append(
                {
                    "target": f"1 features vs {what}" + ("" if target else " (shown)"),
                    "size": size,
                    "threads": threads,
                    "ratio": r,
                    "goal": f">= {TARGET_FEATURE_SPEEDUP:g}x" if target else "-",
                    "met": (r >= TARGET_FEATURE_SPEEDUP) if target else None,
                }
            )
    for size in sizes:
        ours, peer = _get(records, "brushlab", size), _get(records, "skimage_sklearn", size)
        r = ratio(ours, peer, "e2e_s")
        if r is None:
            continue
        f1_ok = ours["f1"] >= peer["f1"]
        target = size == big
        out.append(
            {
                "target": "2 end-to-end vs skimage+sklearn" + ("" if target else " (shown)"),
                "size": size,
                "threads": 2,
                "ratio": r,
                "detail": f"F1 {ours['f1']:.3f} vs {peer['f1']:.3f}",
                "goal": f">= {TARGET_E2E_SPEEDUP:g}x and F1 >= theirs" if target else "-",
                "met": (r >= TARGET_E2E_SPEEDUP and f1_ok) if target else None,
            }
        )
    for method, what in (("brushlab", "default features"), ("brushlab_all", "FeatureSet.all()")):
        ours = _get(records, method, big)
        if ours is None:
            continue
        out.append(
            {
                "target": f"3 predict peak memory, {what}",
                "size": big,
                "threads": 2,
                "value_mb": ours["peak_mb"],
                "detail": f"{ours['n_features']} features: {ours['peak_mb']:.0f} MB",
                "goal": f"<= {TARGET_PEAK_MB / 1000:g} GB whatever the feature count",
                "met": ours["peak_mb"] <= TARGET_PEAK_MB,
            }
        )
    return out


LEGEND = """
  feat M/s: features only, MPix/s (MVox/s in 3D), all feature channels in the (pixels,
    features) layout a classifier reads. fit s: features of the scribbled pixels + forest.
  pred M/s: classifier stage only; * = brushlab's predict fuses features and forest per
    tile, so this is end-to-end minus the features measured alone in the same process.
  e2e s: features + predict of the whole image (fit excluded).
  Every method first runs once on a small crop (imports, caches); timings are the best
    of 3 runs at 512x512 and of 1 run on larger images.
  peak MB: peak RSS minus RSS after loading the data, in a fresh process per row; for
    classifiers it spans fit and predict (the model included). ~ = extrapolated.
  Peer A (plain scipy) uses numpy.linalg.eigvalsh, as a plain user writes it; Peer A'
    uses the closed-form 2x2 eigenvalues (what a careful user writes). Peer A on 2
    threads: the 49 filter jobs on a ThreadPoolExecutor(2), which scaled 1.3-1.7x here
    (GUIDE: 18 s -> 9 s on 2), so 2-thread ratios may favour brushlab.
  brushlab features-only tiles: 256x256 in 2D, 64x128x128 in 3D (PixelClassifier's).
  Threads: brushlab and Peer B use both cores unless the row says 1 thread.
  other: CPU cores used by OTHER processes on this machine during the row (from
    /proc/stat minus the row's own CPU time); above ~0.2 the row's timing is contended."""


def format_check(check: dict[str, Any], size: str) -> str:
    """One paragraph on whether Peer A computes the same features as brushlab."""
    if "error" in check:
        return f"  feature check failed: {check['error']}"
    return (
        f"  feature check on {size}: brushlab FeatureSet.all() vs plain scipy, max relative "
        f"difference {check['max_rel_diff_interior']:.1e} in the interior, "
        f"{check['max_rel_diff_border']:.1e} within {check['interior_margin_px']} px of the "
        f"border (worst: {check['worst_channel']}); closed-form vs eigvalsh "
        f"{check['closed_form_equals_eigvalsh_rel']:.1e}; 2-thread tiles == "
        f"FeatureSet.compute: {check['threaded_equals_compute']}"
    )


def format_targets(rows: list[dict[str, Any]]) -> str:
    lines = []
    for t in rows:
        value = f"{t['ratio']:.2f}x" if "ratio" in t else ""
        met = {True: "MET", False: "NOT MET", None: ""}[t["met"]]
        lines.append(
            f"  {t['target']:<44} {t['size']:<11} {t['threads']}t  {value:>7}  "
            f"{t.get('detail', ''):<24} goal {t['goal']:<36} {met}"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    import scipy
    import skimage
    import sklearn

    import brushlab

    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-image": skimage.__version__,
        "scikit-learn": sklearn.__version__,
        "brushlab": brushlab.__version__,
    }


def plan(quick: bool) -> list[tuple[str, str]]:
    """(method, size) pairs to measure, cheapest first."""
    jobs = []
    for size in case_names(quick):
        is_3d = size.count("x") == 2
        for method in METHODS:
            if is_3d and method not in METHODS_3D:
                continue
            jobs.append((method, size))
    return jobs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="512x512 and a 16x256x256 stack only")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--engine", action="store_true",
                        help="issue 14: the classifier engine at the sparse and the realistic "
                             "label regime (runs bench_engine.py)")
    parser.add_argument("--_child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.engine:
        from bench_engine import main as engine_main

        return engine_main(["--quick"] if args.quick else [])
    if args._child:
        method, size, mode, path = args._child
        Path(path).write_text(json.dumps(run_child(method, size, mode)))
        return 0

    mode = "quick" if args.quick else "full"
    t_start = time.perf_counter()
    sizes = case_names(args.quick)
    _, _, source = load_slices()
    print(f"brushlab core benchmark ({mode}); data: {source}")
    for name in sizes:
        for note in build_case(name).notes:
            print(f"  {note}")
    print(f"  scribbles: {SCRIBBLES} on training slices {list(TRAIN_SLICES)}, seeds 0..2")
    info = machine()
    print("  " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)

    check = spawn("check", sizes[0], mode)
    records = []
    for method, size in plan(args.quick):
        print(f"  running {METHODS[method]} on {size} ...", end="", flush=True)
        rec = spawn(method, size, mode)
        print(f" {rec.get('child_wall_s', rec.get('error'))} s", flush=True)
        records.append(rec)
    targets = evaluate_targets(records, sizes)

    print()
    print(format_table(records))
    print(LEGEND)
    for r in records:
        if r.get("note") and "error" not in r:
            print(f"  {r['size']} {r['method']}: {r['note']}")
    print(format_check(check, sizes[0]))
    print("\nratios (peer seconds / brushlab seconds) and targets:")
    print(format_targets(targets))
    if args.quick:
        print("  (quick mode: 512x512 stands in for 2048x2048; only the full run decides)")
    total = time.perf_counter() - t_start
    print(f"\ntotal {total:.0f} s")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "mode": mode,
                    "data": source,
                    "machine": info,
                    "records": records,
                    "targets": targets,
                    "feature_check": check,
                    "total_s": round(total, 1),
                },
                indent=2,
            )
        )
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
