"""``brushlab train``, ``predict`` and ``info``: pixel classifiers from the shell.

``predict --blockwise`` (one input of any size, chunk by chunk) lives in
:mod:`brushlab.cli.blockwise`; this module registers its options on ``predict``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brushlab._core.atomic import remove_stale_temps
from brushlab.classifier import OUTPUTS, PixelClassifier
from brushlab.cli import blockwise
from brushlab.cli._common import (
    EXIT_OK,
    batch_exit,
    csv,
    error,
    failure,
    parse_features,
    positive_int,
    stem,
)
from brushlab.errors import ImageError
from brushlab.io import check_labels, imread, write_image
from brushlab.network import NetworkClassifier, load_model_file

__all__ = ["add_parser", "run"]

_FORMATS = {"tiff": ".tif", "png": ".png", "npy": ".npy", "h5": ".h5", "zarr": ".zarr"}
_PREDICT_EPILOG = """\
outputs are written to OUTDIR/<input stem>_<output>.<ext>, atomically (an interrupted run
leaves no half-written file). probabilities keep the class axis as the last axis (channel k
is class k+1, in the order `brushlab info MODEL` lists); .h5 files hold dataset "data".
PNG holds 2D images only and is lossy for floats: segmentation is written as uint8 (uint16
beyond 255 classes), uncertainty and confidence as uint8 scaled 0..255, and probabilities
as one uint8 file per class, <stem>_probabilities_<class>.png, scaled 0..255. Inputs whose
outputs all exist are skipped (missing outputs are written), so re-running an interrupted
batch resumes it; --overwrite recomputes everything.

