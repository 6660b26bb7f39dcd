"""One atomic writer: every file or folder brushlab writes appears whole or not at all.

A write goes to a hidden temporary path in the target's folder and is renamed onto the
target once complete (one filesystem, so the rename is atomic); on error the temporary
path is removed and whatever was at the target stays untouched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "remove_stale_temps", "write_bytes_atomic", "write_json_atomic"]

# The names atomic_path gives its temporaries: TARGET is written at ".{stem}.{12 hex}.tmp{suffix}"
# next to it, and an existing folder is swapped out to ".{name}.{12 hex}.old". A killed run
# leaves them behind; remove_stale_temps matches exactly these names.
_TEMP = re.compile(r"\.(?P<stem>.+)\.[0-9a-f]{12}\.tmp(?P<suffix>\.[^.]*)?")
_OLD = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{12}\.old")


def _temp_name(target: Path) -> Path:
    return target.with_name(f".{target.stem}.{uuid.uuid4().hex[:12]}.tmp{target.suffix}")


def _old_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.old")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Give a temporary path that replaces `path` when the block succeeds.

    The temporary path lies in the same folder (so the final rename is atomic
    on one filesystem), is hidden, and keeps the suffix of `path` (so writers
    that choose a format by suffix still work). Nothing is created there:
    write a file or a folder at it.

    Parameters
    ----------
    path : str or path-like
        The final file or folder.

    Yields
    ------
    pathlib.Path
        Where to write.

    Notes
    -----
    If the block raises, the temporary file or folder is removed and whatever
    was at `path` before is left untouched. An existing folder at `path` is
    swapped out for the new one, then deleted.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_path(folder / "notes.txt") as temp:
    ...     _ = temp.write_text("done")
    >>> (folder / "notes.txt").read_text(), sorted(p.name for p in folder.iterdir())
    ('done', ['notes.txt'])
    """
    target = Path(path)
    temp = _temp_name(target)
    try:
        yield temp
        _replace(temp, target)
    except BaseException:
        _remove(temp)
        raise


def _replace(temp: Path, target: Path) -> None:
    if not (temp.is_dir() and target.is_dir()):
        os.replace(temp, target)
        return
    # os.replace cannot replace a non-empty folder: swap the old one out first.
    old = _old_name(target)
    os.replace(target, old)
    try:
        os.replace(temp, target)
    except BaseException:
        os.replace(old, target)
        raise
    _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically and return the path.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "x.bin"
    >>> write_bytes_atomic(target, b"abc").read_bytes()
    b'abc'
    """
    target = Path(path)
    with atomic_path(target) as temp:
        with open(temp, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
    return target


def write_json_atomic(path: str | os.PathLike[str], document: Mapping[str, Any]) -> Path:
    """Write ``document`` as indented JSON to ``path`` atomically and return the path.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "a.json"
    >>> import json
    >>> json.loads(write_json_atomic(target, {"a": 1}).read_text())
    {'a': 1}
    """
    return write_bytes_atomic(path, json.dumps(document, indent=2).encode())


def remove_stale_temps(targets: Iterable[Path]) -> list[Path]:
    """Delete the hidden temporary files a killed run left next to `targets`.

    Only the names brushlab's atomic writer gives the temporaries of these
    very targets are touched, so other files in the folders stay. Two runs
    writing the same targets at the same time are not supported: the second
    would delete the first one's unfinished temporaries.

    Parameters
    ----------
    targets : iterable of pathlib.Path
        The files or folders a run is about to write.

    Returns
    -------
    list of pathlib.Path
        The temporaries deleted.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / ".a_segmentation.0123456789ab.tmp.tif").write_bytes(b"II*")
    >>> _ = (folder / ".other.0123456789ab.tmp.tif").write_bytes(b"II*")
    >>> [p.name for p in remove_stale_temps([folder / "a_segmentation.tif"])]
    ['.a_segmentation.0123456789ab.tmp.tif']
    >>> sorted(p.name for p in folder.iterdir())
    ['.other.0123456789ab.tmp.tif']
    """
    temps: dict[Path, set[tuple[str, str]]] = {}
    olds: dict[Path, set[str]] = {}
    for target in targets:
        temps.setdefault(target.parent, set()).add((target.stem, target.suffix))
        olds.setdefault(target.parent, set()).add(target.name)
    removed: list[Path] = []
    for folder, names in temps.items():
        try:
            entries = [entry.name for entry in os.scandir(folder)]
        except OSError:  # no folder yet: nothing stale in it
            continue
        for name in entries:
            temp, old = _TEMP.fullmatch(name), _OLD.fullmatch(name)
            if (temp and (temp["stem"], temp["suffix"] or "") in names) or (
                    old and old["name"] in olds[folder]):
                path = folder / name
                try:
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)
                    else:
                        path.unlink(missing_ok=True)
                except OSError:  # not ours to delete after all: writing will say why
                    continue
                removed.append(path)
    return removed
