"""Measure candidate default feature sets on real data: F1 from scribbles and feature cost.

Run: ``.venv/bin/python benchmarks/select_defaults.py``. Uses ../shared/data
(ISBI 2012 membranes, BBBC039 nuclei). The result chose ``FeatureSet.default()``;
see benchmarks/README.md.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import brushlab
from brushlab.datasets import simulate_scribbles
from brushlab.features import FeatureSet
from brushlab.metrics import f1_score

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FAMILIES = list(brushlab.features.FAMILIES)
CANDIDATES = {
    "all 7 scales (49 ch)": FeatureSet.all(),
    "0.3-5.0 (42 ch)": FeatureSet.all(scales=(0.3, 0.7, 1.0, 1.6, 3.5, 5.0)),
    "0.3,0.7,1.6,3.5,5 (36 ch)": FeatureSet.all(scales=(0.3, 0.7, 1.6, 3.5, 5.0)),
    "0.7,1.6,3.5 (24 ch)": FeatureSet.all(scales=(0.7, 1.6, 3.5)),
    "1.0,3.5,10 (24 ch)": FeatureSet.all(scales=(1.0, 3.5, 10.0)),
}


def isbi_f1(fs: FeatureSet) -> float:
    root = DATA / "isbi2012"
    img = {i: brushlab.imread(root / f"image_{i:02d}.png").values for i in range(20)}
    gt = {i: brushlab.imread(root / f"label_{i:02d}.png").values for i in range(20)}
    scores = []
    for seed, (train, test) in enumerate([((0, 5, 10), (15, 17, 19)), ((2, 8, 14), (4, 11, 18))]):
        labs = [
            simulate_scribbles(
                gt[i], classes=[0, 255], strokes_per_class=25, stroke_length=20, seed=i + 100 * seed
            )
            for i in train
        ]
        clf = brushlab.PixelClassifier(fs, random_state=0).fit([img[i] for i in train], labs)
        scores += [f1_score(clf.predict(img[i]).segmentation.values == 1, gt[i] == 0) for i in test]
    return float(np.mean(scores))


def bbbc_f1(fs: FeatureSet) -> float:
    root = DATA / "bbbc039"
    scores = []
    for path in sorted(root.glob("image_*.tif")):
        k = path.stem.split("_")[1]
        image = brushlab.imread(path).values
        mask = brushlab.imread(root / f"mask_{k}.png").values[..., 0] > 0
        s = simulate_scribbles(mask.astype(np.uint8), classes=[0, 1], strokes_per_class=10, seed=1)
        clf = brushlab.PixelClassifier(fs, random_state=0).fit(image, s)
        scores.append(f1_score(clf.predict(image).segmentation.values == 2, mask))
    return float(np.mean(scores))


def feature_mpix_s(fs: FeatureSet) -> float:
    img = np.random.default_rng(0).random((1024, 1024)).astype(np.float32)
    with threadpool_limits(1):
        t = time.perf_counter()
        fs.compute(img, tile_shape=(256, 256))
        return img.size / (time.perf_counter() - t) / 1e6


def main() -> None:
    print(f"{'feature set':28s} {'ISBI F1':>8s} {'BBBC F1':>8s} {'MPix/s 1 thread':>16s}")
    for name, fs in CANDIDATES.items():
        print(
            f"{name:28s} {isbi_f1(fs):8.4f} {bbbc_f1(fs):8.4f} {feature_mpix_s(fs):16.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
