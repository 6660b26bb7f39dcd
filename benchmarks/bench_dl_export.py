"""Issue 7: does an exported Model Zoo package reproduce brushlab, and how fast does it run?

A pixel classifier (default features, 100 trees) is trained from simulated scribbles on
ISBI 2012 slice 0 and on BBBC039 image 00, exported with ``export_bioimageio`` and
reopened with ``brushlab.load_model``. On held-out images (whole, borders included) it
reports the max abs difference of the probabilities, the fraction of values that differ by
more than 1e-4 and of pixels whose segmentation differs, and the time of
``PixelClassifier.predict`` vs the ONNX model's ``predict`` (onnxruntime, CPU).

    .venv/bin/python benchmarks/bench_dl_export.py [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import brushlab
from brushlab.datasets import simulate_scribbles

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def cases(quick: bool):
    isbi = DATA / "isbi2012"
    truth = (brushlab.imread(isbi / "label_00.png").values > 0).astype(np.uint8)
    yield (
        "ISBI 2012",
        brushlab.imread(isbi / "image_00.png"),
        simulate_scribbles(truth, strokes_per_class=10, seed=0),
        ["membrane", "cell"],
        [brushlab.imread(isbi / f"image_{i:02d}.png") for i in ((1,) if quick else (1, 2, 3))],
    )
    bbbc = DATA / "bbbc039"
    mask = (np.asarray(brushlab.imread(bbbc / "mask_00.png").values)[..., 0] > 0).astype(np.uint8)
    held_out = ("04",) if quick else ("04", "06", "07")
    yield (
        "BBBC039",
        brushlab.imread(bbbc / "image_00.tif"),
        simulate_scribbles(mask, strokes_per_class=10, seed=0),
        ["background", "nucleus"],
        [brushlab.imread(bbbc / f"image_{i}.tif") for i in held_out],
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(f"{'data':10} {'image':>9} {'max |dp|':>9} {'>1e-4':>8} {'seg diff':>8} "
          f"{'brushlab s':>10} {'onnx s':>7}")
    for name, image, scribbles, classes, tests in cases(args.quick):
        clf = brushlab.PixelClassifier(n_trees=100, random_state=0, n_jobs=args.threads)
        clf.fit(image, scribbles, class_names=classes)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            path = clf.export_bioimageio(Path(tmp) / "pkg", sample_image=image, name=name)
            export_s = time.perf_counter() - t0
            size = sum(f.stat().st_size for f in path.iterdir()) / 1e6
            model = brushlab.load_model(path, threads=args.threads)
            assert model.test().passed
            model.predict(tests[0])  # warm the session
            for img in tests:
                t0 = time.perf_counter()
                ref = clf.predict(img)
                t_ref = time.perf_counter() - t0
                t0 = time.perf_counter()
                got = model.predict(img)
                t_onnx = time.perf_counter() - t0
                d = np.abs(got.probabilities.values - ref.probabilities.values)
                seg = np.mean(got.segmentation.values != ref.segmentation.values)
                shape = "x".join(str(s) for s in img.shape)
                print(f"{name:10} {shape:>9} {d.max():9.2g} {np.mean(d > 1e-4):8.2%} {seg:8.2%} "
                      f"{t_ref:10.2f} {t_onnx:7.2f}")
        print(f"{name}: export {export_s:.1f} s, package {size:.2f} MB")


if __name__ == "__main__":
    main()
