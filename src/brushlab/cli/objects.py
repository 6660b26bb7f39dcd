"""``brushlab objects``: instance labels and measurement tables for a batch of images.

Registered by :mod:`brushlab.cli._main`; exit codes and error reporting come from
:mod:`brushlab.cli._common`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brushlab._core.atomic import remove_stale_temps
from brushlab.cli._common import (
    batch_exit,
    error,
    failure,
    positive_int,
    stem,
)
from brushlab.errors import ImageError, LabelError

__all__ = ["add_parser", "run"]

_EPILOG = """\
For each INPUT, writes OUTDIR/<stem>_objects.tif (instance labels 1..N, 0 background, with
the input's pixel size) and OUTDIR/<stem>_objects.csv (or .parquet): one row per object
with its size in pixels and physical units, centroid, bounding box, intensities, shape
and, with a MODEL, its class and class confidence. Files are written atomically; inputs
whose outputs exist are skipped unless --overwrite.

With a MODEL, each INPUT is predicted first; objects are the pixels of --class (default:
the second of two classes, e.g. "cell" in background,cell), or, with --method watershed,
the regions between the pixels of --class (a boundary class, e.g. membrane).
With --precomputed, the INPUTs are already segmentations: an integer image is a class mask
(objects: its nonzero pixels, or the value --class), a float image in [0, 1] a probability
(of the objects for components, of the boundaries for --method watershed)."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``objects`` subcommand to ``brushlab``'s subparsers and return it.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``brushlab`` parser's subcommands.

    Returns
    -------
    argparse.ArgumentParser
        The ``objects`` parser.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="brushlab")
    >>> _ = add_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["objects", "model.brushlab", "cells.tif", "-o", "out"])
    >>> args.inputs, args.output, args.method
    (['model.brushlab', 'cells.tif'], 'out', 'components')
    """
    p = subparsers.add_parser(
        "objects",
        help="instance labels and measurements of objects",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="[MODEL] INPUT",
                   help="a model file then images, or (--precomputed) masks/probabilities")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="folder for labels and tables (created if needed)")
    p.add_argument("--precomputed", action="store_true",
                   help="the INPUTs are masks or probabilities; no MODEL")
    p.add_argument("--class", dest="class_name", default=None, metavar="NAME",
                   help="class of the objects (or of the boundaries with --method watershed)")
    p.add_argument("--method", choices=("components", "watershed"), default="components",
                   help="components of the class mask (default), or a watershed of the "
                        "boundary probability")
    p.add_argument("--separate", action=argparse.BooleanOptionalAction, default=True,
                   help="split touching objects (components; default on)")
    p.add_argument("--min-confidence", type=_probability, default=None, metavar="P",
                   help="leave pixels whose largest class probability is below P unassigned")
    p.add_argument("--crf", action="store_true", help="smooth the prediction with a dense CRF")
    p.add_argument("--fill-holes", action=argparse.BooleanOptionalAction, default=True,
                   help="fill holes inside objects (components; default on)")
    p.add_argument("--min-size", type=float, default=0.0, metavar="SIZE",
                   help="drop objects smaller than SIZE (physical area/volume, pixels "
                        "without spacing)")
    p.add_argument("--measure", choices=("csv", "parquet", "none"), default="csv",
                   help="measurement table format (default csv)")
    p.add_argument("--dims", default=None, help="axes of every input as stored, e.g. zyx")
    p.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                   help="threads (default: all cores)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("-q", "--quiet", action="store_true", help="no messages")
    p.set_defaults(objects_parser=p)
    return p


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1], got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    """Run ``brushlab objects``; return the exit code (0, 1, 2 usage, 3 partial)."""
    from brushlab.classifier import load_classifier

    parser: argparse.ArgumentParser = args.objects_parser
    model = None
    inputs = list(args.inputs)
    if not args.precomputed:
        if len(inputs) < 2:
            parser.error("give a MODEL and at least one INPUT image, or --precomputed INPUT...")
        model = load_classifier(inputs.pop(0))
        if args.jobs:
            model.n_jobs = args.jobs
    elif args.crf or args.min_confidence is not None:
        parser.error("--crf and --min-confidence need a MODEL's prediction, not --precomputed")
    stems = [stem(source) for source in inputs]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        parser.error(f"several inputs share the name {clashes[0]!r}; their outputs would "
                     "overwrite each other: write them to separate --output folders")
    outdir = Path(args.output)
    outdir.mkdir(parents=True, exist_ok=True)
    targets_of = [_targets(outdir, name, args.measure) for name in stems]
    remove_stale_temps(t for targets in targets_of for t in targets)  # of a killed run
    say = (lambda *a: None) if args.quiet else print
    failed: list[tuple[str, str]] = []
    done = skipped = 0
    for source, targets in zip(inputs, targets_of):
        if not args.overwrite and all(t.exists() for t in targets):
            say(f"skipped {source}: its outputs exist in {outdir} (--overwrite to replace)")
            skipped += 1
            continue
        try:
            n = _one(model, source, targets, args)
        except Exception as exc:  # report it, go on with the next input
            error(f"{source}: {failure(exc)}")
            failed.append((source, failure(exc)))
            continue
        done += 1
        say(f"wrote {n} objects of {source}: {', '.join(t.name for t in targets)}")
    return batch_exit(failed, len(inputs), done + skipped)


def _targets(outdir: Path, name: str, measure: str) -> list[Path]:
    """Give the labels image, then the table (unless ``--measure none``), of one input."""
    labels = outdir / f"{name}_objects.tif"
    return [labels] if measure == "none" else [labels, outdir / f"{name}_objects.{measure}"]


def _class_index(names: list[str], wanted: str | None, method: str) -> int:
    if wanted is None:
        if len(names) == 2:
            return 1
        raise LabelError(
            f"the model has classes {names}: choose the class of the "
            f"{'boundaries' if method == 'watershed' else 'objects'} with --class NAME"
        )
    if wanted not in names:
        raise LabelError(f"--class {wanted!r} is not a class of the model; it has {names}")
    return names.index(wanted)


def _one(model: Any, source: str, targets: list[Path], args: argparse.Namespace) -> int:
    from brushlab.io import imread, write_image
    from brushlab.objects import (
        crf_smooth,
        fill_holes,
        instances,
        measure,
        min_confidence,
        write_table,
    )

    image = imread(source, args.dims)
    result: xr.Dataset | None = None
    intensities: Any = image
    if model is not None:
        result = model.predict(image)
        if args.crf:
            result = crf_smooth(result, image)
        if args.min_confidence is not None:
            result = min_confidence(result, args.min_confidence)
        names = [str(c) for c in result.coords["class"].values]
        k = _class_index(names, args.class_name, args.method)
        if args.method == "watershed":
            data: Any = result["probabilities"].isel({"class": k}).drop_vars("class")
        else:
            data = result["segmentation"] == k + 1
    else:
        intensities = None
        data = _precomputed(image, args)
    # comparisons drop attrs: give the objects the image's pixel size back
    data.attrs = {k: image.attrs[k] for k in ("spacing", "unit") if k in image.attrs}
    if args.method == "components" and args.fill_holes:
        data = fill_holes(data)
    labels = instances(data, method=args.method, separate=args.separate, min_size=args.min_size)
    top = int(labels.max()) if labels.size else 0
    stored = labels.astype(np.uint16 if top < 2**16 else np.uint32)
    attrs = image.attrs
    write_image(targets[0], stored, spacing=attrs.get("spacing"), unit=attrs.get("unit"))
    if len(targets) > 1:
        write_table(measure(labels, intensities, result=result), targets[1])
    return top


def _precomputed(image: xr.DataArray, args: argparse.Namespace) -> Any:
    if "c" in image.dims or "t" in image.dims:
        raise ImageError(
            f"a precomputed input must be one 2D or 3D mask or probability, not dims "
            f"{image.dims}: save the channel of the objects alone"
        )
    if np.issubdtype(image.dtype, np.floating):
        lo, hi = float(image.min()), float(image.max())
        if lo < 0 or hi > 1:
            raise ImageError(f"a probability must lie in [0, 1], this one ranges {lo:g}..{hi:g}")
        return image if args.method == "watershed" else image > 0.5
    if args.method == "watershed":
        raise ImageError(
            f"--method watershed needs a boundary probability (float), not a {image.dtype} "
            "mask; use --method components for masks"
        )
    if args.class_name is None:
        return image > 0
    try:
        value = int(args.class_name)
    except ValueError:
        raise LabelError(
            f"--class {args.class_name!r} must be a value of the mask with --precomputed"
        ) from None
    return image == value

