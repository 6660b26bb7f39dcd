"""Every Examples section in src/brushlab runs, and a doctest run that ran nothing fails.

``pytest --doctest-modules`` passes when it collects no example at all; this module
instead runs doctest over every brushlab module, fails on any failing example, and
requires at least one example in every public module (no ``_`` in its dotted path,
not a package ``__init__``) and in the run as a whole.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

import brushlab
from tests.hidden_torch import REASON

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules() -> list[str]:
    found = pkgutil.walk_packages(brushlab.__path__, "brushlab.")
    return sorted(m.name for m in found if not m.name.endswith(".__main__"))  # those run


def _is_public(name: str, module: ModuleType) -> bool:
    is_package = hasattr(module, "__path__")
    return not is_package and not any(part.startswith("_") for part in name.split("."))


def _run(module: ModuleType) -> doctest.TestResults:
    """Run the examples of objects defined in ``module`` (not those it re-exports)."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    for test in finder.find(module, module.__name__):
        if test.examples and test.filename == module.__file__:
            runner.run(test, out=report.append)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, "".join(report)
    return results


MODULES = _modules()


def test_every_module_is_found():
    assert len(MODULES) > 50 and "brushlab.metrics" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_module_examples_run(name):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:  # the modules that train networks, without torch
        if exc.name != "torch":
            raise
        pytest.skip(f"{name} imports torch: {REASON}")
    results = _run(module)
    if _is_public(name, module):
        assert results.attempted > 0, f"public module {name} has no Examples that run"


def test_a_doctest_run_with_no_examples_fails():
    """The counting above is what catches an empty run: doctest alone reports no failure."""
    results = doctest.DocTestRunner().summarize(verbose=False)
    assert results.attempted == 0 and results.failed == 0  # what testmod would "pass"
    assert not _is_public("brushlab.io", importlib.import_module("brushlab.io"))
    assert _is_public("brushlab.metrics", importlib.import_module("brushlab.metrics"))
    assert _run(importlib.import_module("brushlab.metrics")).attempted > 0
