"""Bounded fuzzing of every file loader: a BrushlabError or a correct result, nothing else.

One subprocess (tests/fuzz_cases.py) builds a valid file per loader and loads
``BRUSHLAB_FUZZ_CASES`` (default 250) seeded mutants of each, under a 3 GB address-space
cap (``RLIMIT_AS``), a per-case alarm and a wall-clock limit for the whole run; its
temporary files stay in the output folder, and a sentinel parent folder is listed
before and after to prove nothing was written beside it.

Failures that belong to root causes of issue 13 fixed on other branches are listed in
``KNOWN`` with their root-cause number; they are reported (printed) but do not fail.
Everything else does.
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fuzz_cases import LOADERS

REPO = Path(__file__).resolve().parents[1]
CASES = int(os.environ.get("BRUSHLAB_FUZZ_CASES", "250"))
SEED = int(os.environ.get("BRUSHLAB_FUZZ_SEED", "13"))
MEMORY_CAP = 3 * 2**30
# A hang guard: the run takes under a minute on an idle 2-core machine (69 s at load 13).
WALL_SECONDS = 300

# (root cause of issue 13, loader, exception type, regex on "where | message")
KNOWN: list[tuple[int, str, str, str]] = []  # every root cause is fixed: all cases strict


def _known(record: dict) -> int | None:
    text = f"{record.get('where', '')} | {record.get('message', '')}"
    for rc, loader, kind, pattern in KNOWN:
        if record["loader"] == loader and re.fullmatch(kind, record["type"]) and re.search(
            pattern, text
        ):
            return rc
    return None


def _listing(folder: Path, skip: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for path in folder.rglob("*"):
        if path == skip or skip in path.parents:
            continue
        stat = path.lstat()
        out[str(path.relative_to(folder))] = (stat.st_size, stat.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def fuzz_results(tmp_path_factory):
    sentinel = tmp_path_factory.mktemp("sentinel")
    (sentinel / "keep.txt").write_text("must stay as it is")
    (sentinel / "deeper").mkdir()
    out = sentinel / "deeper" / "out"
    (out / "tmp").mkdir(parents=True)
    before = _listing(sentinel, out)
    env = {
        **os.environ,
        "TMPDIR": str(out / "tmp"),
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO), os.environ.get(
            "PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fuzz_cases", str(out), ",".join(LOADERS), str(CASES),
         str(SEED), str(MEMORY_CAP)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=WALL_SECONDS,
    )
    seconds = time.perf_counter() - t0
    after = _listing(sentinel, out)
    current = (out / "current").read_text() if (out / "current").exists() else "?"
    assert proc.returncode == 0, (
        f"the fuzz run died (rc {proc.returncode}) during case {current}:\n{proc.stderr[-3000:]}"
    )
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    counts = collections.Counter((r["loader"], r["outcome"]) for r in records)
    print(f"\nfuzz: {len(records)} cases in {seconds:.1f} s (load {os.getloadavg()[0]:.1f}); "
          + ", ".join(f"{k[0]}/{k[1]}={v}" for k, v in sorted(counts.items())))
    return {"records": records, "before": before, "after": after}


def test_nothing_written_outside_the_output_folder(fuzz_results):
    assert fuzz_results["after"] == fuzz_results["before"]


@pytest.mark.parametrize("loader", LOADERS)
def test_every_case_ends_in_a_brushlab_error_or_a_correct_result(fuzz_results, loader):
    records = [r for r in fuzz_results["records"] if r["loader"] == loader]
    assert len(records) == CASES, "every case ran"
    assert any(r["outcome"] == "brushlab" for r in records), "mutants were refused"
    unexpected, known = [], collections.defaultdict(list)
    for r in records:
        if r["outcome"] in ("ok", "brushlab"):
            continue
        rc = _known(r)
        if rc is None:
            unexpected.append(r)
        else:
            known[(rc, r["type"], r.get("where", "?"))].append(r["case"])
    for (rc, kind, where), cases in sorted(known.items()):
        print(f"\n{loader}: known RC{rc} {kind} at {where}: cases {cases[:8]} ({len(cases)})")
    assert not unexpected, "\n".join(
        f"case {r['case']} ({r['mutation'][:80]}): {r['type']} at {r.get('where')}: "
        f"{r['message'][:200]}" for r in unexpected[:10]
    )
