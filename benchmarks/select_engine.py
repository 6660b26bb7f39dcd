"""Choose the boosted-tree defaults on real data, against today's random forest.

Run: ``.venv/bin/python benchmarks/select_engine.py [--quick]``. Uses ../shared/data.

- ISBI 2012, realistic label regime: simulated scribbles on all 20 slices (72 strokes of
  ~20 px per class and slice, seeds = slice index: ~48k labelled pixels, 0.9 %), the
  default 41 features; membrane F1 on slices 15-19 over the pixels no scribble touches;
  fit time; predict time of one 512x512 slice (classifier only, features precomputed).
- BBBC039 nuclei: per image, 10 strokes per class (seed 1) as tests/test_accuracy.py;
  nucleus pixel F1 on the whole image, mean over the 13 images.
- "unc err": among the 5 % most uncertain of those ISBI pixels (1 - (p_max - p_2nd)), the
  share that is misclassified (higher: uncertainty points at errors better).
- blobs: the sparse manual annotation split in two halves (random, seed 0): train on one,
  accuracy on the other, both ways.

Every candidate sees the same features and labels. The table chose
``brushlab.classifier.boosted_trees.DEFAULTS`` (benchmarks/README.md, "Classifier engine").
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import brushlab
from brushlab.datasets import simulate_scribbles
from brushlab.metrics import f1_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import uncertain_error_share  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RF = {"model": "random_forest"}
CANDIDATES: dict[str, dict[str, Any]] = {
    "RF 100 (random_forest)": RF,
    "boosted 30x15 lr0.2": {"n_trees": 30, "n_leaves": 15, "learning_rate": 0.2},
    "boosted 50x15 lr0.1": {"n_trees": 50, "n_leaves": 15, "learning_rate": 0.1},
    "boosted 50x15 balanced": {"n_trees": 50, "n_leaves": 15, "class_weight": "balanced"},
    "boosted 50x31 lr0.1": {"n_trees": 50, "n_leaves": 31, "learning_rate": 0.1},
    "boosted 100x15 lr0.1": {"n_trees": 100, "n_leaves": 15, "learning_rate": 0.1},
    "boosted 100x7 lr0.1": {"n_trees": 100, "n_leaves": 7, "learning_rate": 0.1},
}


def rows_of(fs: brushlab.FeatureSet, image: np.ndarray) -> np.ndarray:
    feats = np.asarray(fs.compute(image))  # (y, x, F)
    return np.ascontiguousarray(feats.reshape(-1, feats.shape[-1]))


def classifier(params: dict[str, Any], fs: brushlab.FeatureSet) -> brushlab.PixelClassifier:
    return brushlab.PixelClassifier(fs, random_state=0, **params)


def fit(clf: brushlab.PixelClassifier, x: np.ndarray, y: np.ndarray) -> float:
    t0 = time.perf_counter()
    clf.fit_features(x, y, class_names=["a", "b"], n_channels=1, spatial_ndim=2)
    return time.perf_counter() - t0


def isbi(params: dict[str, Any], data: dict[str, Any]) -> dict[str, float]:
    clf = classifier(params, data["fs"])
    fit_s = fit(clf, data["x"], data["y"])
    scores, seconds, ps, wrongs = [], [], [], []
    for i in data["test"]:
        t0 = time.perf_counter()
        p = clf.predict_features(data["rows"][i].T)
        seconds.append(time.perf_counter() - t0)
        free = data["labels"][i].reshape(-1) == 0
        seg = np.argmax(p, axis=0) + 1
        membrane = data["truth"][i].reshape(-1)[free] == 0
        scores.append(f1_score((seg == 1)[free], membrane))
        ps.append(p[:, free])
        wrongs.append((seg == 1)[free] != membrane)
    return {"isbi_f1": float(np.mean(scores)), "fit_s": fit_s, "predict_s": float(np.min(seconds)),
            "unc_err": uncertain_error_share(np.concatenate(ps, axis=1), np.concatenate(wrongs))}


def bbbc(params: dict[str, Any], data: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> float:
    scores = []
    for rows, scribbles, mask in data:
        labelled = scribbles.reshape(-1) > 0
        clf = classifier(params, brushlab.FeatureSet.default())
        fit(clf, rows[labelled], scribbles.reshape(-1)[labelled].astype(np.int64))
        seg = np.argmax(clf.predict_features(rows.T), axis=0) + 1
        scores.append(f1_score(seg == 2, mask.reshape(-1)))
    return float(np.mean(scores))


def blobs(params: dict[str, Any], data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> float:
    rows, labels, half = data
    correct = total = 0
    for train in (half, ~half):
        pick, test = (labels > 0) & train, (labels > 0) & ~train
        clf = classifier(params, brushlab.FeatureSet.default())
        fit(clf, rows[pick], labels[pick].astype(np.int64))
        seg = np.argmax(clf.predict_features(rows[test].T), axis=0) + 1
        correct += int((seg == labels[test]).sum())
        total += int(test.sum())
    return correct / total


def load(quick: bool) -> tuple[dict[str, Any], list, tuple]:
    fs = brushlab.FeatureSet.default()
    root = DATA / "isbi2012"
    images = [brushlab.imread(root / f"image_{i:02d}.png").values for i in range(20)]
    truth = [brushlab.imread(root / f"label_{i:02d}.png").values for i in range(20)]
    labels = [simulate_scribbles(truth[i], classes=[0, 255], strokes_per_class=72,
                                 stroke_length=20, seed=i) for i in range(20)]
    rows = [rows_of(fs, im) for im in images]
    x = np.concatenate([r[lab.reshape(-1) > 0] for r, lab in zip(rows, labels)])
    y = np.concatenate([lab[lab > 0] for lab in labels]).astype(np.int64)
    isbi_data = {"fs": fs, "rows": rows, "labels": labels, "truth": truth, "x": x, "y": y,
                 "test": range(15, 20)}
    bbbc_data = []
    paths = sorted((DATA / "bbbc039").glob("image_*.tif"))
    for path in paths[:4] if quick else paths:
        k = path.stem.split("_")[1]
        image = brushlab.imread(path).values
        mask = brushlab.imread(DATA / "bbbc039" / f"mask_{k}.png").values[..., 0] > 0
        s = simulate_scribbles(mask.astype(np.uint8), classes=[0, 1], strokes_per_class=10, seed=1)
        bbbc_data.append((rows_of(fs, image), s, mask))
    image = brushlab.imread(DATA / "blobs" / "blobs.tif").values
    annotation = brushlab.imread(DATA / "blobs" / "blobs_annotated.tif").values.reshape(-1)
    half = np.random.default_rng(0).random(annotation.size) < 0.5
    return isbi_data, bbbc_data, (rows_of(fs, image), annotation, half)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 BBBC039 images")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
    isbi_data, bbbc_data, blobs_data = load(args.quick)
    print(f"ISBI realistic regime: {len(isbi_data['y'])} labelled pixels on 20 slices "
          f"({len(isbi_data['y']) / (20 * 512 * 512):.2%})", flush=True)
    head = (f"{'classifier (41 default features)':28s} {'ISBI F1':>8s} {'fit s':>6s} "
            f"{'pred s/512²':>11s} {'unc err':>7s} {'BBBC F1':>8s} {'blobs acc':>9s}")
    print(head + "\n" + "-" * len(head))
    for name, params in CANDIDATES.items():
        r = isbi(params, isbi_data)
        print(f"{name:28s} {r['isbi_f1']:8.4f} {r['fit_s']:6.2f} {r['predict_s']:11.3f} "
              f"{r['unc_err']:7.3f} "
              f"{bbbc(params, bbbc_data):8.4f} {blobs(params, blobs_data):9.4f}", flush=True)
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
