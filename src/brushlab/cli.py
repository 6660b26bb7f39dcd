"""The ``brushlab`` command: train a pixel classifier, predict batches of images, inspect models.

Exit codes: 0 success; 1 a data error (bad file, labels, model); 2 a usage error; 3 some
inputs of a batch failed while others succeeded; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import __version__
from .classifier import OUTPUTS, PixelClassifier, load_classifier
from .dl import cli as dl_cli
from .errors import BrushlabError, FeatureError, ImageError
from .features import FeatureSet
from .images import _split_h5, imread
from .network import _command as network_cli
from .objects import cli as objects_cli
from .validation import check_labels
from .writers import write_image

__all__ = ["main", "parse_features"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
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


def parse_features(text: str) -> FeatureSet:
    """Parse a ``--features`` value into a :class:`FeatureSet`.

    Parameters
    ----------
    text : str
        ``"default"``, ``"all"`` or ``"FAMILY:S1,S2;FAMILY:S"`` (families and their
        aliases as :class:`FeatureSet` accepts them).

    Returns
    -------
    FeatureSet
        The feature set.

    Raises
    ------
    argparse.ArgumentTypeError
        If the text cannot be parsed or names an unknown family or a bad scale.

    Examples
    --------
    >>> parse_features("gaussian_smoothing:1.0,2.0;hessian:1.0").selection
    {'gaussian_smoothing': [1.0, 2.0], 'hessian_of_gaussian_eigenvalues': [1.0]}
    """
    spec = text.strip()
    if spec in ("default", "all"):
        return FeatureSet.default() if spec == "default" else FeatureSet.all()
    selection: dict[str, list[float]] = {}
    try:
        for part in filter(None, (p.strip() for p in spec.split(";"))):
            family, sep, scales = part.partition(":")
            if not sep or not scales.strip():
                raise ValueError(f"{part!r} gives no scales")
            values = [float(s) for s in scales.split(",") if s.strip()]
            selection.setdefault(family.strip(), []).extend(values)
        return FeatureSet(selection)
    except (ValueError, FeatureError) as exc:
        raise argparse.ArgumentTypeError(
            f"invalid features {text!r} ({exc}); use default, all, or FAMILY:S1,S2;FAMILY:S, "
            "e.g. 'gaussian_smoothing:1.0,2.0;hessian:1.0'"
        ) from exc


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _exports(text: str) -> list[str]:
    names = list(dict.fromkeys(_csv(text)))
    unknown = [n for n in names if n not in OUTPUTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown outputs {unknown or text!r}; choose from {','.join(OUTPUTS)}"
        )
    return names


def _chunks(text: str) -> int | tuple[int, ...]:
    values = [_positive_int(v) for v in text.split(",")]
    return values[0] if len(values) == 1 else tuple(values)


def _roi_spec(text: str) -> dict[str, tuple[float | None, float | None]] | list[Any]:
    """Parse ``z=0:64,y=0:512,x=100:600`` (or ``0:64,0:512,100:600``, axes z, y, x)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    named = [("=" in p) for p in parts]
    if not parts or (any(named) and not all(named)):
        raise argparse.ArgumentTypeError(
            f"invalid --roi {text!r}; use AXIS=START:STOP per axis, e.g. y=0:512,x=100:600, "
            "or START:STOP per spatial axis in z, y, x order")
    boxes: list[tuple[str, tuple[float | None, float | None]]] = []
    for part in parts:
        axis, _, span = part.rpartition("=")
        start, sep, stop = span.partition(":")
        try:
            if not sep:
                raise ValueError(span)
            bounds = tuple(None if not v.strip() else _number(v) for v in (start, stop))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid --roi range {part!r}; use START:STOP, e.g. x=100:600") from None
        boxes.append((axis.strip().lower(), (bounds[0], bounds[1])))
    return dict(boxes) if all(named) else [b for _, b in boxes]


