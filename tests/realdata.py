"""The one way tests reach real data (``$BRUSHLAB_DATA``, else ``../shared/data``).

Missing data skips the test with a reason on a user's clone, and fails it when
``BRUSHLAB_REQUIRE_DATA=1`` (``.ci/run`` sets it), so CI cannot go green with no
accuracy test run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REQUIRE_ENV = "BRUSHLAB_REQUIRE_DATA"
DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"


def data_root() -> Path:
    """``$BRUSHLAB_DATA`` when set, else ``../shared/data`` next to the repository."""
    env = os.environ.get("BRUSHLAB_DATA")
    return Path(env).expanduser() if env else DEFAULT_ROOT


def data_required() -> bool:
    """Whether missing real data is a failure (``BRUSHLAB_REQUIRE_DATA=1``)."""
    return os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0")


def shared_data(*parts: str) -> Path:
    """Path into the real data; skip (or fail under ``BRUSHLAB_REQUIRE_DATA=1``) if absent."""
    path = data_root().joinpath(*parts)
    if not path.exists():
        message = (
            f"real data not available: {path} is absent (set BRUSHLAB_DATA to the folder "
            "holding isbi2012/ and bbbc039/, or put it at ../shared/data)"
        )
        if data_required():
            pytest.fail(f"{message}; {REQUIRE_ENV}=1 makes this a failure", pytrace=False)
        pytest.skip(message)
    return path
