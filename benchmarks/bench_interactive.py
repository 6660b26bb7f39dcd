"""Latency of interactive labelling, headless, through the Session code the widget uses.

Run from the repository root::

    .venv/bin/python benchmarks/bench_interactive.py [--quick] [--json out.json]

Setup (issue #4, item 10): a 1024x1024 image (a 2x2 mosaic of ISBI 2012 slices
0-3 from ../shared/data; without it, scikit-image's ``camera`` tiled 2x2 with
an Otsu threshold as "truth"), a 512x512 visible region in its centre, and
strokes added one at a time inside the view, alternating the two classes
(polylines of sparse points ~6 px apart, brush radius 3, drawn inside the
truth class so they look like a user's scribbles). Labels grow to about 1k,
10k and 50k pixels; at each level a few *measured* strokes are painted, each
timed from its mouse-up (``end_stroke``) and undone afterwards, so the level
stays put.

Three paths, side by side, on each measured stroke:

- ``live``: :class:`brushlab.session.LiveUpdater` with default
  :class:`LiveSettings` (debounce included): time to the first overlay (the
  preview, every 4th pixel) and to the full-resolution overlay. Features come
  from the session's cache, computed once in the background when the image
  was added (that time is reported separately).
- ``full``: ``Session.train()`` with the default model (boosted trees since issue 14)
  on all labels plus ``predict_region`` of the view: the same cached features, final
  settings; ``full_rf``: the same with ``model="random_forest"`` (100 trees). The
  ``train`` column is ``Session.train()`` alone.
- ``naive``: ``skimage.feature.multiscale_basic_features`` once for the whole
  image (reported separately), then per stroke ``RandomForestClassifier(100,
  n_jobs=-1)`` refit on all labels and ``predict_proba`` of the view.

"accuracy" is the pixel accuracy of the full-resolution segmentation of the view
against the truth; "agree" the fraction of view pixels where the live overlay
equals the ``full`` path's. Nothing here asserts a timing; the script reports.

Two label regimes (``--regime``): ``sparse`` is the above (labels grow to 1k, 10k, 50k
pixels on one image); ``realistic`` opens all 20 ISBI slices in one Session with the
simulated scribbles of bench_engine.py (72 strokes per class and slice, ~48k pixels,
0.9 %) and paints the measured strokes on slice 0 (view: the whole slice).
Other processes on the machine add noise: the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "isbi2012"
VIEW = (slice(256, 768), slice(256, 768))
RADIUS = 3
LEVELS = (1_000, 10_000, 50_000)
REPS = {
    "full": {"live": 10, "full": (3, 3, 2), "naive": (3, 3, 2)},
    "quick": {"live": 3, "full": (1, 1, 0), "naive": (1, 1, 0)},
}


@dataclass
class Row:
    labels: int
    path: str
    first: list[float] = field(default_factory=list)
    full: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    agree: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def load_image() -> tuple[np.ndarray, np.ndarray, str]:
    """1024x1024 float32 image and its 2-class truth (1 = membrane / dark, 2 = other)."""
    if DATA_DIR.exists():
        import imageio.v3 as iio

        tiles = [iio.imread(DATA_DIR / f"image_{i:02d}.png") for i in range(4)]
        truths = [iio.imread(DATA_DIR / f"label_{i:02d}.png") for i in range(4)]
        image = np.block([[tiles[0], tiles[1]], [tiles[2], tiles[3]]]).astype(np.float32)
        truth = np.block([[truths[0], truths[1]], [truths[2], truths[3]]])
        return image, np.where(truth > 0, 2, 1).astype(np.uint8), "ISBI 2012 slices 0-3 (2x2)"
    from skimage.data import camera
    from skimage.filters import threshold_otsu

    cam = camera().astype(np.float32)
    image = np.block([[cam, cam[:, ::-1]], [cam[::-1], cam[::-1, ::-1]]])
    truth = np.where(image > threshold_otsu(image), 2, 1).astype(np.uint8)
    return image, truth, "skimage camera (2x2), Otsu truth (../shared absent)"


class StrokeMaker:
    """Scribble-like strokes inside each class's core, within the view."""

    def __init__(self, truth: np.ndarray, seed: int = 0, view: Any = VIEW) -> None:
        from scipy.ndimage import binary_erosion

        self.rng = np.random.default_rng(seed)
        self.cores = []
        inside = np.zeros(truth.shape, bool)
        inside[view] = True
        view = inside
        for k in (1, 2):
            core = binary_erosion(truth == k, iterations=RADIUS) & view
            if core.sum() < 1000:  # thin classes (membranes): their pixels will do
                core = (truth == k) & view
            self.cores.append((core, np.array(np.nonzero(core))))
        self.turn = 0

    def next(self) -> tuple[int, np.ndarray]:
        cls = self.turn % 2 + 1
        self.turn += 1
        core, pts = self.cores[cls - 1]
        for _ in range(20):
            start = pts[:, self.rng.integers(pts.shape[1])].astype(float)
            angle = self.rng.uniform(0, 2 * np.pi)
            direction = np.array([np.sin(angle), np.cos(angle)])
            path = [start]
            for _step in range(int(self.rng.integers(4, 12))):
                nxt = path[-1] + 6 * direction + self.rng.normal(0, 1, 2)
                iy, ix = int(round(nxt[0])), int(round(nxt[1]))
                if not (0 <= iy < core.shape[0] and 0 <= ix < core.shape[1] and core[iy, ix]):
                    break
                path.append(nxt)
            if len(path) >= 2:
                return cls, np.array(path)
        return cls, np.array([start])


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run(quick: bool, settings: Any) -> dict[str, Any]:
    from brushlab.session import LiveUpdate, Session

    mode = "quick" if quick else "full"
    reps = REPS[mode]
    image, truth, source = load_image()
    view_truth = truth[VIEW]
    out: dict[str, Any] = {"mode": mode, "image": source, "rows": [], "live": settings.__dict__}

    t0 = time.perf_counter()
    session = Session(image)
    session.prefetch(0, wait=True)
    out["features_s"] = time.perf_counter() - t0
    out["cache_bytes"] = session.feature_cache.stats["bytes"]
    out["n_features"] = session.features.n_features(ndim=2)

    naive_features, naive_s = naive_feature_stack(image)
    out["naive_features_s"] = naive_s
    out["naive_n_features"] = naive_features.shape[-1]

    updates: list[tuple[float, LiveUpdate]] = []
    done = threading.Event()

    def on_update(update: LiveUpdate) -> None:
        updates.append((time.perf_counter(), update))
        if update.final:
            done.set()

    live = session.live(on_update, settings)
    live.set_view(0, VIEW)
    maker = StrokeMaker(truth)
    for li, level in enumerate(LEVELS):
        while sum(session.label_counts().values()) < level:
            cls, path = maker.next()
            session.paint(0, path, cls, RADIUS)
        count = sum(session.label_counts().values())
        rows = {p: Row(count, p) for p in ("live", "live_rf", "full", "full_rf", "naive")}
        for rep in range(reps["live"]):
            cls, path = maker.next()
            live.wait_idle()
            updates.clear()
            done.clear()
            stroke = session.begin_stroke(0, cls, RADIUS)
            stroke.extend(path)
            t_up = time.perf_counter()
            stroke.end()
            live.notify_stroke()
            if not done.wait(120):
                raise RuntimeError("no live update within 120 s")
            errors = [u.error for _, u in updates if u.error]
            if errors:
                raise RuntimeError(f"live update failed: {errors[0]}")
            row = rows["live"]
            row.first.append(updates[0][0] - t_up)
            row.full.append(updates[-1][0] - t_up)
            final = updates[-1][1].result
            assert final is not None
            seg_live = final.segmentation.values
            row.accuracy.append(float((seg_live == view_truth).mean()))
            live_forest(session, live, updates, done, rows["live_rf"], view_truth)
            if rep < reps["full"][li]:
                seg_full = full_path(session, VIEW, view_truth, rows["full"])
                row.agree.append(float((seg_live == seg_full).mean()))
                full_path(session, VIEW, view_truth, rows["full_rf"], model="random_forest")
            if rep < reps["naive"][li]:
                elapsed, seg_naive = naive_stroke(naive_features, session.labels(0))
                rows["naive"].first.append(elapsed)
                rows["naive"].full.append(elapsed)
                rows["naive"].accuracy.append(float((seg_naive == view_truth).mean()))
            session.undo()
            live.notify_stroke()
        for row in rows.values():
            if row.full:
                out["rows"].append(row.__dict__)
        print(f"  {count} labels done", flush=True)
    live.stop()
    session.close()
    out["live_dropped"] = live.dropped
    return out


