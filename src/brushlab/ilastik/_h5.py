"""Reading an ilastik project with h5py: plain numbers and strings only, never pickles.

ilastik stores some things pickled (the classifier, its factory, bookmarks). Those
groups are never opened here, and every dataset read goes through :func:`numbers`
or :func:`strings`, which refuse anything that is not plain numeric data or text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from brushlab.errors import ProjectError

__all__ = ["numbers", "strings", "string", "axis_keys", "axis_spacing", "parse_slicing"]

_SLICING = re.compile(r"^\[\s*(\d+\s*:\s*\d+\s*(,\s*\d+\s*:\s*\d+\s*)*)?\]$")


def _fail(path: Path, name: str, what: str) -> ProjectError:
    return ProjectError(f"{path}: {name} {what}; is this an ilastik Pixel Classification project?")


def numbers(ds: Any, path: Path) -> np.ndarray:
    """Read a numeric (or boolean) dataset; anything else raises ProjectError."""
    if not isinstance(ds, h5py.Dataset):
        raise _fail(path, getattr(ds, "name", "?"), "is not a dataset")
    if ds.dtype.kind not in "biuf":
        raise _fail(path, ds.name, f"holds {ds.dtype}, not numbers")
    return np.asarray(ds[()])


def strings(ds: Any, path: Path) -> list[str]:
    """Read a dataset of UTF-8 text (fixed-length bytes or variable-length strings)."""
    if not isinstance(ds, h5py.Dataset):
        raise _fail(path, getattr(ds, "name", "?"), "is not a dataset")
    if ds.dtype.kind not in "SU" and h5py.check_string_dtype(ds.dtype) is None:
        raise _fail(path, ds.name, f"holds {ds.dtype}, not text")
    value = ds[()]
    items = value.ravel().tolist() if isinstance(value, np.ndarray) else [value]
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in items]


def string(ds: Any, path: Path) -> str:
    """Read a scalar text dataset."""
    values = strings(ds, path)
    if len(values) != 1:
        raise _fail(path, ds.name, f"holds {len(values)} strings, expected one")
    return values[0]


def _tags(text: Any) -> list[dict[str, Any]]:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if isinstance(text, np.ndarray) and text.shape == ():
        return _tags(text.item())
    data = json.loads(str(text))
    axes = data.get("axes") if isinstance(data, dict) else None
    if not isinstance(axes, list) or not all(isinstance(a, dict) and "key" in a for a in axes):
        raise ValueError("no 'axes' list with a 'key' per axis")
    return axes


def axis_keys(text: Any, path: Path, where: str) -> str:
    """Axis keys (e.g. ``"tzyxc"``) from an ilastik axistags JSON string."""
    try:
        keys = "".join(str(a["key"]).lower() for a in _tags(text))
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{path}: the axistags of {where} cannot be read ({exc})") from exc
    if not keys or set(keys) - set("tzyxc") or len(set(keys)) != len(keys):
        raise ProjectError(
            f"{path}: {where} has axes {keys!r}; brushlab reads images with axes from t, z, y, x, c"
        )
    return keys


def axis_spacing(text: Any) -> dict[str, float]:
    """Pixel sizes from axistags ``resolution`` entries (0 = unknown, left out)."""
    try:
        axes = _tags(text)
    except (ValueError, TypeError, UnicodeDecodeError):
        return {}
    out = {}
    for a in axes:
        key, res = str(a.get("key", "")).lower(), a.get("resolution", 0)
        if key in "zyx" and isinstance(res, (int, float)) and res > 0:
            out[key] = float(res)
    return out


def parse_slicing(text: Any, path: Path, where: str) -> list[slice]:
    """Parse ilastik's ``blockSlice`` attribute ``"[0:1,10:20,...]"``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = str(text).strip()
    if not _SLICING.match(text):
        raise ProjectError(f"{path}: {where} has an unreadable blockSlice {text!r}")
    inner = text[1:-1].strip()
    out = []
    for part in inner.split(",") if inner else []:
        start, stop = (int(v) for v in part.split(":"))
        out.append(slice(start, stop))
    return out
