"""The ``brushlab`` command line: ``main`` and one module per command group."""

from __future__ import annotations

from brushlab.cli._main import main, parse_features

__all__ = ["main", "parse_features"]
