"""Benchmark out-of-core blockwise prediction: throughput, peak memory, scaling, in one run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_blockwise.py [--quick] [--json out.json] [--keep DIR]

What it does:

1. Builds two uint8 EM volumes on disk as Zarr (chunks 64 x 256 x 256, spacing 50 x 4 x 4
   nm): about 0.25 GVoxel (64 x 2048 x 2048) and 1 GVoxel (256 x 2048 x 2048), by tiling
   the 20 ISBI 2012 slices of ../shared/data (mirrored 2 x 2 in the plane, slices played
   back and forth along z), or from smoothed noise when that folder is absent.
   ``--quick``: 32 x 512 x 512 and 32 x 1024 x 1024 (the same 1 : 4 ratio).
2. Trains one 3D PixelClassifier on the ISBI stack with simulated scribbles (6 features:
   Gaussian 1 and 3.5, gradient magnitude 1.6, Hessian 1.6; 10 trees of depth 10), saved
   as a model file.
3. Runs each measurement in a fresh subprocess, so its peak RSS (VmHWM) is its own
   (the same-region runs twice, interleaved, keeping the best time):
   in-memory ``PixelClassifier.predict`` of a region that fits in memory (64 x 512 x 1024,
   quick 32 x 512 x 512) loaded whole; ``predict_blockwise`` of the same region (roi=) on
   1 and on 2 threads; and ``predict_blockwise`` of each whole volume on 2 threads. Each
   blockwise time is the whole call: reading, predicting, writing probabilities and
   segmentation to OME-Zarr, building the pyramid and completing the output.

Targets (issue #6): peak RSS flat in volume size (at most 1.2x from the smaller to the
larger volume) and under 2 GB; blockwise throughput per voxel within 20 % of in-memory
predict. The script reports; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "isbi2012"
N_SLICES = 20
SPACING = {"z": 50.0, "y": 4.0, "x": 4.0}  # nanometer, ISBI 2012's nominal voxel size
ZARR_CHUNKS = (64, 256, 256)
FEATURES = {"gaussian": [1.0, 3.5], "ggm": [1.6], "hessian": [1.6]}
TREES, DEPTH = 10, 10
SIZES = {
    "full": {"small": (64, 2048, 2048), "large": (256, 2048, 2048), "roi": (64, 512, 1024)},
    "quick": {"small": (32, 512, 512), "large": (32, 1024, 1024), "roi": (32, 512, 512)},
}
TARGET_RSS_RATIO, TARGET_RSS_MB, TARGET_THROUGHPUT_RATIO = 1.2, 2000.0, 0.8
CHILD_TIMEOUT_S = 1800
REPEATS = 2


# -- data -------------------------------------------------------------------------------


def load_slices() -> tuple[np.ndarray, np.ndarray, str]:
    """(20, 512, 512) uint8 EM slices and truths (0 = membrane), or generated stand-ins."""
    if DATA_DIR.is_dir():
        import imageio.v3 as iio

        images = np.stack([iio.imread(DATA_DIR / f"image_{i:02d}.png") for i in range(N_SLICES)])
        truths = np.stack([iio.imread(DATA_DIR / f"label_{i:02d}.png") for i in range(N_SLICES)])
        return images, truths, f"ISBI 2012 slices 0-19 from {DATA_DIR}"
    from scipy import ndimage as ndi

    rng = np.random.default_rng(0)
    smooth = ndi.gaussian_filter(rng.random((N_SLICES, 512, 512)), (1, 3, 3))
    images = (255 * (smooth - smooth.min()) / np.ptp(smooth)).astype(np.uint8)
    truths = np.where(images > np.median(images), 255, 0).astype(np.uint8)
    return images, truths, "GENERATED smoothed noise (../shared/data/isbi2012 absent)"


def _plane(slices: np.ndarray, z: int, shape: tuple[int, int]) -> np.ndarray:
    period = 2 * N_SLICES - 2  # 0, 1, ..., 19, 18, ..., 1, 0, ...: consecutive sections
    k = z % period
    s = slices[k if k < N_SLICES else period - k]
    mirrored = np.block([[s, s[:, ::-1]], [s[::-1], s[::-1, ::-1]]])
    reps = [-(-n // m) for n, m in zip(shape, mirrored.shape)]
    return np.tile(mirrored, reps)[: shape[0], : shape[1]]


def build_volume(path: Path, shape: tuple[int, int, int], slices: np.ndarray) -> Path:
    """Write ``shape`` voxels as a Zarr array with dims and spacing, slab by slab."""
    import zarr

    if (path / "zarr.json").exists():
        return path
    array = zarr.create_array(
        str(path), shape=shape, chunks=tuple(min(c, n) for c, n in zip(ZARR_CHUNKS, shape)),
        dtype=np.uint8, dimension_names=("z", "y", "x"), overwrite=True,
        attributes={"dims": ["z", "y", "x"], "spacing": SPACING, "unit": "nanometer"})
    step = ZARR_CHUNKS[0]
    for z0 in range(0, shape[0], step):
        slab = np.stack([_plane(slices, z, shape[1:]) for z in range(z0, min(z0 + step, shape[0]))])
        array[z0 : z0 + len(slab)] = slab
    return path


def train_model(images: np.ndarray, truths: np.ndarray, target: Path) -> Path:
    import warnings

    import brushlab
    from brushlab.datasets import simulate_scribbles

    labels = np.zeros(images.shape, np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        for k, z in enumerate((0, 5, 10, 15)):
            labels[z] = simulate_scribbles(truths[z], classes=[0, 255], strokes_per_class=25,
                                           stroke_length=20, seed=k)
    image = brushlab.as_image(images)
    image.attrs.update(spacing=SPACING, unit="nanometer")
    clf = brushlab.PixelClassifier(brushlab.FeatureSet(FEATURES), n_trees=TREES, max_depth=DEPTH,
                                   random_state=0)
    clf.fit(image, labels, class_names=["membrane", "interior"])
    return clf.save(target)


# -- measurements (each in its own process) ------------------------------------------------


def _rss_mb() -> float:
    """Peak RSS of this process so far, in MB.

    VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and
    exec, so a child would report at least the RSS of the benchmark driver.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(mode: str, model: str, source: str, out: str, roi: str, threads: int) -> dict:
    import dask.array  # noqa: F401  (one-time imports stay out of the timings)
    import tqdm  # noqa: F401
    import zarr

    import brushlab
    from brushlab.blockwise._run import predict_blockwise

    box = json.loads(roi)
    clf = brushlab.load_classifier(model)
    base = _rss_mb()
    if mode == "inmem":
        region = tuple(slice(a, b) for a, b in box)
        image = brushlab.as_image(zarr.open_array(source, mode="r")[region])
        image.attrs.update(spacing=SPACING, unit="nanometer")
        clf.n_jobs = threads
        t0 = time.perf_counter()
        result = clf.predict(image, outputs=("probabilities", "segmentation"))
        seconds = time.perf_counter() - t0
        voxels = int(result.segmentation.size)
    else:
        t0 = time.perf_counter()
        run = predict_blockwise(clf, source, out, roi=box or None, n_workers=threads,
                                progress=False)
        seconds = time.perf_counter() - t0
        shape = zarr.open_array(str(Path(out) / "labels" / "segmentation" / "0"), mode="r").shape
        voxels = int(np.prod(shape))  # from the metadata: reading it would count in the RSS
        assert run.chunks_computed == run.chunks_total
    return {"seconds": seconds, "voxels": voxels, "peak_rss_mb": _rss_mb(),
            "baseline_rss_mb": base}


