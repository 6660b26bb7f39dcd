"""The ``brushlab`` command: the top-level parser, and :func:`main` that runs a command.

Exit codes: 0 success; 1 a data error (bad file, labels, model); 2 a usage error; 3 some
inputs of a batch failed while others succeeded; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from brushlab._version import __version__
from brushlab.cli import align, bioimageio, classifier, network, objects
from brushlab.cli._common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, error
from brushlab.errors import BrushlabError

__all__ = ["main"]

# the command groups, in the order ``brushlab --help`` lists their commands
_GROUPS: tuple[ModuleType, ...] = (classifier, objects, bioimageio, align, network)


def _build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[..., int]]]:
    """Build the parser; also return the ``run`` function of each command name."""
    parser = argparse.ArgumentParser(
        prog="brushlab", description="Pixel classification of microscopy images from sparse labels."
    )
    parser.add_argument("--version", action="version", version=f"brushlab {__version__}")
    parser.set_defaults(parser=parser)  # for args.parser.error(...): usage errors, exit 2
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    runs: dict[str, Callable[..., int]] = {}
    for group in _GROUPS:
        before = set(sub.choices)
        group.add_parser(sub)
        runs.update(dict.fromkeys(set(sub.choices) - before, group.run))
    return parser, runs


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

    Examples
    --------
    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     code = main(["info", "no-such-model.brushlab"])
    >>> code, err.getvalue().startswith("brushlab: error: model file not found")
    (1, True)
    """
    parser, runs = _build_parser()
    try:
        args = parser.parse_args(argv)
        return runs[args.command](args)
    except SystemExit as exc:  # argparse: --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else 1)
    except (BrushlabError, OSError) as exc:
        error(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        error("interrupted; files being written were discarded")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
