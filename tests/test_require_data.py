"""BRUSHLAB_REQUIRE_DATA=1 turns a skip for missing real data into a failure (CI's switch)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = '''
from tests.realdata import shared_data

def test_needs_real_data():
    assert shared_data("isbi2012").is_dir()
'''


def _run_probe(tmp_path: Path, require: str | None) -> subprocess.CompletedProcess[str]:
    empty = tmp_path / "no-data"
    empty.mkdir(exist_ok=True)
    (tmp_path / "test_probe.py").write_text(PROBE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if k != "BRUSHLAB_REQUIRE_DATA"}
    env["BRUSHLAB_DATA"] = str(empty)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH", "")])
    if require is not None:
        env["BRUSHLAB_REQUIRE_DATA"] = require
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfs", "-p", "no:cacheprovider", "test_probe.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("require", [None, "0"])
def test_missing_data_skips_by_default(tmp_path, require):
    proc = _run_probe(tmp_path, require)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 skipped" in proc.stdout and "real data not available" in proc.stdout


def test_missing_data_fails_when_required(tmp_path):
    proc = _run_probe(tmp_path, "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 failed" in proc.stdout
    assert "BRUSHLAB_REQUIRE_DATA=1 makes this a failure" in proc.stdout


def test_ci_sets_the_switch():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "export BRUSHLAB_REQUIRE_DATA=1" in ci