def live_forest(session: Any, live: Any, updates: list, done: threading.Event, row: Row,
                truth: np.ndarray) -> None:
    """The same labels served by Live with ``model="random_forest"`` (the pre-issue-14 live
    forest: 16-tree preview, 32 trees grown by warm start on <= 16k sampled labels)."""
    params = session.classifier_params
    session.classifier_params = {**params, "model": "random_forest"}
    try:
        live.wait_idle()
        live._model = None  # same labels, new model kind: make Live retrain (benchmark only)
        updates.clear()
        done.clear()
        t0 = time.perf_counter()
        live.notify_stroke()
        if not done.wait(300):
            raise RuntimeError("no live update within 300 s")
        live.wait_idle()
    finally:
        session.classifier_params = params
        live._model = None
    row.first.append(updates[0][0] - t0)
    row.full.append(updates[-1][0] - t0)
    final = updates[-1][1].result
    row.accuracy.append(float((final.segmentation.values == truth).mean()))


def full_path(session: Any, view: Any, truth: np.ndarray, row: Row, *,
              model: str | None = None) -> np.ndarray:
    """``Session.train()`` (optionally with another model) + ``predict_region``; timed into row."""
    params = session.classifier_params
    if model is not None:
        session.classifier_params = {**params, "model": model}
    try:
        t1 = time.perf_counter()
        session.train()
        t_train = time.perf_counter() - t1
        seg = session.predict_region(0, view).segmentation.values
        elapsed = time.perf_counter() - t1
    finally:
        session.classifier_params = params
    row.first.append(elapsed)
    row.full.append(elapsed)
    row.extra.setdefault("train", []).append(t_train)
    row.accuracy.append(float((seg == truth).mean()))
    return np.asarray(seg)


