"""``brushlab predict --blockwise``: one input of any size, chunk by chunk, into an OME-Zarr.

Its options are a group of ``predict`` (:mod:`brushlab.cli.classifier` adds them with
:func:`add_arguments`); ``predict`` hands the run over to :func:`run` when
``--blockwise`` is given.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from brushlab._core.atomic import remove_stale_temps
from brushlab.cli._common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    chunks,
    dask_client,
    error,
    roi_spec,
)
from brushlab.errors import BrushlabError

__all__ = ["add_arguments", "options_given", "run"]

# the options that only --blockwise reads, with their defaults
_BLOCKWISE_ONLY = {"chunks": None, "roi": None, "roi_unit": "pixel", "scheduler": "threads",
                   "memory_limit": None, "dry_run": False}


def add_arguments(predict: argparse.ArgumentParser) -> None:
    """Add the ``big data (--blockwise)`` option group to the ``predict`` parser."""
    big = predict.add_argument_group("big data (--blockwise)")
    big.add_argument("--blockwise", action="store_true",
                     help="predict one INPUT of any size chunk by chunk (Dask) into OUT.zarr")
    big.add_argument("--chunks", type=chunks, default=None, metavar="N[,N,N]",
                     help="chunk edge of the output, or one per spatial axis (default 1024 "
                          "in 2D, 64,256,256 in 3D)")
    big.add_argument("--roi", type=roi_spec, default=None, metavar="BOX",
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


def options_given(args: argparse.Namespace) -> list[str]:
    """List the ``--blockwise``-only options that `args` sets away from their defaults.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> options_given(parser.parse_args(["--chunks", "64,256,256"]))
    ['--chunks']
    """
    return [f"--{k.replace('_', '-')}" for k, v in _BLOCKWISE_ONLY.items()
            if getattr(args, k) != v]


def run(args: argparse.Namespace) -> int:
    """Run ``brushlab predict --blockwise``; return the exit code (0, 1, 2 usage, 130)."""
    from brushlab.blockwise import BlockwiseEstimate, predict_blockwise
    from brushlab.io.ome_zarr import output_status
    from brushlab.network import load_model_file

    if len(args.inputs) != 1:
        args.parser.error(f"--blockwise predicts one INPUT into one OME-Zarr, got "
                          f"{len(args.inputs)}; run one command per input")
    if args.format not in (None, "zarr"):
        args.parser.error("--blockwise writes OME-Zarr; leave out --format")
    clf = load_model_file(args.model)
    say: Callable[..., None] = (lambda *a: None) if args.quiet else print
    out = Path(args.output)
    tile = (args.tile,) * (clf.spatial_ndim or 2) if args.tile else None
    client, cluster = dask_client(args.scheduler, args.jobs)
    try:
        if not args.dry_run:
            out.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temps([out])  # of a run killed while it created the output
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
            error(f"interrupted; {hint}")
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
