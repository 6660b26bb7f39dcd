"""``brushlab train-network``: train a U-Net from images and sparse labels, with a progress bar."""

from __future__ import annotations

import argparse
import time
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``train-network`` subcommand to ``brushlab``'s subparsers and return it.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="brushlab")
    >>> _ = add_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["train-network", "a.tif", "--labels", "a.png", "-o", "n.zip"])
    >>> args.command
    'train-network'
    """
    from brushlab.cli._common import csv as _csv
    from brushlab.cli._common import positive_int as _positive_int

    p = subparsers.add_parser(
        "train-network",
        help="train a U-Net (optionally fed by a forest) from images and sparse labels",
        description="Needs PyTorch: pip install \"brushlab[train]\". The model file it "
                    "writes predicts with onnxruntime only: brushlab predict MODEL IMAGE "
                    "-o OUTDIR, or brushlab.network.load_network(MODEL).predict(image).")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--labels", nargs="+", required=True, metavar="LABELS",
                   help="one labels image per IMAGE: 0 unlabelled, 1..K classes")
    p.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write")
    p.add_argument("--classes", type=_csv, metavar="NAME,NAME", help="names of classes 1..K")
    p.add_argument("--minutes", type=float, default=5.0, help="training budget (default 5)")
    p.add_argument("--max-steps", type=_positive_int, default=None, help="stop after N steps")
    p.add_argument("--depth", type=_positive_int, default=4, help="U-Net levels (default 4)")
    p.add_argument("--base-channels", type=_positive_int, default=16,
                   help="feature maps at the finest level (default 16)")
    p.add_argument("--patch-size", type=_positive_int, default=None, help="training patch side")
    p.add_argument("--forest", action=argparse.BooleanOptionalAction, default=True,
                   help="feed the network a forest's probabilities (default on)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--dims", default=None, help="axis names of the images, e.g. zyx")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show a progress bar (default: when stderr is a terminal)")
    return p  # type: ignore[no-any-return]


def run(args: argparse.Namespace) -> int:
    """Run ``brushlab train-network``; return the exit code (0, or raise BrushlabError)."""
    import sys

    from tqdm.auto import tqdm

    from brushlab.errors import LabelError
    from brushlab.io import imread
    from brushlab.network._classifier import NetworkClassifier, require_torch

    require_torch()  # before reading any image: say at once how to install it
    if len(args.labels) != len(args.images):
        raise LabelError(f"got {len(args.images)} image(s) but {len(args.labels)} labels "
                         "file(s): pass one --labels file per image, in the same order")
    images = [imread(path, args.dims) for path in args.images]
    labels = [imread(path).values for path in args.labels]
    ndim = len([d for d in images[0].dims if str(d) in ("z", "y", "x")])
    patch = None if args.patch_size is None else (args.patch_size,) * ndim
    net = NetworkClassifier(
        forest=True if args.forest else None, minutes=args.minutes, max_steps=args.max_steps,
        depth=args.depth, base_channels=args.base_channels, patch_size=patch,
        random_state=args.seed, device=args.device)
    total = int(60 * args.minutes)
    show = sys.stderr.isatty() if args.progress is None else args.progress
    t0 = time.perf_counter()
    with tqdm(total=total, unit="s", desc="training", disable=not show) as bar:

        def progress(record: dict[str, Any]) -> None:
            bar.n = min(total, int(record.get("seconds", 0)))
            shown = {k: round(v, 3) for k, v in record.items()
                     if k in ("train_loss", "val_loss", "val_f1") and v is not None}
            bar.set_postfix(step=record.get("step"), **shown)
            bar.refresh()

        net.fit(images, labels, class_names=args.classes, progress=progress)
        bar.n = total
        bar.refresh()
    written = net.save(args.output)
    t = net.training
    best = t.get("best_val_f1")
    print(f"trained a {args.depth}-level U-Net on {len(images)} image(s) in "
          f"{time.perf_counter() - t0:.1f} s: best step {t.get('steps')}, validation F1 "
          f"{'-' if best is None else f'{best:.3f}'} ({t.get('stopped')}); wrote {written}")
    return 0