def run_realistic(quick: bool, settings: Any) -> dict[str, Any]:
    """All 20 ISBI slices in one Session, ~48k scribbled pixels; strokes on slice 0."""
    import imageio.v3 as iio

    from brushlab.datasets import simulate_scribbles
    from brushlab.session import LiveUpdate, Session

    images = [iio.imread(DATA_DIR / f"image_{i:02d}.png") for i in range(20)]
    truths = [iio.imread(DATA_DIR / f"label_{i:02d}.png") for i in range(20)]
    view = (slice(0, 512), slice(0, 512))
    truth0 = np.where(truths[0] > 0, 2, 1).astype(np.uint8)
    out: dict[str, Any] = {"mode": "quick" if quick else "full", "rows": [],
                           "image": "ISBI 2012 slices 0-19, one Session", "live": settings.__dict__}
    t0 = time.perf_counter()
    session = Session(images)
    for i in range(20):
        session.import_labels(i, simulate_scribbles(truths[i], classes=[0, 255],
                                                    strokes_per_class=72, stroke_length=20,
                                                    seed=i))
        session.prefetch(i, wait=True)
    out["features_s"] = time.perf_counter() - t0
    out["cache_bytes"] = session.feature_cache.stats["bytes"]
    out["n_features"] = session.features.n_features(ndim=2)
    updates: list[tuple[float, LiveUpdate]] = []
    done = threading.Event()

    def on_update(update: LiveUpdate) -> None:
        updates.append((time.perf_counter(), update))
        if update.final:
            done.set()

    live = session.live(on_update, settings)
    live.set_view(0, view)
    live.wait_idle()
    maker = StrokeMaker(truth0, view=view)
    count = sum(session.label_counts().values())
    rows = {p: Row(count, p) for p in ("live", "live_rf", "full", "full_rf")}
    n_live, n_full, n_rf = (3, 1, 1) if quick else (8, 3, 1)
    for rep in range(n_live):
        cls, path = maker.next()
        live.wait_idle()
        updates.clear()
        done.clear()
        stroke = session.begin_stroke(0, cls, RADIUS)
        stroke.extend(path)
        t_up = time.perf_counter()
        stroke.end()
        live.notify_stroke()
        if not done.wait(300):
            raise RuntimeError("no live update within 300 s")
        final = updates[-1][1].result
        assert final is not None, [u.error for _, u in updates]
        rows["live"].first.append(updates[0][0] - t_up)
        rows["live"].full.append(updates[-1][0] - t_up)
        seg_live = final.segmentation.values
        rows["live"].accuracy.append(float((seg_live == truth0).mean()))
        live_forest(session, live, updates, done, rows["live_rf"], truth0)
        if rep < n_full:
            seg_full = full_path(session, view, truth0, rows["full"])
            rows["live"].agree.append(float((seg_live == seg_full).mean()))
        if rep < n_rf:
            full_path(session, view, truth0, rows["full_rf"], model="random_forest")
        session.undo()
        live.notify_stroke()
    out["rows"] = [row.__dict__ for row in rows.values()]
    live.stop()
    session.close()
    out["live_dropped"] = live.dropped
    return out


