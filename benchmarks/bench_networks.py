"""Issue 15: networks trained from scribbles vs the forest, side by side in one run.

Methods (same scribbles, same machine, same run):

- forest: ``PixelClassifier(random_state=0)`` (brushlab's default model);
- forest + CRF: the forest's probabilities refined by ``brushlab.objects.crf_smooth``;
- network: ``NetworkClassifier(forest=None)``, a U-Net from the scribbles alone;
- network + forest: ``NetworkClassifier(forest=True)``, the U-Net also reading the
  forest's (out-of-fold) probabilities.

ISBI 2012: train on simulated scribbles (25 strokes of 20 pixels per class) of slices
0-14, membrane F1 (membrane = label 0) on slices 15-19.
BBBC039: train on scribbles (10 strokes per class) of images 00-07, nucleus pixel F1
and instance F1 at IoU 0.5 (``brushlab.instances(separate=True)`` on every method's
segmentation) on images 09-18.
Timing: training wall time (forest included), prediction of a 2048 x 2048 mosaic of
ISBI slices; peak RSS (psutil, sampled every 50 ms) during each training.

    .venv/bin/python benchmarks/bench_networks.py [--minutes 5] [--bbbc-minutes 2] [--quick]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import brushlab
from brushlab import metrics, objects
from brushlab.datasets import simulate_scribbles
from brushlab.network import NetworkClassifier

DATA = Path(os.environ.get("BRUSHLAB_DATA",
                          Path(__file__).resolve().parents[2] / "shared" / "data"))
METHODS = ("forest", "forest + CRF", "network", "network + forest")


class PeakRSS:
    """Peak resident memory of this process while the block runs."""

    def __enter__(self) -> PeakRSS:
        import psutil

        self._proc, self.peak, self._stop = psutil.Process(), 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(0.05)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def f1(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = float(np.sum(pred & truth))
    return 2 * tp / max(1.0, float(pred.sum() + truth.sum()))


#: What the "network + forest" U-Net reads (its ``forest=``); True: NetworkClassifier's own.
FOREST_INPUT: dict[str, Callable[[], Any]] = {
    "default": lambda: True,
    "boosted": lambda: brushlab.PixelClassifier(random_state=0),
    "random_forest": lambda: brushlab.PixelClassifier(model="random_forest", random_state=0),
}


def train_all(images: list[Any], scribbles: list[np.ndarray], names: list[str],
              minutes: float, log: Callable[[str], None],
              forest_input: str = "default") -> dict[str, Any]:
    out: dict[str, Any] = {}
    forest = FOREST_INPUT[forest_input]
    makers = {
        "forest": lambda: brushlab.PixelClassifier(random_state=0),
        "network": lambda: NetworkClassifier(forest=None, minutes=minutes, random_state=0),
        "network + forest": lambda: NetworkClassifier(forest=forest(), minutes=minutes,
                                                      random_state=0),
    }
    for name, make in makers.items():
        t0 = time.perf_counter()
        with PeakRSS() as mem:
            model = make().fit(images, scribbles, class_names=names)
        seconds = time.perf_counter() - t0
        out[name] = (model, seconds, mem.peak)
        extra = ""
        if isinstance(model, NetworkClassifier):
            t = model.training
            extra = (f"; best step {t['steps']}, val F1 {t['best_val_f1']:.3f}, stopped: "
                     f"{t['stopped']}, calibration {model.calibration}")
        log(f"  trained {name} in {seconds:.0f} s, peak RSS {mem.peak / 2**30:.2f} GB{extra}")
    return out


def isbi(minutes: float, quick: bool, log: Callable[[str], None],
         forest_input: str = "default") -> dict[str, Any]:
    root = DATA / "isbi2012"
    train_ids, test_ids = range(0, 15), range(15, 20)
    images = {i: brushlab.imread(root / f"image_{i:02d}.png") for i in range(20)}
    truth = {i: brushlab.imread(root / f"label_{i:02d}.png").values for i in range(20)}
    scribbles = [simulate_scribbles(truth[i], classes=[0, 255], strokes_per_class=25,
                                    stroke_length=20, seed=i) for i in train_ids]
    models = train_all([images[i] for i in train_ids], scribbles, ["membrane", "interior"],
                       minutes, log, forest_input=forest_input)
    scores: dict[str, list[float]] = {m: [] for m in METHODS}
    for i in test_ids:
        membrane = truth[i] == 0
        for name, (model, _, _) in models.items():
            result = model.predict(images[i])
            scores[name].append(f1(result.segmentation.values == 1, membrane))
            if name == "forest":
                smooth = objects.crf_smooth(result, images[i])
                scores["forest + CRF"].append(f1(smooth.segmentation.values == 1, membrane))
    mosaic = np.tile(images[15].values, (4, 4))
    predict_s: dict[str, float] = {}
    for name, (model, _, _) in models.items():
        t0 = time.perf_counter()
        model.predict(mosaic, outputs=("probabilities", "segmentation"))
        predict_s[name] = time.perf_counter() - t0
        log(f"  predicted 2048x2048 with {name} in {predict_s[name]:.1f} s")
    t0 = time.perf_counter()
    objects.crf_smooth(models["forest"][0].predict(mosaic), mosaic)
    predict_s["forest + CRF"] = time.perf_counter() - t0
    return {"scores": {k: float(np.mean(v)) for k, v in scores.items()}, "models": models,
            "predict_s": predict_s}


def bbbc039(minutes: float, quick: bool, log: Callable[[str], None],
            forest_input: str = "default") -> dict[str, Any]:
    root = DATA / "bbbc039"
    ids = [p.stem.split("_")[1] for p in sorted(root.glob("image_*.tif"))]
    train_ids, test_ids = ids[:6], ids[6:] if not quick else ids[6:9]
    images = {k: brushlab.imread(root / f"image_{k}.tif") for k in ids}
    masks = {k: brushlab.imread(root / f"mask_{k}.png").values[..., 0] > 0 for k in ids}
    scribbles = [simulate_scribbles(masks[k].astype(np.uint8), classes=[0, 1],
                                    strokes_per_class=10, seed=1) for k in train_ids]
    models = train_all([images[k] for k in train_ids], scribbles, ["background", "nucleus"],
                       minutes, log, forest_input=forest_input)
    pixel: dict[str, list[float]] = {m: [] for m in METHODS}
    inst: dict[str, list[float]] = {m: [] for m in METHODS}
    for k in test_ids:
        truth = brushlab.imread(root / f"labels_{k}.png").values
        for name, (model, _, _) in models.items():
            result = model.predict(images[k])
            runs = [(name, result)]
            if name == "forest":
                runs.append(("forest + CRF", objects.crf_smooth(result, images[k])))
            for label, res in runs:
                seg = res.segmentation.values == 2
                pixel[label].append(f1(seg, masks[k]))
                found = brushlab.instances(seg)
                inst[label].append(metrics.matching(truth, found, thresh=0.5)["f1"])
    return {"pixel": {k: float(np.mean(v)) for k, v in pixel.items()},
            "instance": {k: float(np.mean(v)) for k, v in inst.items()}, "models": models}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="ISBI network budget")
    parser.add_argument("--bbbc-minutes", type=float, default=2.0, help="BBBC039 budget")
    parser.add_argument("--quick", action="store_true", help="fewer BBBC039 test images")
    parser.add_argument("--skip-bbbc", action="store_true")
    parser.add_argument("--forest-input", choices=sorted(FOREST_INPUT), default="default",
                        help="the forest the network + forest U-Net reads (default: "
                             "NetworkClassifier's own, forest=True)")
    args = parser.parse_args()

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.1f}] {msg}", flush=True)

    log(f"cores {os.cpu_count()}, data {DATA}")
    a = isbi(args.minutes, args.quick, log, args.forest_input)
    b = None if args.skip_bbbc else bbbc039(args.bbbc_minutes, args.quick, log, args.forest_input)
    forest_predict = a["predict_s"]["forest"]
    print(f"\nload average {os.getloadavg()}; ISBI budget {args.minutes} min, "
          f"BBBC039 budget {args.bbbc_minutes} min")
    head = (f"{'method':18s} {'ISBI mF1':>9s} {'BBBC pxF1':>10s} {'BBBC instF1':>12s} "
            f"{'train s':>8s} {'peak GB':>8s} {'pred 2048 s':>12s} {'x forest':>9s}")
    print(head)
    for m in METHODS:
        src = m if m != "forest + CRF" else "forest"
        _, secs, peak = a["models"][src]
        pred = a["predict_s"][m]
        bp = f"{b['pixel'][m]:10.3f} {b['instance'][m]:12.3f}" if b else f"{'-':>10s} {'-':>12s}"
        print(f"{m:18s} {a['scores'][m]:9.3f} {bp} {secs:8.0f} {peak / 2**30:8.2f} "
              f"{pred:12.1f} {pred / forest_predict:9.2f}")
    gain = a["scores"]["network + forest"] - a["scores"]["forest"]
    peaks = [a["models"][m][2] for m in ("network", "network + forest")]
    if b:
        peaks += [b["models"][m][2] for m in ("network", "network + forest")]
    ratio = a["predict_s"]["network + forest"] / forest_predict
    print("\ntargets:")
    print(f"  ISBI network + forest - forest = {gain:+.3f} membrane F1 (target >= +0.05): "
          f"{'MET' if gain >= 0.05 else 'NOT MET'}")
    if b:
        d = b["instance"]["network + forest"] - b["instance"]["forest"]
        print(f"  BBBC039 instance F1 network + forest - forest = {d:+.3f} (target >= 0): "
              f"{'MET' if d >= 0 else 'NOT MET'}")
    print(f"  training peak RSS {max(peaks) / 2**30:.2f} GB (target <= 4): "
          f"{'MET' if max(peaks) <= 4 * 2**30 else 'NOT MET'}")
    print(f"  predict 2048x2048 network + forest / forest = {ratio:.2f} (target <= 2): "
          f"{'MET' if ratio <= 2 else 'NOT MET'}")


if __name__ == "__main__":
    main()
