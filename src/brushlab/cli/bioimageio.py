"""``brushlab model``: list, self-test and run BioImage Model Zoo packages from the shell."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brushlab.cli._common import batch_exit, error, failure, stem

__all__ = ["add_parser", "run"]

_EPILOG = """\
examples:
  brushlab model list models/
  brushlab model test models/coins.zip
  brushlab model predict models/coins.zip plate/*.tif -o results/ --mask-threshold 0.5

predict writes OUTDIR/<image>_<output>.tif for each exported variable (classes or
channels as the channel axis) and, with --mask-threshold, <image>_objects.tif and
<image>_objects.csv. Existing files are kept unless --overwrite. Exit codes: 0 done
(test: all passed), 1 bad input or a failed test, 2 usage, 3 some images failed.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``model`` subcommand to ``brushlab``'s subparsers and return it.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``brushlab`` parser's subcommands.

    Returns
    -------
    argparse.ArgumentParser
        The ``model`` parser.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="brushlab")
    >>> _ = add_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["model", "list", "models"])
    >>> args.command, args.model_command, args.folder
    ('model', 'list', 'models')
    """
    p = subparsers.add_parser(
        "model",
        help="run BioImage Model Zoo packages (ONNX weights)",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="list the packages in a models folder")
    listing.add_argument("folder", metavar="FOLDER")
    test = sub.add_parser("test", help="run a package's own test tensors")
    test.add_argument("packages", nargs="+", metavar="PACKAGE")
    pred = sub.add_parser("predict", help="predict images with a package")
    pred.add_argument("package", metavar="PACKAGE")
    pred.add_argument("inputs", nargs="+", metavar="IMAGE")
    pred.add_argument("-o", "--output", required=True, metavar="OUTDIR")
    pred.add_argument(
        "--export",
        default=None,
        metavar="NAME,NAME",
        help="variables to write (default: probabilities and segmentation when the "
        "model gives them, else its outputs)",
    )
    pred.add_argument("--tile", type=int, default=None, metavar="N", help="tile edge in pixels")
    pred.add_argument(
        "--border",
        type=int,
        default=None,
        metavar="N",
        help="context pixels per tile side (default: the model's halo)",
    )
    pred.add_argument(
        "--mask-threshold",
        type=float,
        default=None,
        metavar="P",
        help="objects where the foreground probability is at least P",
    )
    pred.add_argument(
        "--class-threshold",
        type=float,
        default=0.0,
        metavar="P",
        help="drop objects whose class probability is below P",
    )
    pred.add_argument("--dims", default=None, help="axes of every image as stored, e.g. zyx")
    pred.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    pred.add_argument("-q", "--quiet", action="store_true", help="no messages")
    for action in (listing, test, pred):
        action.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``brushlab model``; return the exit code."""
    if args.model_command == "list":
        return _list(args)
    if args.model_command == "test":
        return _test(args)
    return _predict(args)


def _list(args: argparse.Namespace) -> int:
    from brushlab.bioimageio import discover

    for s in discover(args.folder):
        status = "ok" if s.ok else f"cannot run: {s.error}"
        print(f"{s.name}  ({s.path})  {status}")
        if s.ok:
            print(f"  {s.description}")
            print(f"  inputs:  {'; '.join(s.inputs)}")
            print(f"  outputs: {'; '.join(s.outputs)}")
    return 0


def _test(args: argparse.Namespace) -> int:
    from brushlab.bioimageio import load_model

    failed = 0
    for package in args.packages:
        report = load_model(package, device=args.device).test()
        print(report)
        failed += not report.passed
    return 1 if failed else 0


def _predict(args: argparse.Namespace) -> int:
    from brushlab.bioimageio import load_model
    from brushlab.errors import ModelPackageError
    from brushlab.io import imread, write_image
    from brushlab.objects import object_table, objects_from_probabilities, write_table

    model = load_model(args.package, device=args.device)
    outdir = Path(args.output)
    outdir.mkdir(parents=True, exist_ok=True)
    say = (lambda *a: None) if args.quiet else print
    failed: list[tuple[str, str]] = []
    for source in args.inputs:
        base = stem(source)
        try:
            result = model.predict(
                imread(source, args.dims),
                tile_shape=args.tile,
                border=args.border,
            )
            if args.mask_threshold is not None:
                if "probabilities" not in result:
                    raise ModelPackageError(
                        f"--mask-threshold needs class probabilities, and no output of model "
                        f"{model.name!r} holds them"
                    )
                result = result.merge(objects_from_probabilities(
                    result.probabilities, mask_threshold=args.mask_threshold,
                    class_threshold=args.class_threshold))
            names = _exports(args.export, result)
            if args.mask_threshold is not None:
                names.append("objects")
            for name in names:
                target = outdir / f"{base}_{name}.tif"
                if target.exists() and not args.overwrite:
                    say(f"{target} exists, kept (--overwrite replaces it)")
                    continue
                write_image(target, _channels_last(result[name]), format="tiff")
            if args.mask_threshold is not None:
                write_table(object_table(result), outdir / f"{base}_objects.csv")
            say(f"{source}: wrote {', '.join(names)}")
        except Exception as exc:  # report it, go on with the next input
            error(f"{source}: {failure(exc)}")
            failed.append((source, failure(exc)))
    return batch_exit(failed, len(args.inputs), len(args.inputs) - len(failed))


def _exports(text: str | None, result: xr.Dataset) -> list[str]:
    from brushlab.errors import ModelPackageError

    if text is None:
        if "probabilities" in result:
            return ["probabilities", "segmentation"]
        return [str(v) for v in result.data_vars if not str(v).startswith("object")]
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in result]
    if unknown:
        raise ModelPackageError(
            f"no variable {', '.join(unknown)} in the result; choose from "
            f"{', '.join(map(str, result.data_vars))}"
        )
    return names


def _channels_last(data: xr.DataArray) -> xr.DataArray:
    extra = [d for d in data.dims if d not in ("t", "z", "y", "x")]
    if len(extra) > 1:
        from brushlab.errors import ModelPackageError

        raise ModelPackageError(
            f"cannot write {data.name!r} with dims {data.dims} as one TIFF (one non-spatial "
            "axis at most); leave it out with --export"
        )
    if extra:
        data = data.rename({extra[0]: "c"})
    values = np.asarray(data.values)
    return xr.DataArray(values, dims=data.dims).transpose(
        *[d for d in ("t", "z", "y", "x", "c") if d in data.dims]
    )