def run_child(name: str, args: list[str], workdir: Path) -> dict:
    result = workdir / f"{name}.json"
    command = [sys.executable, __file__, "--_child", *args, str(result)]
    print(f"  {name} ...", end="", flush=True)
    t0 = time.perf_counter()
    subprocess.run(command, check=True, timeout=CHILD_TIMEOUT_S)
    out = json.loads(result.read_text())
    print(f" {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def _mvox(r: dict) -> float:
    return r["voxels"] / r["seconds"] / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small volumes, under 2 minutes")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--keep", type=Path, help="build (and keep) the volumes in this folder")
    parser.add_argument("--_child", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        mode, model, source, out, roi, threads, target = args._child
        Path(target).write_text(json.dumps(child(mode, model, source, out, roi, int(threads))))
        return 0

    kind = "quick" if args.quick else "full"
    sizes = SIZES[kind]
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench_blockwise_"))
    workdir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    images, truths, source_note = load_slices()
    print(f"data: {source_note}; building volumes in {workdir}", flush=True)
    t0 = time.perf_counter()
    small = build_volume(workdir / f"small_{kind}.zarr", sizes["small"], images)
    large = build_volume(workdir / f"large_{kind}.zarr", sizes["large"], images)
    model = train_model(images, truths, workdir / "model.brushlab")
    print(f"  volumes and model ready in {time.perf_counter() - t0:.0f} s", flush=True)

    roi = json.dumps([[0, n] for n in sizes["roi"]])
    runs: dict[str, dict[str, Any]] = {}
    # The same-region runs are interleaved and repeated (best time kept): on a shared
    # machine, load that comes and goes then hits both sides of each comparison alike.
    plan = [
        ("inmem_2t", "inmem", small, roi, 2),
        ("blockwise_roi_2t", "blockwise", small, roi, 2),
        ("blockwise_roi_1t", "blockwise", small, roi, 1),
    ] * REPEATS + [
        ("blockwise_small_2t", "blockwise", small, "[]", 2),
        ("blockwise_large_2t", "blockwise", large, "[]", 2),
    ]
    load_before = os.getloadavg()[0]
    try:
        for name, mode, source, box, threads in plan:
            out = workdir / f"{name}.ome.zarr"
            shutil.rmtree(out, ignore_errors=True)
            result = run_child(name, [mode, str(model), str(source), str(out), box,
                                      str(threads)], workdir)
            shutil.rmtree(out, ignore_errors=True)
            if name not in runs or result["seconds"] < runs[name]["seconds"]:
                peak = max(result["peak_rss_mb"], runs.get(name, {}).get("peak_rss_mb", 0))
                runs[name] = {**result, "peak_rss_mb": peak}
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    loads = (load_before, os.getloadavg()[0])
    report(runs, sizes, kind, source_note, time.perf_counter() - t_start, loads)
    if args.json:
        args.json.write_text(json.dumps({"mode": kind, "runs": runs, "sizes": sizes}, indent=2))
    return 0


def report(runs: dict[str, dict], sizes: dict, kind: str, note: str, total: float,
           loads: tuple[float, float]) -> None:
    def gvox(shape: tuple[int, ...]) -> str:
        return f"{'x'.join(map(str, shape))} ({np.prod(shape) / 1e9:.3f} GVox)"

    print()
    print(f"brushlab blockwise benchmark ({kind}), {platform.machine()}, "
          f"{os.cpu_count()} cores, python {platform.python_version()}; data: {note}")
    print(f"classifier: 3D, {FEATURES}, {TREES} trees of depth {DEPTH}; "
          f"source Zarr chunks {ZARR_CHUNKS}, output chunks 64x256x256 (default)")
    print()
    rows = [
        ("in-memory predict, 2 threads", "inmem_2t", sizes["roi"]),
        ("blockwise, same region, 1 thread", "blockwise_roi_1t", sizes["roi"]),
        ("blockwise, same region, 2 threads", "blockwise_roi_2t", sizes["roi"]),
        ("blockwise, smaller volume, 2 threads", "blockwise_small_2t", sizes["small"]),
        ("blockwise, larger volume, 2 threads", "blockwise_large_2t", sizes["large"]),
    ]
    print(f"| {'run':<38} | {'volume':<30} | {'time s':>7} | {'MVox/s':>6} | {'peak RSS MB':>11} |")
    print(f"|{'-' * 40}|{'-' * 32}|{'-' * 9}|{'-' * 8}|{'-' * 13}|")
    for label, key, shape in rows:
        r = runs[key]
        print(f"| {label:<38} | {gvox(shape):<30} | {r['seconds']:>7.1f} | {_mvox(r):>6.2f} "
              f"| {r['peak_rss_mb']:>11.0f} |")
    inmem, roi1, roi2 = runs["inmem_2t"], runs["blockwise_roi_1t"], runs["blockwise_roi_2t"]
    small, large = runs["blockwise_small_2t"], runs["blockwise_large_2t"]
    ratio = _mvox(roi2) / _mvox(inmem)
    rss_ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
    peak = max(r["peak_rss_mb"] for k, r in runs.items() if k.startswith("blockwise"))

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print()
    print(f"throughput blockwise / in-memory (same region, 2 threads): {ratio:.2f} "
          f"(target >= {TARGET_THROUGHPUT_RATIO}: {verdict(ratio >= TARGET_THROUGHPUT_RATIO)})")
    print(f"per-voxel throughput larger / smaller volume: {_mvox(large) / _mvox(small):.2f}")
    print(f"peak RSS larger / smaller volume: {rss_ratio:.2f} "
          f"(target <= {TARGET_RSS_RATIO}: {verdict(rss_ratio <= TARGET_RSS_RATIO)}); "
          f"largest blockwise peak {peak:.0f} MB "
          f"(target < {TARGET_RSS_MB:.0f}: {verdict(peak < TARGET_RSS_MB)})")
    print(f"speed-up 1 -> 2 threads (blockwise, same region): {_mvox(roi2) / _mvox(roi1):.2f}x")
    print(f"RSS after imports and loading the model: {small['baseline_rss_mb']:.0f} MB; "
          f"total benchmark time {total:.0f} s; load average {loads[0]:.1f} before, "
          f"{loads[1]:.1f} after (same-region runs: best of {REPEATS})")


if __name__ == "__main__":
    sys.exit(main())
