"""Test brushlab as if PyTorch were not installed, in a venv that has it.

With ``BRUSHLAB_HIDE_TORCH=1`` (``make unit-notorch``), importing this module (which
``tests/conftest.py`` does before any test module is imported) calls :func:`hide_torch`:
``import torch`` and every ``torch.*`` submodule then raise ``ModuleNotFoundError``, as
on a core install. Tests that train skip with :data:`REASON`; the rest (ONNX inference
of saved networks, projects holding a network, the clear error of training without
torch) must pass.
"""

from __future__ import annotations

import builtins
import importlib.abc
import importlib.util
import os
import sys
from typing import Any

import pytest

ENV = "BRUSHLAB_HIDE_TORCH"
TRAIN_EXTRA = 'pip install "brushlab[train]"'
#: Why a test that trains a network skips without torch.
REASON = f"training networks needs PyTorch: {TRAIN_EXTRA}"


def _hidden(name: str) -> bool:
    return name == "torch" or name.startswith("torch.")


class TorchHider(importlib.abc.MetaPathFinder):
    """A ``sys.meta_path`` finder that refuses ``torch`` and its submodules."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if _hidden(name):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden: {ENV}=1)", name=name)
        return None


def torch_hidden_requested() -> bool:
    """Whether ``BRUSHLAB_HIDE_TORCH`` asks to hide torch."""
    return os.environ.get(ENV, "").strip() not in ("", "0")


def hide_torch() -> None:
    """Make ``import torch`` fail for the rest of this process.

    Raises
    ------
    RuntimeError
        If torch was imported already (hiding it then would prove nothing).
    """
    loaded = sorted(name for name in sys.modules if _hidden(name))
    if loaded:
        raise RuntimeError(f"{ENV}=1 but torch was imported before the tests ({loaded[:3]}): "
                           "a plugin imports it; run pytest with -p no:<plugin>")
    if not any(isinstance(finder, TorchHider) for finder in sys.meta_path):
        sys.meta_path.insert(0, TorchHider())


def torch_available() -> bool:
    """Whether ``import torch`` would work here (without importing it)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except ImportError:  # hidden by TorchHider
        return False


if torch_hidden_requested():
    hide_torch()

#: Mark a test that trains a network: it skips without torch.
needs_torch = pytest.mark.skipif(not torch_available(), reason=REASON)


def block_torch_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import torch`` fail inside one test, even after torch was imported."""
    real_import = builtins.__import__

    def no_torch(name: str, *args: Any, **kwargs: Any) -> Any:
        if _hidden(name):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
