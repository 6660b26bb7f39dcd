"""The ``brushlab`` command line: :func:`main` plus one module per command group.

Layout
------
``_main.py``
    The top-level parser and :func:`main` (exit codes, error lines, Ctrl-C).
``_common.py``
    What subcommands share: exit codes (``EXIT_OK`` 0, ``EXIT_ERROR`` 1, ``EXIT_USAGE`` 2,
    ``EXIT_PARTIAL`` 3, ``EXIT_INTERRUPTED`` 130), ``error``, argument types
    (``positive_int``, ``csv``, ``chunks``, ``roi_spec``, ``number``, ``parse_features``),
    the batch summary ``batch_exit`` with ``failure``, output naming ``stem`` and
    ``dask_client``.
``classifier.py``
    ``train``, ``predict`` and ``info``; ``blockwise.py`` holds ``predict --blockwise``.
``objects.py``, ``bioimageio.py``
    ``objects`` and ``model``.

Adding a command group
----------------------
A new module ``brushlab/cli/NAME.py`` defines two functions and is added to
``_GROUPS`` in ``_main.py`` (its place there is its place in ``brushlab --help``):

``add_parser(subparsers)``
    Adds its command(s) with ``subparsers.add_parser(...)``; one module may add
    several. Each command name it adds is dispatched to this module's ``run``.
``run(args) -> int``
    Runs the command ``args.command`` (the parsed :class:`argparse.Namespace`) and
    returns the exit code from ``_common``.

Conventions inside ``run``: import helpers from ``brushlab.cli._common`` and
``brushlab._core.atomic``, never from another command's module; raise
:class:`brushlab.errors.BrushlabError` (or let an ``OSError`` through) for a data error,
which ``main`` prints as one line and exits 1; call ``args.parser.error(message)`` (the
top-level parser) or your own subparser's ``error`` for a usage error (exit 2). A batch
over inputs reports each failed input with ``error(f"{source}: {failure(exc)}")``, goes
on with the next one, and returns ``batch_exit(failed, n_inputs, finished)`` (3 when
some failed). Writes go through brushlab's atomic writers; call
``remove_stale_temps(targets)`` before writing to clear what a killed run left. Keep
slow imports inside ``run``. A group with several actions (``brushlab model
list|test|predict``) adds its own subparsers under its command and dispatches on their
``dest`` in ``run``.

Examples
--------
>>> import contextlib, io
>>> from brushlab.cli import main
>>> with contextlib.redirect_stderr(io.StringIO()) as err:
...     code = main(["predict", "model.brushlab", "a.tif", "--chunks", "64", "-o", "out"])
>>> code, err.getvalue().splitlines()[-1]
(2, 'brushlab: error: --chunks only work with --blockwise')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from brushlab.cli._common import parse_features
    from brushlab.cli._main import main

__all__ = ["main", "parse_features"]


def __getattr__(name: str) -> Any:
    # imported on first use, so that ``python -m brushlab.cli._main`` runs _main only once
    if name == "main":
        from brushlab.cli._main import main

        return main
    if name == "parse_features":
        from brushlab.cli._common import parse_features

        return parse_features
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
