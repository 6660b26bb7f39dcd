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

__all__ = [
    "numbers",
    "strings",
    "string",
    "axis_keys",
    "axis_spacing",
    "parse_slicing",
    "check_stored_inside",
    "field",
]

# The parts of a project brushlab reads; everything in them must be stored in the file.
READ_PARTS = ("workflowName", "Input Data", "PixelClassification", "FeatureSelections")
_INSIDE_HINT = (
    "brushlab reads only data stored inside the .ilp, so that a project cannot make it read "
    "other files: in ilastik, set the lane's Dataset Properties > Storage to 'Copied to Project "
    "File' and save, or reference the image file itself (location FileSystem)"
)

_SLICING = re.compile(r"^\[\s*(\d+\s*:\s*\d+\s*(,\s*\d+\s*:\s*\d+\s*)*)?\]$")


def _fail(path: Path, name: str, what: str) -> ProjectError:
    return ProjectError(f"{path}: {name} {what}; is this an ilastik Pixel Classification project?")


def field(group: Any, name: str, path: Path) -> Any:
    """``group[name]``, or ProjectError naming the missing (or unreadable) field."""
    where = f"{getattr(group, 'name', '')}/{name}".replace("//", "/")
    if not isinstance(group, h5py.Group):
        raise _fail(path, getattr(group, "name", "?"), f"is not a group, so {name!r} is missing")
    try:
        link = group.get(name, getlink=True)
        if link is None:
            raise _fail(path, where, "is missing")
        _check_link(link, where, path)
        return group[name]
    except (KeyError, ValueError, TypeError, OSError) as exc:
        raise _fail(path, where, f"cannot be read ({exc})") from exc


def _check_link(link: Any, where: str, path: Path) -> None:
    if isinstance(link, h5py.ExternalLink):
        raise ProjectError(
            f"{path}: {where} is an external link to {link.filename!r}:{link.path!r}; "
            + _INSIDE_HINT
        )
    if isinstance(link, h5py.SoftLink):
        raise ProjectError(
            f"{path}: {where} is a soft link to {link.path!r}; ilastik writes no links, and "
            + _INSIDE_HINT
        )


def _check_dataset(ds: h5py.Dataset, where: str, path: Path) -> None:
    plist = ds.id.get_create_plist()
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        sources = sorted({plist.get_virtual_filename(i) for i in range(plist.get_virtual_count())})
        raise ProjectError(f"{path}: {where} is a virtual dataset over {sources}; " + _INSIDE_HINT)
    if plist.get_external_count() > 0:
        files = sorted(
            {
                plist.get_external(i)[0].decode("utf-8", "replace")
                for i in range(plist.get_external_count())
            }
        )
        raise ProjectError(
            f"{path}: {where} keeps its bytes in external file(s) {files}; " + _INSIDE_HINT
        )


def check_stored_inside(f: h5py.File, path: Path) -> None:
    """Refuse links, virtual and external-storage datasets in the parts brushlab reads.

    HDF5 lets a dataset take its bytes from another file (external raw storage,
    a virtual dataset, an external link) and a soft link point anywhere in the
    file. A project is data from outside: if it could do that, importing it
    would copy any readable local file into the session (and into a saved
    project). ilastik itself writes none of these.

    Raises
    ------
    ProjectError
        Naming the first such object and saying how to store the data inside.
    """
    for part in READ_PARTS:
        link = f.get(part, getlink=True)
        if link is None:
            continue
        _check_link(link, f"/{part}", path)
        top = f[part]
        if isinstance(top, h5py.Dataset):
            _check_dataset(top, top.name, path)
            continue
        if not isinstance(top, h5py.Group):
            continue

        found: list[tuple[str, Any]] = []  # raising inside h5py's visit callback breaks it
        top.visititems_links(lambda name, link, out=found: out.append((name, link)))
        for name, link in found:
            where = f"{top.name}/{name}"
            _check_link(link, where, path)
            obj = top.get(name)
            if isinstance(obj, h5py.Dataset):
                _check_dataset(obj, where, path)


def numbers(ds: Any, path: Path) -> np.ndarray:
    """Read a numeric (or boolean) dataset; anything else raises ProjectError."""
    if not isinstance(ds, h5py.Dataset):
        raise _fail(path, getattr(ds, "name", "?"), "is not a dataset")
    _check_dataset(ds, ds.name, path)
    if ds.dtype.kind not in "biuf":
        raise _fail(path, ds.name, f"holds {ds.dtype}, not numbers")
    return np.asarray(_read(ds, path))


def _read(ds: h5py.Dataset, path: Path) -> Any:
    try:
        return ds[()]
    except (OSError, ValueError, TypeError) as exc:  # damaged chunks, unknown filters
        raise _fail(path, ds.name, f"cannot be read ({exc})") from exc


def strings(ds: Any, path: Path) -> list[str]:
    """Read a dataset of UTF-8 text (fixed-length bytes or variable-length strings)."""
    if not isinstance(ds, h5py.Dataset):
        raise _fail(path, getattr(ds, "name", "?"), "is not a dataset")
    _check_dataset(ds, ds.name, path)
    if ds.dtype.kind not in "SU" and h5py.check_string_dtype(ds.dtype) is None:
        raise _fail(path, ds.name, f"holds {ds.dtype}, not text")
    value = _read(ds, path)
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