--blockwise predicts one INPUT of any size chunk by chunk with Dask into the OME-Zarr
-o OUT.zarr (probabilities as channels, the segmentation as labels/segmentation, with a
pyramid for viewers). The input is read lazily (Zarr/OME-Zarr, TIFF/BigTIFF, HDF5) and
memory stays bounded by the chunk. An interrupted run restarted with the same command
computes only the missing chunks; the output is marked complete only at the end.
--scheduler threads (default) runs on this machine's cores, processes on a local Dask
cluster, and an address (tcp://host:8786) on a running Dask scheduler whose workers share
the file system. --dry-run times one chunk and prints the expected time, output size and
memory per worker, writing nothing."""

Target = tuple[str, int | None, Path]  # (output, class index or None, path)


def add_parser(subparsers: Any) -> None:
    """Add the ``train``, ``predict`` and ``info`` subcommands to ``brushlab``'s subparsers.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="brushlab")
    >>> add_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["predict", "cells.brushlab", "a.tif", "-o", "out"])
    >>> args.command, args.inputs, args.output
    ('predict', ['a.tif'], 'out')
    """
    train = subparsers.add_parser("train",
                                  help="train a classifier from images and sparse labels")
    train.add_argument("images", nargs="+", metavar="IMAGE")
    train.add_argument("--labels", nargs="+", required=True, metavar="LABELS",
                       help="one labels image per IMAGE: 0 unlabelled, 1..K classes")
    train.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write")
    train.add_argument("--classes", type=csv, metavar="NAME,NAME", help="names of classes 1..K")
    train.add_argument("--features", type=parse_features, default=None,
                       help="default, all, or FAMILY:S1,S2;FAMILY:S (default: default)")
    train.add_argument("--model", choices=("boosted_trees", "random_forest"),
                       default="boosted_trees", help="classifier (default boosted_trees)")
    train.add_argument("--trees", type=positive_int, default=None,
                       help="trees (default 50 boosted, 100 random_forest)")
    train.add_argument("--balanced", action="store_true", help="weigh classes by label counts")
    train.add_argument("--seed", type=int, default=None, help="random seed (reproducible forest)")

    predict = subparsers.add_parser("predict", help="predict images with a trained model",
                                    epilog=_PREDICT_EPILOG,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
    predict.add_argument("model", metavar="MODEL",
                         help="model file of brushlab train or brushlab train-network")
    predict.add_argument("inputs", nargs="+", metavar="INPUT")
    predict.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                         help="folder for the results (created if needed); with --blockwise, "
                              "the OME-Zarr to write (OUT.zarr)")
    predict.add_argument("--export", type=_exports, default=["probabilities", "segmentation"],
                         help=f"comma-separated from {','.join(OUTPUTS)} "
                              "(default probabilities,segmentation)")
    predict.add_argument("--format", choices=list(_FORMATS), default=None,
                         help="file format (default tiff; --blockwise writes OME-Zarr)")
    predict.add_argument("--tile", type=positive_int, default=None, metavar="N",
                         help="tile edge in pixels (bounds memory; results do not change)")
    predict.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    predict.add_argument("-q", "--quiet", action="store_true", help="no progress bar or messages")
    blockwise.add_arguments(predict)

    for command in (train, predict):
        command.add_argument("--dims", default=None,
                             help="axes of every image as stored, e.g. zyx or cyx")
        command.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                             help="threads (default: all cores)")

    info = subparsers.add_parser("info", help="describe a model file")
    info.add_argument("model", metavar="MODEL")
    info.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    """Run ``brushlab train``, ``predict`` or ``info``; return the exit code."""
    if args.command == "train":
        return _train(args)
    if args.command == "predict":
        return blockwise.run(args) if args.blockwise else _predict(args)
    return _info(args)


def _exports(text: str) -> list[str]:
    names = list(dict.fromkeys(csv(text)))
    unknown = [n for n in names if n not in OUTPUTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown outputs {unknown or text!r}; choose from {','.join(OUTPUTS)}"
        )
    return names


def _train(args: argparse.Namespace) -> int:
    if len(args.labels) != len(args.images):
        args.parser.error(f"got {len(args.images)} image(s) but {len(args.labels)} labels "
                          "file(s); pass one --labels file per image, in the same order")
    t0 = time.perf_counter()
    images: list[Any] = []
    labels: list[np.ndarray] = []
    for image_path, label_path in zip(args.images, args.labels):
        image = imread(image_path, args.dims)
        label = check_labels(
            imread(label_path).values,
            image,
            len(labels),
            names=(f"labels {label_path}", f"image {image_path}"),
        )
        images.append(image)
        labels.append(label)
    clf = PixelClassifier(args.features, n_trees=args.trees, random_state=args.seed,
                          model=args.model,
                          class_weight="balanced" if args.balanced else None, n_jobs=args.jobs)
    clf.fit(images, labels, class_names=args.classes)
    written = clf.save(args.output)
    counts: dict[str, int] = clf.training.get("labelled_pixels", {})
    print(f"trained {len(counts)} classes on {len(images)} image(s) in "
          f"{time.perf_counter() - t0:.1f} s ({clf.n_trees} trees, "
          f"{len(clf.feature_names)} features)")
    width = max(len(name) for name in counts)
    for name, count in counts.items():
        print(f"  {name:<{width}}  {count:>9,} labelled pixels")
    print(f"wrote {written}")
    return EXIT_OK


def _targets(name: str, outdir: Path, args: argparse.Namespace,
             classes: list[str]) -> list[Target]:
    """``(output, class index or None, path)`` of every file an input produces."""
    ext = _FORMATS[args.format]
    out: list[Target] = []
    for output in args.export:
        if output == "probabilities" and args.format == "png":
            safe = [re.sub(r"[^\w.-]+", "_", c) for c in classes]
            if len(set(safe)) != len(safe):
                safe = [str(k) for k in range(1, len(classes) + 1)]
            out += [(output, k, outdir / f"{name}_{output}_{s}{ext}") for k, s in enumerate(safe)]
        else:
            out.append((output, None, outdir / f"{name}_{output}{ext}"))
    return out


def _as_written(result: xr.Dataset, name: str, k: int | None, png: bool) -> xr.DataArray:
    data = result[name]
    if k is not None:
        data = data.isel({"class": k})
    elif name == "probabilities":  # the class axis becomes the channel axis, named by class
        data = data.rename({"class": "c"})
    if png and name != "segmentation":
        data = data.copy(data=np.round(data.values * 255).clip(0, 255).astype(np.uint8))
    return data.drop_vars([c for c in data.coords if c != "c"])  # zarr keeps the class names


def _predict(args: argparse.Namespace) -> int:
    given = blockwise.options_given(args)
    if given:
        args.parser.error(f"{', '.join(given)} only work with --blockwise")
    args.format = args.format or "tiff"
    stems = [stem(source) for source in args.inputs]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        args.parser.error(f"several inputs share the name {clashes[0]!r}, so their outputs "
                          "would overwrite each other; predict them into separate --output "
                          "folders")
    clf = load_model_file(args.model)  # a pixel classifier or a network
    classes = list(clf.class_names or [])
    if args.format == "png" and clf.spatial_ndim != 2:
        raise ImageError(f"PNG holds 2D images only but {args.model} predicts "
                         f"{clf.spatial_ndim}D images; choose --format tiff, npy, h5 or zarr")
    if args.jobs:
        clf.n_jobs = args.jobs
    outdir = Path(args.output)
    outdir.mkdir(parents=True, exist_ok=True)
    targets = [_targets(name, outdir, args, classes) for name in stems]
    remove_stale_temps(path for each in targets for _, _, path in each)  # of a killed run
    say: Callable[..., None] = (lambda *a: None) if args.quiet else print
    failed: list[tuple[str, str]] = []
    done = skipped = 0
    for i, (source, mine) in enumerate(zip(args.inputs, targets), 1):
        todo = mine if args.overwrite else [t for t in mine if not t[2].exists()]
        if not todo:
            say(f"skipped {source}: its outputs exist in {outdir} (--overwrite to replace)")
            skipped += 1
            continue
        try:
            _predict_one(clf, source, todo, args, f"[{i}/{len(stems)}] {Path(source).name}")
        except Exception as exc:  # report it, go on with the next input
            error(f"{source}: {failure(exc)}")
            failed.append((source, failure(exc)))
            continue
        done += 1
        say(f"wrote {', '.join(t[2].name for t in todo)} for {source}")
    return batch_exit(failed, len(args.inputs), done + skipped)


def _predict_one(clf: PixelClassifier | NetworkClassifier, source: str, todo: list[Target],
                 args: argparse.Namespace, label: str) -> None:
    from tqdm import tqdm

    png = args.format == "png"
    image = imread(source, args.dims)
    if png and set(image.dims) - {"y", "x", "c"}:
        raise ImageError(f"PNG holds 2D images only but {source} has dims {image.dims}; "
                         "choose --format tiff, npy, h5 or zarr")
    tile = (args.tile,) * (clf.spatial_ndim or 2) if args.tile else None
    lock = threading.Lock()
    quiet = args.quiet or not sys.stderr.isatty()
    with tqdm(desc=label, unit="tile", file=sys.stderr, disable=quiet, leave=False) as bar:

        def progress(finished: int, total: int) -> None:
            with lock:  # tiles finish on worker threads
                bar.total = total
                bar.update(max(0, finished - bar.n))

        outputs = sorted({name for name, _, _ in todo})
        result = clf.predict(image, outputs=outputs, tile_shape=tile, progress=progress)
    spacing, unit = result.attrs.get("spacing"), result.attrs.get("unit")
    for name, k, path in todo:
        data = _as_written(result, name, k, png)
        write_image(path, data, format=args.format, spacing=None if png else spacing,
                    unit=None if png else unit)


def _info(args: argparse.Namespace) -> int:
    clf = load_model_file(args.model)
    if isinstance(clf, NetworkClassifier):
        return _network_info(clf, args)
    info: dict[str, Any] = {
        "model": args.model,
        "kind": "pixel-classifier",
        "classes": list(clf.class_names or []),
        "features": clf.features.selection,
        "n_features": len(clf.feature_names),
        "n_channels": clf.n_channels,
        "spatial_ndim": clf.spatial_ndim,
        "engine": clf.model,
        "n_trees": clf.n_trees,
        "class_weight": clf.class_weight,
        "random_state": clf.random_state,
        "training": clf.training,
    }
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return EXIT_OK
    training = info["training"]
    counts = training.get("labelled_pixels", {})
    print(f"model:    {info['model']}")
    print("classes:  " + ", ".join(f"{k} {name}" for k, name in enumerate(info["classes"], 1)))
    print(f"features: {info['n_features']} in all")
    for family, scales in info["features"].items():
        print(f"  {family}: sigma {', '.join(f'{s:g}' for s in scales)}")
    print(f"input:    {info['n_channels']} channel(s), {info['spatial_ndim']}D images")
    print(f"trees:    {info['engine']}, {info['n_trees']} trees, "
          f"class_weight {info['class_weight']}, "
          f"seed {info['random_state']}")
    if training:
        print(f"training: {training.get('n_images', '?')} image(s), "
              f"{training.get('fit_seconds', '?')} s, {training.get('date', '?')}")
        for name, count in counts.items():
            print(f"  {name}: {count:,} labelled pixels")
    return EXIT_OK


def _network_info(net: NetworkClassifier, args: argparse.Namespace) -> int:
    arch = net.arch
    assert arch is not None  # loaded networks are trained
    forest = net.forest
    info: dict[str, Any] = {
        "model": args.model,
        "kind": "network-classifier",
        "classes": list(net.class_names or []),
        "architecture": {"depth": arch.depth, "base_channels": arch.base_channels,
                         "pools": [list(p) for p in arch.pools], "halo": list(arch.halo)},
        "forest_features": forest.features.selection if forest is not None else None,
        "n_channels": net.n_channels,
        "spatial_ndim": net.spatial_ndim,
        "training": net.training,
    }
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return EXIT_OK
    training = info["training"]
    best = training.get("best_val_f1")
    print(f"model:    {info['model']} (a network)")
    print("classes:  " + ", ".join(f"{k} {name}" for k, name in enumerate(info["classes"], 1)))
    print(f"network:  U-Net, {arch.depth} levels, {arch.base_channels} feature maps at the "
          f"finest, halo {tuple(arch.halo)} px")
    reads = "the image" + (" and a forest's probabilities" if forest is not None else "")
    print(f"input:    {info['n_channels']} channel(s), {info['spatial_ndim']}D images; reads "
          f"{reads}")
    if forest is not None:
        for family, scales in forest.features.selection.items():
            print(f"  {family}: sigma {', '.join(f'{s:g}' for s in scales)}")
    if training:
        print(f"training: {training.get('steps', '?')} steps ({training.get('stopped', '?')}), "
              f"validation F1 {'-' if best is None else f'{best:.3f}'}, "
              f"{training.get('fit_seconds', '?')} s, {training.get('date', '?')}")
        for name, count in training.get("labelled_pixels", {}).items():
            print(f"  {name}: {count:,} labelled pixels")
    return EXIT_OK