def naive_feature_stack(image: np.ndarray) -> tuple[np.ndarray, float]:
    from skimage.feature import multiscale_basic_features

    t0 = time.perf_counter()
    feats = multiscale_basic_features(image)
    return feats, time.perf_counter() - t0


def naive_stroke(features: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Refit RF(100) on all labels and predict the view, as a plain notebook would."""
    from sklearn.ensemble import RandomForestClassifier

    t0 = time.perf_counter()
    mask = labels > 0
    x, y = features[mask], labels[mask]
    forest = RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=0).fit(x, y)
    region = features[VIEW]
    proba = forest.predict_proba(region.reshape(-1, region.shape[-1]))
    seg = forest.classes_[proba.argmax(1)].reshape(region.shape[:2])
    return time.perf_counter() - t0, seg


def render(result: dict[str, Any]) -> str:
    naive = (
        f"; naive multiscale_basic_features ({result['naive_n_features']} channels): "
        f"{result['naive_features_s']:.2f} s" if "naive_features_s" in result else ""
    )
    lines = [
        f"image: {result['image']}; mode {result['mode']}",
        f"brushlab features ({result['n_features']} channels, cached once in the background): "
        f"{result['features_s']:.2f} s, {result['cache_bytes'] / 2**20:.0f} MiB{naive} "
        "(once per image, not per stroke)",
        "",
        "| labels | path | n | train p50 | first overlay p50 | p95 | full-res overlay p50 | p95 "
        "| accuracy | agree w/ full |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        agree = f"{np.mean(r['agree']):.3f}" if r["agree"] else ""
        train = r["extra"].get("train")
        ms = [
            f"{percentile(r[key], q) * 1e3:.0f} ms" for key in ("first", "full") for q in (50, 95)
        ]
        lines.append(
            f"| {r['labels']:,} | {r['path']} | {len(r['full'])} "
            f"| {f'{percentile(train, 50) * 1e3:.0f} ms' if train else ''} | {' | '.join(ms)} "
            f"| {np.mean(r['accuracy']):.3f} | {agree} |"
        )
    lines.append("")
    cfg = result["live"]
    lines.append(
        f"live = LiveSettings(debounce_s={cfg['debounce_s']}, preview_level="
        f"{cfg['preview_level']}, preview_trees={cfg['preview_trees']}, n_trees={cfg['n_trees']}, "
        f"max_samples={cfg['max_samples']}, boosted_trees={cfg.get('boosted_trees')}, "
        f"boosted_labels={cfg.get('boosted_labels')}): the preview predicts every "
        f"{2 ** (cfg['preview_level'] or 0)}th pixel (boosted trees: live trains boosted_trees "
        "iterations on <= boosted_labels labels; preview_trees, n_trees, max_samples: random "
        "forests); "
        "full = Session.train() (default "
        "model, all labels) + predict_region; full_rf = the same with model='random_forest'; "
        "live_rf = Live with model='random_forest' (the previous live forest, same labels); "
        "naive = skimage features + RF(100) refit + predict_proba. For full and naive the first "
        "overlay is the full one."
    )
    return "\n".join(lines)


def targets(result: dict[str, Any], regime: str) -> list[str]:
    """Issue 14: Session Train p50 <= 300 ms and Live overlay p50 <= 150 ms at ~10k labels."""
    rows = result["rows"]
    level = min({r["labels"] for r in rows}, key=lambda n: abs(n - 10_000))
    if regime == "realistic":
        level = rows[0]["labels"]
    get = {r["path"]: r for r in rows if r["labels"] == level}
    out = []
    if "full" in get and "full_rf" in get:
        ours = percentile(get["full"]["extra"]["train"], 50)
        rf = percentile(get["full_rf"]["extra"]["train"], 50)
        goal = regime == "sparse"
        out.append(f"  Session.train at {level:,} labels ({regime}): p50 {ours * 1e3:.0f} ms vs "
                   f"random_forest {rf * 1e3:.0f} ms ({rf / ours:.1f}x); goal <= 300 ms: "
                   + (("MET" if ours <= 0.3 else "NOT MET") if goal else "(shown)"))
    if "live" in get and "live_rf" in get:
        rf = percentile(get["live_rf"]["full"], 50)
        out.append(f"  Live full-res overlay p50 at {level:,} labels ({regime}): boosted "
                   f"{percentile(get['live']['full'], 50) * 1e3:.0f} ms vs the previous live "
                   f"forest {rf * 1e3:.0f} ms (same run)")
    if "live" in get:
        first, full = percentile(get["live"]["first"], 50), percentile(get["live"]["full"], 50)
        out.append(f"  Live at {level:,} labels ({regime}): first overlay p50 "
                   f"{first * 1e3:.0f} ms, full-res overlay p50 {full * 1e3:.0f} ms; "
                   "goal <= 150 ms: "
                   + ("MET" if full <= 0.15 else "NOT MET") + " (full-res), "
                   + ("MET" if first <= 0.15 else "NOT MET") + " (first)")
    return out


def main() -> None:
    from brushlab.session import LiveSettings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer strokes, no 50k peers (<2 min)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--regime", choices=("sparse", "realistic", "both"), default="both",
                        help="label regime(s) to run (default both)")
    defaults = LiveSettings()
    for name in ("debounce_s", "preview_level", "preview_trees", "n_trees", "max_samples"):
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=float if name == "debounce_s" else int,
            default=getattr(defaults, name),
            help=f"LiveSettings.{name} (default {getattr(defaults, name)})",
        )
    args = parser.parse_args()
    settings = LiveSettings(
        debounce_s=args.debounce_s,
        preview_level=args.preview_level,
        preview_trees=args.preview_trees,
        n_trees=args.n_trees,
        max_samples=args.max_samples if args.max_samples > 0 else None,
    )
    load = os.getloadavg()
    print(f"{platform.node()}: {os.cpu_count()} cores, load average {load[0]:.2f}", flush=True)
    results = {}
    for regime in ("sparse", "realistic") if args.regime == "both" else (args.regime,):
        t0 = time.perf_counter()
        load0 = os.getloadavg()
        runner = run if regime == "sparse" else run_realistic
        result = runner(args.quick, settings)
        result["load_before"] = load0
        result["load_after"] = os.getloadavg()
        result["wall_s"] = time.perf_counter() - t0
        print(f"\n## {regime} regime\n")
        print(render(result))
        print("\ntargets:\n" + "\n".join(targets(result, regime)))
        print(
            f"\nwall {result['wall_s']:.0f} s; load average before {load0[0]:.2f}, "
            f"after {result['load_after'][0]:.2f}", flush=True
        )
        results[regime] = result
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
