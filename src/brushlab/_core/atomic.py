"""One atomic writer: every file or folder brushlab writes appears whole or not at all.

A write goes to a hidden temporary path in the target's folder and is renamed onto the
target once complete (one filesystem, so the rename is atomic); on error the temporary
path is removed and whatever was at the target stays untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "write_bytes_atomic", "write_json_atomic"]


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
    temp = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:12]}.tmp{target.suffix}")
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
    old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.old")
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
