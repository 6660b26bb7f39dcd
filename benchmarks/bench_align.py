"""Benchmark serial-section alignment on ISBI 2012 with known misalignments vs phase correlation.

Run from the repository root::

    BRUSHLAB_DATA=../shared/data .venv/bin/python benchmarks/bench_align.py [--quick]

What it does (one run, so machine load affects brushlab and the peer alike):

0. Checks the premise of the "20 slices" rows: per neighbouring pair of the published
   stack, the normalised cross-correlation as published and after brushlab's affine
   registration of the pair, and how far that registration moves the sections
   (``--published-only`` stops after this).
1. Loads the 20 ISBI 2012 slices (512 x 512, an aligned ssTEM stack) and builds misaligned
   stacks with known per-section transforms (section 0, the reference, untouched): random
   translations up to 40 px, rotations up to 5 degrees, shear and scale up to 3 %; the
   "elastic" stacks add a smooth random warp of up to 4 px; one section (12) is damaged
   (70 % blanked, the rest drowned in noise).
2. Residual registration error against the known truth, median and 95th percentile in
   pixels on a dense grid (every 4th pixel of the central 256 x 256), over all sections
   but the reference and the damaged one, for brushlab's models and for the peer: plain
   ``skimage.registration.phase_cross_correlation`` of neighbouring sections, chained.
   (``s/pair``: wall time of ``align`` per section pair, all cores.) Two kinds of stack:
   - "one slice": slice 5 repeated, each copy under its own transform, so the true
     transform between sections is exactly known (registration accuracy);
   - "20 slices": the real consecutive sections. Neighbouring sections differ (50 nm
     apart), so even the never-misaligned stack registers to non-zero transforms; the
     table gives the residual against the known truth and against aligning the
     never-misaligned stack with the same method ("own"; not for "one slice").
3. Pairs per second for 512 x 512 affine (all cores, threads) and the peer's.
4. Peak RSS of ``align_blockwise`` of a 64- and a 256-section stack (ISBI tiled with
   random shifts, 256 x 256 crops, read from Zarr, affine, neighbors=1), each in a fresh
   subprocess.
5. 3D membrane F1 (label 0 of label_XX.png) of one 3D PixelClassifier, trained on
   scribbles of 3 never-misaligned slices, scored on the other 17 slices: on the
   never-misaligned stack, the misaligned one, and the realigned ones (labels carried by
   the same transforms with ``apply_alignment(order=0)``), over the region every stack
   covers.

Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(os.environ.get("BRUSHLAB_DATA", Path(__file__).resolve().parents[2] / "shared"
                           / "data")) / "isbi2012"
N, SIZE, STEP = 20, 512, 32
DAMAGED = 12
TARGETS = {"median": 0.5, "p95": 1.5, "elastic_p95": 1.5, "pairs_per_s": 2.0, "rss_ratio": 1.2,
           "f1_gap": 0.01}


def load() -> tuple[np.ndarray, np.ndarray]:
    import imageio.v3 as iio

    if not (DATA / "image_00.png").is_file():
        sys.exit(f"ISBI 2012 slices not found under {DATA}; set BRUSHLAB_DATA")
    images = np.stack([iio.imread(DATA / f"image_{i:02d}.png") for i in range(N)])
    labels = np.stack([iio.imread(DATA / f"label_{i:02d}.png") for i in range(N)])
    return images, labels


def random_truth(rng: np.random.Generator, n: int, shape: tuple[int, int], *,
                 elastic: float) -> list[tuple[np.ndarray, np.ndarray | None]]:
    from scipy import ndimage as ndi

    out: list[tuple[np.ndarray, np.ndarray | None]] = [(np.eye(3), None)]
    centre = (np.array(shape) - 1) / 2
    ny, nx = (-(-s // STEP) + 1 for s in shape)
    for _ in range(n - 1):
        a = np.deg2rad(rng.uniform(-5, 5))
        lin = (np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
               @ np.array([[1, rng.uniform(-0.03, 0.03)], [0, 1]]) * rng.uniform(0.97, 1.03))
        m = np.eye(3)
        m[:2, :2] = lin
        m[:2, 2] = centre - lin @ centre + rng.uniform(-40, 40, 2)
        field = None
        if elastic:
            f = ndi.gaussian_filter(rng.normal(size=(2, ny, nx)), (0, 2, 2), mode="wrap")
            field = (f / np.abs(f).max() * elastic).astype(np.float32)
        out.append((m, field))
    return out


def misalign(stack: np.ndarray, truth: list, order: int = 1, damage: bool = True) -> np.ndarray:
    from brushlab.align._apply import warp_section

    out = np.stack([warp_section(s, m, field=f, step=STEP, order=order)
                    for s, (m, f) in zip(stack, truth)])
    if damage and order == 1:
        rng = np.random.default_rng(99)
        bad = out[DAMAGED].astype(np.float64)
        bad[: int(0.7 * SIZE)] = 0
        bad += rng.normal(0, 80, bad.shape)
        out[DAMAGED] = np.clip(bad, 0, 255).astype(out.dtype)
    return out


def positions(truth: list, matrices: np.ndarray, fields: np.ndarray | None, step: int,
              ) -> np.ndarray:
    """Where each section's central grid pixels come from in the original sections."""
    from scipy import ndimage as ndi

    from brushlab.align._apply import source_coordinates

    lo = SIZE // 4
    out = []
    for z, (g, e) in enumerate(truth):
        f = fields[z] if fields is not None else None
        yx = source_coordinates(matrices[z], (slice(lo, SIZE - lo), slice(lo, SIZE - lo)),
                                f, step)[:, ::4, ::4]
        if e is not None:
            yx = yx + np.stack([ndi.map_coordinates(e[k].astype(np.float64), yx / STEP,
                                                    order=1, mode="nearest") for k in range(2)])
        out.append(np.einsum("ij,jyx->iyx", g[:2, :2], yx) + g[:2, 2, None, None])
    return np.stack(out)


