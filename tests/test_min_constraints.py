""".ci/min_constraints.py: the pins `make test-min` installs are the declared floors."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location(
        "min_constraints", ROOT / ".ci" / "min_constraints.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_core_dependency_is_pinned_to_its_floor():
    pins = _module().floors(ROOT / "pyproject.toml")
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert len(pins) == len(deps)
    assert "dask==2024.8" in pins and "zarr==3.1" in pins
    assert all("==" in p and "[" not in p and "<" not in p for p in pins)


def test_a_dependency_without_floor_is_refused(tmp_path):
    bad = tmp_path / "pyproject.toml"
    bad.write_text('[project]\nname = "x"\ndependencies = ["numpy"]\n')
    with pytest.raises(SystemExit, match="no '>=' floor"):
        _module().floors(bad)
