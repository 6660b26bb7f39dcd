"""Print pip constraints pinning every core dependency to its declared floor.

``make test-min`` installs brushlab with these constraints into ``.venv-min`` and runs
the core tests, so the ``>=`` floors in pyproject.toml are versions that work.
Usage: ``python .ci/min_constraints.py [pyproject.toml] > constraints.txt``.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

FLOOR = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*>=\s*([^,;\s]+)")


def floors(pyproject: Path) -> list[str]:
    """``name==floor`` for each ``[project] dependencies`` entry with a ``>=`` floor."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    out = []
    for dep in deps:
        match = FLOOR.match(dep)
        if match is None:
            raise SystemExit(f"{dep!r} has no '>=' floor: every core dependency needs one")
        out.append(f"{match.group(1)}=={match.group(2)}")
    return out


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("pyproject.toml")
    print("\n".join(floors(path)))