def residual(truth: list, matrices: np.ndarray, fields: np.ndarray | None, step: int,
             base: tuple[np.ndarray, np.ndarray | None] | None = None) -> np.ndarray:
    """Distance to the reference's pixels (or, with base, to where aligning the
    never-misaligned stack put them)."""
    got = positions(truth, matrices, fields, step)
    if base is None:
        want = np.broadcast_to(got[0], got.shape)
    else:
        identity = [(np.eye(3), None)] * len(truth)
        want = positions(identity, base[0], base[1], step)
    keep = [z for z in range(1, len(truth)) if z != DAMAGED]
    return np.linalg.norm(got[keep] - want[keep], axis=1).ravel()


def peer_align(stack: np.ndarray) -> tuple[np.ndarray, float]:
    """Chained phase_cross_correlation of neighbours (translation only), and seconds/pair."""
    from skimage.registration import phase_cross_correlation

    mats = np.tile(np.eye(3), (len(stack), 1, 1))
    t0 = time.perf_counter()
    for i in range(1, len(stack)):
        shift = phase_cross_correlation(stack[i - 1].astype(np.float32),
                                        stack[i].astype(np.float32), upsample_factor=20)[0]
        mats[i] = mats[i - 1]
        mats[i][:2, 2] = mats[i - 1][:2, 2] - shift
    return mats, (time.perf_counter() - t0) / (len(stack) - 1)


def stats(err: np.ndarray) -> tuple[float, float]:
    return float(np.median(err)), float(np.percentile(err, 95))


def accuracy(images: np.ndarray, models: list[str]) -> None:
    """Print one row per (stack, content, method) as soon as it is measured."""
    import brushlab

    rng = np.random.default_rng(0)
    one = np.repeat(images[5:6], N, axis=0)
    for kind, elastic in (("affine", 0.0), ("elastic", 4.0)):
        truth = random_truth(rng, N, (SIZE, SIZE), elastic=elastic)
        for name, source in (("one slice", one), ("20 slices", images)):
            stack = misalign(source, truth)
            own = name != "one slice"  # one slice: the truth between sections is exact

            def row(method: str, err: np.ndarray, base_err: np.ndarray | None, sec: float,
                    damaged: Any = "-", kind: str = kind, name: str = name) -> None:
                med, p95 = stats(err)
                own_med, own_p95 = stats(base_err) if base_err is not None else (np.nan, np.nan)
                print(f"{kind:8s} {name:10s} {method:31s} {med:7.2f} {p95:7.2f} "
                      f"{own_med:8.2f} {own_p95:8.2f} {sec:8.3f}  {damaged}", flush=True)

            mats, per_pair = peer_align(stack)
            base_peer = peer_align(source)[0] if own else None
            row("phase_cross_correlation (peer)", residual(truth, mats, None, 0),
                residual(truth, mats, None, 0, (base_peer, None)) if own else None, per_pair)
            for model in models:
                t0 = time.perf_counter()
                t = brushlab.align(stack, model=model, step=STEP).transforms
                seconds = time.perf_counter() - t0
                base_err = None
                if own:
                    base = brushlab.align(source, model=model, step=STEP).transforms
                    base_err = residual(truth, t.matrices, t.fields, t.step,
                                        (base.matrices, base.fields))
                row(f"brushlab {model}", residual(truth, t.matrices, t.fields, t.step),
                    base_err, seconds / t.info["pairs"], t.damaged)