def _number(text: str) -> float:
    value = float(text)
    return int(value) if value.is_integer() and "." not in text else value


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brushlab", description="Pixel classification of microscopy images from sparse labels."
    )
    parser.add_argument("--version", action="version", version=f"brushlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train a classifier from images and sparse labels")
    train.add_argument("images", nargs="+", metavar="IMAGE")
    train.add_argument("--labels", nargs="+", required=True, metavar="LABELS",
                       help="one labels image per IMAGE: 0 unlabelled, 1..K classes")
    train.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write")
    train.add_argument("--classes", type=_csv, metavar="NAME,NAME", help="names of classes 1..K")
    train.add_argument("--features", type=parse_features, default=None,
                       help="default, all, or FAMILY:S1,S2;FAMILY:S (default: default)")
    train.add_argument("--trees", type=_positive_int, default=100, help="trees (default 100)")
    train.add_argument("--balanced", action="store_true", help="weigh classes by label counts")
    train.add_argument("--seed", type=int, default=None, help="random seed (reproducible forest)")

    predict = sub.add_parser("predict", help="predict images with a trained model",
                             epilog=_PREDICT_EPILOG,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    predict.add_argument("model", metavar="MODEL")
    predict.add_argument("inputs", nargs="+", metavar="INPUT")
    predict.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                         help="folder for the results (created if needed); with --blockwise, "
                              "the OME-Zarr to write (OUT.zarr)")
    predict.add_argument("--export", type=_exports, default=["probabilities", "segmentation"],
                         help=f"comma-separated from {','.join(OUTPUTS)} "
                              "(default probabilities,segmentation)")
    predict.add_argument("--format", choices=list(_FORMATS), default=None,
                         help="file format (default tiff; --blockwise writes OME-Zarr)")
    predict.add_argument("--tile", type=_positive_int, default=None, metavar="N",
                         help="tile edge in pixels (bounds memory; results do not change)")
    predict.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    predict.add_argument("-q", "--quiet", action="store_true", help="no progress bar or messages")
    big = predict.add_argument_group("big data (--blockwise)")
    big.add_argument("--blockwise", action="store_true",
                     help="predict one INPUT of any size chunk by chunk (Dask) into OUT.zarr")
    big.add_argument("--chunks", type=_chunks, default=None, metavar="N[,N,N]",
                     help="chunk edge of the output, or one per spatial axis (default 1024 "
                          "in 2D, 64,256,256 in 3D)")
    big.add_argument("--roi", type=_roi_spec, default=None, metavar="BOX",
                     help="predict only this box, e.g. z=0:64,y=0:512,x=100:600")
    big.add_argument("--roi-unit", default="pixel", metavar="UNIT",
                     help="unit of --roi: pixel (default), physical (the image's), or e.g. um")
    big.add_argument("--scheduler", default="threads", metavar="threads|processes|ADDRESS",
                     help="where to run: threads (default), processes (a local Dask cluster) "
                          "or a Dask scheduler address, e.g. tcp://10.0.0.1:8786")
    big.add_argument("--memory-limit", default=None, metavar="SIZE",
                     help="memory per worker, e.g. 4GB (default: half the machine)")
    big.add_argument("--dry-run", action="store_true",
                     help="time one chunk and print expected time, size and memory; write nothing")

    for command in (train, predict):
        command.add_argument("--dims", default=None,
                             help="axes of every image as stored, e.g. zyx or cyx")
        command.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                             help="threads (default: all cores)")

    info = sub.add_parser("info", help="describe a model file")
    info.add_argument("model", metavar="MODEL")
    info.add_argument("--json", action="store_true", help="print JSON")
    objects_cli.add_parser(sub)
    dl_cli.add_parser(sub)
    network_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``brushlab`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 success, 1 data error, 2 usage error, 3 some inputs of a batch failed,
        130 interrupted.
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "train":
            return _train(args, parser)
        if args.command == "predict":
            return _predict(args, parser)
        if args.command == "objects":
            return objects_cli.run(args)
        if args.command == "model":
            return dl_cli.run(args)
        if args.command == "train-network":
            return network_cli.run(args)
        return _info(args)
    except SystemExit as exc:  # argparse: --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else 1)
    except (BrushlabError, OSError) as exc:
        _error(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        _error("interrupted; files being written were discarded")
        return EXIT_INTERRUPTED


def _error(message: str) -> None:
    print(f"brushlab: error: {message}", file=sys.stderr)


def _train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if len(args.labels) != len(args.images):
        parser.error(f"got {len(args.images)} image(s) but {len(args.labels)} labels file(s); "
                     "pass one --labels file per image, in the same order")
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


def _stem(source: str) -> str:
    h5 = _split_h5(source)
    if h5 and h5[1]:
        return f"{h5[0].stem}_{h5[1].strip('/').replace('/', '_')}"
    stem = Path(h5[0] if h5 else source).stem
    return stem[: -len(".ome")] if stem.lower().endswith(".ome") else stem


def _targets(stem: str, outdir: Path, args: argparse.Namespace,
             classes: list[str]) -> list[tuple[str, int | None, Path]]:
    """``(output, class index or None, path)`` of every file an input produces."""
    ext = _FORMATS[args.format]
    out: list[tuple[str, int | None, Path]] = []
    for name in args.export:
        if name == "probabilities" and args.format == "png":
            safe = [re.sub(r"[^\w.-]+", "_", c) for c in classes]
            if len(set(safe)) != len(safe):
                safe = [str(k) for k in range(1, len(classes) + 1)]
            out += [(name, k, outdir / f"{stem}_{name}_{s}{ext}") for k, s in enumerate(safe)]
        else:
            out.append((name, None, outdir / f"{stem}_{name}{ext}"))
    return out


def _as_written(result: xr.Dataset, name: str, k: int | None, png: bool) -> xr.DataArray:
    data = result[name]
    if k is not None:
        data = data.isel({"class": k})
    elif name == "probabilities":  # the class axis becomes the channel axis
        data = data.rename({"class": "c"}).drop_vars("c")
    if png and name != "segmentation":
        data = data.copy(data=np.round(data.values * 255).clip(0, 255).astype(np.uint8))
    return data.drop_vars(list(data.coords))


_BLOCKWISE_ONLY = {"chunks": None, "roi": None, "roi_unit": "pixel", "scheduler": "threads",
                   "memory_limit": None, "dry_run": False}


def _predict(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.blockwise:
        return _predict_blockwise(args, parser)
    given = [f"--{k.replace('_', '-')}" for k, v in _BLOCKWISE_ONLY.items()
             if getattr(args, k) != v]
    if given:
        parser.error(f"{', '.join(given)} only work with --blockwise")
    args.format = args.format or "tiff"
    stems = [_stem(source) for source in args.inputs]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        parser.error(f"several inputs share the name {clashes[0]!r}, so their outputs would "
                     "overwrite each other; predict them into separate --output folders")
    clf = load_classifier(args.model)
    classes = list(clf.class_names or [])
    if args.format == "png" and clf.spatial_ndim != 2:
        raise ImageError(f"PNG holds 2D images only but {args.model} predicts "
                         f"{clf.spatial_ndim}D images; choose --format tiff, npy, h5 or zarr")
    if args.jobs:
        clf.n_jobs = args.jobs
    outdir = Path(args.output)
    outdir.mkdir(parents=True, exist_ok=True)
    say: Callable[..., None] = (lambda *a: None) if args.quiet else print
    failed: list[tuple[str, str]] = []
    done = skipped = 0
    for i, (source, stem) in enumerate(zip(args.inputs, stems), 1):
        targets = _targets(stem, outdir, args, classes)
        todo = targets if args.overwrite else [t for t in targets if not t[2].exists()]
        if not todo:
            say(f"skipped {source}: its outputs exist in {outdir} (--overwrite to replace)")
            skipped += 1
            continue
        try:
            _predict_one(clf, source, todo, args, f"[{i}/{len(stems)}] {Path(source).name}")
        except (BrushlabError, OSError) as exc:  # report it, go on with the next input
            _error(f"{source}: {exc}")
            failed.append((source, str(exc)))
            continue
        done += 1
        say(f"wrote {', '.join(t[2].name for t in todo)} for {source}")
    return batch_exit(failed, len(args.inputs), done + skipped)


def batch_exit(failed: Sequence[tuple[str, str]], n_inputs: int, finished: int) -> int:
    """Report a batch's failed inputs and return its exit code.

    Parameters
    ----------
    failed : sequence of (str, str)
        ``(input, message)`` of each input that failed.
    n_inputs : int
        Inputs of the batch.
    finished : int
        Inputs done or skipped because their outputs existed.

    Returns
    -------
    int
        0 when nothing failed, 3 when some inputs failed, 1 when none finished.
    """
    if not failed:
        return EXIT_OK
    summary = "\n".join(f"  {source}: {message}" for source, message in failed)
    _error(f"{len(failed)} of {n_inputs} input(s) failed:\n{summary}")
    return EXIT_PARTIAL if finished else EXIT_ERROR


def _predict_one(clf: PixelClassifier, source: str, todo: list[tuple[str, int | None, Path]],
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


def _predict_blockwise(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .blockwise import BlockwiseEstimate, predict_blockwise
    from .ome_zarr import output_status

    if len(args.inputs) != 1:
        parser.error(f"--blockwise predicts one INPUT into one OME-Zarr, got {len(args.inputs)}; "
                     "run one command per input")
    if args.format not in (None, "zarr"):
        parser.error("--blockwise writes OME-Zarr; leave out --format")
    clf = load_classifier(args.model)
    say: Callable[..., None] = (lambda *a: None) if args.quiet else print
    out = Path(args.output)
    tile = (args.tile,) * (clf.spatial_ndim or 2) if args.tile else None
    client, cluster = _dask_client(args.scheduler, args.jobs)
    try:
        if not args.dry_run:
            out.parent.mkdir(parents=True, exist_ok=True)
        result = predict_blockwise(
            clf, args.inputs[0], out, chunks=args.chunks, roi=args.roi, roi_unit=args.roi_unit,
            outputs=args.export, client=client, overwrite=args.overwrite, dims=args.dims,
            n_workers=args.jobs if client is None else None, memory_limit=args.memory_limit,
            tile_shape=tile, progress=False if args.quiet else None, estimate=args.dry_run)
    except (BrushlabError, KeyboardInterrupt) as exc:
        incomplete = False
        try:
            incomplete = output_status(out)["status"] == "incomplete"
        except BrushlabError:
            pass
        if not incomplete:
            raise
        hint = f"{out} is incomplete: run the same command again to resume"
        if isinstance(exc, KeyboardInterrupt):
            _error(f"interrupted; {hint}")
            return EXIT_INTERRUPTED
        raise type(exc)(f"{exc}; {hint} once the cause is fixed") from exc
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    if isinstance(result, BlockwiseEstimate):
        print(f"dry run of {args.inputs[0]} -> {out} (nothing written)")
        print(result)
        return EXIT_OK
    if result.chunks_computed == 0:
        say(f"{out} is already complete (same model, input and options); --overwrite redoes it")
    else:
        resumed = f", {result.chunks_resumed} resumed" if result.chunks_resumed else ""
        say(f"wrote {out}: {result.chunks_computed} of {result.chunks_total} chunks computed"
            f"{resumed} in {result.seconds:.1f} s")
    return EXIT_OK


def _dask_client(scheduler: str, jobs: int | None) -> tuple[Any, Any]:
    """``(client, cluster)`` for --scheduler: none for threads, a LocalCluster for processes."""
    if scheduler == "threads":
        return None, None
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise BrushlabError("--scheduler processes or ADDRESS needs dask.distributed: "
                            "pip install 'brushlab[cluster]'") from exc
    if scheduler == "processes":
        cluster = LocalCluster(n_workers=jobs or os.cpu_count() or 1, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout="20s"), None
    except (OSError, TimeoutError, ValueError) as exc:
        raise BrushlabError(f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); check "
                            "the address, or use --scheduler threads|processes") from exc


def _info(args: argparse.Namespace) -> int:
    clf = load_classifier(args.model)
    info: dict[str, Any] = {
        "model": args.model,
        "classes": list(clf.class_names or []),
        "features": clf.features.selection,
        "n_features": len(clf.feature_names),
        "n_channels": clf.n_channels,
        "spatial_ndim": clf.spatial_ndim,
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
    print(f"forest:   {info['n_trees']} trees, class_weight {info['class_weight']}, "
          f"seed {info['random_state']}")
    if training:
        print(f"training: {training.get('n_images', '?')} image(s), "
              f"{training.get('fit_seconds', '?')} s, {training.get('date', '?')}")
        for name, count in counts.items():
            print(f"  {name}: {count:,} labelled pixels")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
