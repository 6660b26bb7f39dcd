"""What every ``brushlab`` subcommand shares.

Exit codes, error lines, argument types, the batch summary, output naming and the
Dask client. Subcommand modules import these names (and ``remove_stale_temps`` from
:mod:`brushlab._core.atomic`); nothing here imports a subcommand.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from brushlab.errors import BrushlabError, FeatureError
from brushlab.features import FeatureSet
from brushlab.io import split_h5

__all__ = [
    "EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "batch_exit",
    "chunks", "csv", "dask_client", "error", "failure", "number", "parse_features",
    "positive_int", "roi_spec", "stem",
]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def error(message: str) -> None:
    r"""Print ``brushlab: error: message`` to stderr.

    Examples
    --------
    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     error("a.tif: no file")
    >>> err.getvalue()
    'brushlab: error: a.tif: no file\n'
    """
    print(f"brushlab: error: {message}", file=sys.stderr)


def failure(exc: Exception) -> str:
    """Say why an input of a batch failed, in the words the batch reports.

    brushlab's own errors and OS errors say what is wrong in their message; any
    other exception (a bug, or a model or input brushlab did not foresee) is
    named by its type as well, since its message alone is often a bare value.

    Examples
    --------
    >>> failure(OSError("disk full"))
    'disk full'
    >>> failure(KeyError("c"))
    "unexpected KeyError: 'c'"
    """
    if isinstance(exc, (BrushlabError, OSError)):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc}"


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

    Examples
    --------
    >>> batch_exit([], 2, 2)
    0
    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     code = batch_exit([("b.tif", "not a TIFF")], 2, 1)
    >>> code, err.getvalue().splitlines()
    (3, ['brushlab: error: 1 of 2 input(s) failed:', '  b.tif: not a TIFF'])
    """
    if not failed:
        return EXIT_OK
    summary = "\n".join(f"  {source}: {message}" for source, message in failed)
    error(f"{len(failed)} of {n_inputs} input(s) failed:\n{summary}")
    return EXIT_PARTIAL if finished else EXIT_ERROR


def stem(source: str) -> str:
    """Name an input's outputs start with.

    The file name without its extension (and without ``.ome``); for an HDF5
    dataset ``file.h5/group/data``, the file's stem and the dataset path.

    Examples
    --------
    >>> stem("plate/a1.ome.tif"), stem("volume.h5/raw/data")
    ('a1', 'volume_raw_data')
    """
    h5 = split_h5(source)
    if h5 and h5[1]:
        return f"{h5[0].stem}_{h5[1].strip('/').replace('/', '_')}"
    name = Path(h5[0] if h5 else source).stem
    return name[: -len(".ome")] if name.lower().endswith(".ome") else name


# -- argument types ----------------------------------------------------------------------


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


def positive_int(text: str) -> int:
    """Argument type: an integer of at least 1.

    Examples
    --------
    >>> positive_int("4")
    4
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def csv(text: str) -> list[str]:
    """Argument type: comma-separated names, blanks dropped.

    Examples
    --------
    >>> csv("dark, bright,")
    ['dark', 'bright']
    """
    return [item.strip() for item in text.split(",") if item.strip()]


def chunks(text: str) -> int | tuple[int, ...]:
    """Argument type of ``--chunks``: one edge, or one per spatial axis.

    Examples
    --------
    >>> chunks("256"), chunks("64,256,256")
    (256, (64, 256, 256))
    """
    values = [positive_int(v) for v in text.split(",")]
    return values[0] if len(values) == 1 else tuple(values)


def roi_spec(text: str) -> dict[str, tuple[float | None, float | None]] | list[Any]:
    """Argument type of ``--roi``: ``z=0:64,y=0:512,x=100:600`` or ``0:64,0:512,100:600``.

    Named boxes give a dict by axis; unnamed ones a list in z, y, x order.

    Examples
    --------
    >>> roi_spec("y=0:512,x=100:")
    {'y': (0, 512), 'x': (100, None)}
    >>> roi_spec("0:8,0.5:8.5")
    [(0, 8), (0.5, 8.5)]
    """
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
            bounds = tuple(None if not v.strip() else number(v) for v in (start, stop))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid --roi range {part!r}; use START:STOP, e.g. x=100:600") from None
        boxes.append((axis.strip().lower(), (bounds[0], bounds[1])))
    return dict(boxes) if all(named) else [b for _, b in boxes]


def number(text: str) -> float:
    """Read an int when `text` writes one (no decimal point), else a float.

    Examples
    --------
    >>> number("8"), number("8.0"), number("1e3")
    (8, 8.0, 1000)
    """
    value = float(text)
    return int(value) if value.is_integer() and "." not in text else value


# -- Dask ----------------------------------------------------------------------------------


def dask_client(scheduler: str, jobs: int | None) -> tuple[Any, Any]:
    """``(client, cluster)`` for ``--scheduler``.

    ``threads`` needs neither (Dask's threaded scheduler); ``processes`` starts a
    LocalCluster of `jobs` single-threaded workers (default: one per core); any
    other value is the address of a running scheduler. Close both when done.

    Examples
    --------
    >>> dask_client("threads", None)
    (None, None)
    """
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