def throughput(images: np.ndarray) -> tuple[float, float]:
    """Pairs per second: brushlab affine (all cores, the pair stage of align) and the peer."""
    from brushlab.align._estimate import AlignOptions, SectionSource, _pair_task, _run
    from brushlab.align._runners import make_runner

    rng = np.random.default_rng(1)
    stack = misalign(images, random_truth(rng, N, (SIZE, SIZE), elastic=0), damage=False)
    data = stack[:, None]
    source = SectionSource(data.__getitem__, N, (SIZE, SIZE), AlignOptions(neighbors=1))
    t0 = time.perf_counter()
    _run([(_pair_task, (source, i - 1, i)) for i in range(1, N)], make_runner(progress=False),
         "pairs")
    ours = (N - 1) / (time.perf_counter() - t0)
    _, peer_seconds = peer_align(stack)
    return ours, 1 / peer_seconds


_CHILD = r"""
import json, resource, sys, time
import numpy as np
import brushlab
src, out = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
r = brushlab.align.align_blockwise(src, out, model="affine", neighbors=1, chunks=(1, 256, 256),
                                   progress=False)
peak = 0.0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        peak = float(line.split()[1]) / 1024
print(json.dumps({"seconds": time.perf_counter() - t0, "peak_mb": peak,
                  "damaged": r.transforms.damaged}))
"""


