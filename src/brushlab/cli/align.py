"""``brushlab align``: register the sections of a stack and write the aligned stack to OME-Zarr.

Registered by :mod:`brushlab.cli`; exit codes and error reporting are that module's.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser", "run"]

_EPILOG = """\
Registers each section of INPUT (a z, y, x stack: OME-Zarr, Zarr, TIFF, file.h5/dataset)
to its predecessors, chains the pairs to --reference (which stays where it is), and writes
the aligned stack chunk by chunk to OUTPUT (OME-Zarr, the input's dtype), with the
transforms in OUTPUT/alignment/transforms.npz. Damaged or blank sections are reported and
get their neighbours' transform. An interrupted run resumes when started again with the
same arguments; --overwrite starts afresh."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``align`` subcommand to ``brushlab``'s subparsers and return it.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="brushlab")
    >>> _ = add_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["align", "em.zarr", "-o", "aligned.ome.zarr"])
    >>> args.input, args.output, args.model
    ('em.zarr', 'aligned.ome.zarr', 'affine')
    """
    from brushlab.cli._common import chunks as _chunks
    from brushlab.cli._common import positive_int as _positive_int

    p = subparsers.add_parser("align", help="align the sections of an EM stack (to OME-Zarr)",
                              epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="INPUT", help="stack of sections (z, y, x)")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT.ome.zarr",
                   help="OME-Zarr folder to write")
    p.add_argument("--model", choices=("translation", "rigid", "affine", "elastic"),
                   default="affine", help="transform per section (default affine)")
    p.add_argument("--reference", type=int, default=0, metavar="Z",
                   help="section that stays where it is (default 0)")
    p.add_argument("--neighbors", type=_positive_int, default=2, metavar="N",
                   help="predecessors each section is matched to (default 2)")
    p.add_argument("--chunks", type=_chunks, default=None, metavar="N[,N,N]",
                   help="output chunk: y and x edge, or z,y,x (default 1,1024,1024)")
    p.add_argument("--scheduler", default="threads", metavar="threads|processes|ADDRESS",
                   help="where to run: threads (default), processes (a local Dask cluster) "
                        "or a Dask scheduler address")
    p.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                   help="threads or processes (default: all cores)")
    p.add_argument("--dims", default=None, help="axes of INPUT as stored, e.g. zyx or zcyx")
    p.add_argument("--transforms", default=None, metavar="FILE.npz",
                   help="also save the transforms to this file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    p.add_argument("--dry-run", action="store_true",
                   help="time one pair and one section; print the expected cost, write nothing")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or messages")
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``brushlab align`` with parsed ``args``; returns the exit code."""
    from brushlab.align._blockwise import AlignEstimate, align_blockwise
    from brushlab.cli._common import dask_client as _dask_client

    chunks = args.chunks  # an int (y and x), or a tuple
    if isinstance(chunks, tuple) and len(chunks) == 2:
        chunks = (1, *chunks)
    client, cluster = _dask_client(args.scheduler, args.jobs)
    try:
        result = align_blockwise(
            args.input, args.output, model=args.model, reference=args.reference,
            neighbors=args.neighbors, chunks=chunks, client=client, n_workers=args.jobs,
            overwrite=args.overwrite, estimate=args.dry_run, dims=args.dims,
            progress=False if args.quiet else True)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    if isinstance(result, AlignEstimate):
        print(f"estimate: {result}")
        return 0
    if args.transforms:
        result.transforms.save(args.transforms)
    if not args.quiet:
        damaged = result.transforms.damaged
        note = f"; damaged or blank sections (interpolated): {damaged}" if damaged else ""
        print(f"wrote {result.path}: {result.transforms.n_sections} sections, "
              f"{result.slabs_computed} of {result.slabs_total} slabs written in "
              f"{result.seconds:.1f} s{note}", file=sys.stdout)
    return 0