def memory(images: np.ndarray, sizes: tuple[int, ...]) -> dict[int, dict[str, Any]]:
    import zarr

    from brushlab.align._apply import warp_section

    rng = np.random.default_rng(2)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"stack{n}.zarr"
            array = zarr.open_array(str(path), mode="w", shape=(n, 256, 256), chunks=(1, 256, 256),
                                    dtype=np.uint8, zarr_format=3,
                                    dimension_names=["z", "y", "x"])
            for z in range(n):  # ISBI played back and forth, each section shifted at random
                k = z % (2 * N - 2)
                src = images[k if k < N else 2 * N - 2 - k, 128:384, 128:384]
                m = np.eye(3)
                m[:2, 2] = rng.uniform(-20, 20, 2)
                array[z] = warp_section(src, m)
            env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
            done = subprocess.run([sys.executable, "-c", _CHILD, str(path),
                                   str(Path(tmp) / f"out{n}.ome.zarr")], capture_output=True,
                                  text=True, env=env, timeout=3600)
            if done.returncode:
                sys.exit(f"memory run for {n} sections failed:\n{done.stderr[-3000:]}")
            out[n] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def membrane_f1(images: np.ndarray, labels: np.ndarray, quick: bool) -> list[str]:
    import brushlab
    from brushlab.align import apply_alignment

    crop = (slice(96, 416), slice(96, 416))
    classes = np.where(labels == 0, 1, 2).astype(np.uint8)  # 1 membrane, 2 interior
    rng = np.random.default_rng(3)
    train_slices = [2, 9, 16]
    sparse = np.zeros_like(classes)
    for z in train_slices:
        pick = rng.random(classes[z].shape) < 0.01
        sparse[z][pick] = classes[z][pick]
    features = brushlab.FeatureSet({"gaussian_smoothing": [0.7, 1.6], "hessian_of_gaussian"
                                    "_eigenvalues": [1.0, 1.6],
                                    "gaussian_gradient_magnitude": [1.6]})
    volume = brushlab.as_image(images, dims="zyx")
    clf = brushlab.PixelClassifier(features, n_trees=30, random_state=0)
    clf.fit(volume[:, crop[0], crop[1]], sparse[:, crop[0], crop[1]],
            class_names=["membrane", "interior"])
    truth = random_truth(np.random.default_rng(4), N, (SIZE, SIZE), elastic=4.0)
    mis = misalign(images, truth, damage=False)
    mis_labels = misalign(classes, truth, order=0)
    ones = misalign(np.ones_like(images), truth, order=0)
    stacks = {"never misaligned": (images, classes, np.ones_like(images)),
              "misaligned": (mis, mis_labels, ones)}
    peer = peer_align(mis)[0]
    from brushlab.align import SectionTransforms

    aligned = {"realigned: phase_cross_correlation (peer)": SectionTransforms(
        peer, (SIZE, SIZE), 0, "translation", ("reference",) + ("ok",) * (N - 1))}
    for model in (["affine", "elastic"] if not quick else ["elastic"]):
        aligned[f"realigned: brushlab {model}"] = brushlab.align(mis, model=model,
                                                                 step=STEP).transforms
    for name, t in aligned.items():
        stacks[name] = (apply_alignment(mis, t).values, apply_alignment(mis_labels, t, order=0)
                        .values, apply_alignment(ones, t, order=0).values)
    common = np.ones(images.shape, bool)
    for _, _, valid in stacks.values():
        common &= valid.astype(bool)
    test = [z for z in range(N) if z not in train_slices]
    rows = []
    for name, (img, lab, _) in stacks.items():
        seg = clf.predict(brushlab.as_image(img[:, crop[0], crop[1]], dims="zyx"),
                          outputs=("segmentation",)).segmentation.values
        keep = common[:, crop[0], crop[1]][test] & (lab[:, crop[0], crop[1]][test] > 0)
        pred = seg[test][keep] == 1
        true = lab[:, crop[0], crop[1]][test][keep] == 1
        tp = float((pred & true).sum())
        f1 = 2 * tp / max(1.0, float(pred.sum() + true.sum()))
        rows.append((name, f1))
    base = rows[0][1]
    return [f"{name:45s} {f1:6.3f}  {f1 - base:+7.3f}" for name, f1 in rows]


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    ok = ~np.isnan(b)
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def published_neighbours(images: np.ndarray) -> list[str]:
    """How well the published stack's neighbours already agree, and what registration finds.

    Per pair of the never-misaligned stack: normalised cross-correlation of the central
    384 x 384 as published and after warping the second section by brushlab's affine
    estimate of the pair, and how far that estimate moves the central grid (median px).
    If the published alignment were the similarity optimum of neighbours, the estimate
    would stay near the identity and the correlation would not rise.
    """
    from brushlab.align._pairwise import estimate_pair, prepare, warp_pull

    c = slice(64, SIZE - 64)
    yy, xx = np.meshgrid(np.arange(SIZE // 4, 3 * SIZE // 4, 8),
                         np.arange(SIZE // 4, 3 * SIZE // 4, 8), indexing="ij")
    grid = np.stack([yy.ravel(), xx.ravel(), np.ones(yy.size)])
    lines = [f"{'pair':>6s} {'NCC published':>14s} {'NCC registered':>15s} {'moves (px)':>11s}"]
    rows = []
    for k in range(len(images) - 1):
        a, b = prepare(images[k]), prepare(images[k + 1])
        matrix = estimate_pair(a, b, model="affine").matrix
        moved = float(np.median(np.linalg.norm((matrix @ grid - grid)[:2], axis=0)))
        rows.append((_ncc(a[c, c], b[c, c]), _ncc(a[c, c], warp_pull(b, matrix)[c, c]), moved))
        lines.append(f"{k:>2d}-{k + 1:<3d} {rows[-1][0]:14.3f} {rows[-1][1]:15.3f} {moved:11.1f}")
    med = np.median(rows, axis=0)
    lines.append(f"median {med[0]:14.3f} {med[1]:15.3f} {med[2]:11.1f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--published-only", action="store_true",
                        help="only the check of the published stack's neighbours")
    parser.add_argument("--quick", action="store_true", help="32 and 128 sections for the RSS")
    parser.add_argument("--all-models", action="store_true",
                        help="translation and rigid too (default: affine and elastic)")
    args = parser.parse_args()
    images, labels = load()
    print(f"# bench_align  loadavg before {os.getloadavg()}  cores {os.cpu_count()}")
    print("\n## the published ISBI stack: do its neighbours sit at their registration optimum?")
    print("\n".join(published_neighbours(images)))
    if args.published_only:
        return
    print("\n## residual vs known truth (px; central 256x256 grid, all sections but the "
          "reference and damaged #12)")
    print(f"{'stack':8s} {'content':10s} {'method':31s} {'median':>7s} {'p95':>7s} "
          f"{'own med':>8s} {'own p95':>8s} {'s/pair':>8s}  damaged found")
    models = ["translation", "rigid", "affine", "elastic"] if args.all_models else [
        "affine", "elastic"]
    accuracy(images, models)
    ours, peer = throughput(images)
    sys.stdout.flush()
    print(f"\n## pairs per second, 512x512, all cores  (loadavg {os.getloadavg()})")
    print(f"brushlab affine {ours:6.2f}   phase_cross_correlation {peer:6.2f}   "
          f"ratio {ours / peer:5.2f}   target >= {TARGETS['pairs_per_s']}")
    sizes = (32, 128) if args.quick else (64, 256)
    mem = memory(images, sizes)
    ratio = mem[sizes[1]]["peak_mb"] / mem[sizes[0]]["peak_mb"]
    print("\n## peak RSS of align_blockwise (256x256 sections, affine, neighbors=1)")
    for n, m in mem.items():
        print(f"{n:4d} sections: peak {m['peak_mb']:7.1f} MB  {m['seconds']:6.1f} s")
    print(f"ratio {ratio:.2f}   target <= {TARGETS['rss_ratio']}")
    print(f"\n## 3D membrane F1 (17 unlabelled slices, central 320x320, common region)  "
          f"(loadavg {os.getloadavg()})")
    print("\n".join(membrane_f1(images, labels, args.quick)))


if __name__ == "__main__":
    main()
