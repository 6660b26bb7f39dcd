"""Finding files that moved: the one relink/search lookup of projects and ilastik import.

A file referenced by a project is looked for at its saved path, relative to the project,
through an explicit ``relink={old: new}`` mapping, and by file name in search folders.
Paths into HDF5 files (``file.h5/group/dataset``) are searched by the file's name and keep
their dataset path.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp()); _ = (folder / "cells.h5").write_bytes(b"")
>>> found, tried = first_existing([Path("/gone/cells.h5/data")], "cells.h5/data", [folder])
>>> found == folder / "cells.h5" / "data"
True
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["exists", "first_existing", "relink_of", "search_name"]

_H5 = re.compile(r"^(.*?\.(?:h5|hdf5|hdf))(?:[/\\](.*))?$", re.IGNORECASE)


def relink_of(keys: list[str], relinks: dict[str, Path]) -> Path | None:
    """Return the path ``relinks`` gives for the first of ``keys`` it knows, or None."""
    for key in keys:
        if key in relinks:
            return relinks[key]
    return None


def search_name(stored: str) -> str:
    """Give the name to look for in search folders: the file name, plus an HDF5 dataset path.

    Examples
    --------
    >>> search_name("C:/data/inputdata/2d.h5/data"), search_name("../images/a.tif")
    ('2d.h5/data', 'a.tif')
    """
    text = stored.replace("\\", "/")
    match = _H5.match(text)
    if match and match.group(2):
        return f"{Path(match.group(1)).name}/{match.group(2)}"
    return Path(text).name


def first_existing(
    candidates: list[Path], name: str, folders: list[Path]
) -> tuple[Path | None, list[Path]]:
    """Find the first existing of ``candidates``, then of ``name`` in each search folder.

    Returns
    -------
    tuple
        The path found (None if none) and every path tried, for the error message.
    """
    tried = [*candidates, *(folder / name for folder in folders)]
    return next((p for p in tried if exists(p)), None), tried


def exists(path: Path) -> bool:
    """Whether a file exists; ``file.h5/dataset`` paths count when the file does."""
    if path.exists():
        return True
    match = _H5.match(str(path).replace(os.sep, "/"))
    return bool(match and match.group(2) and Path(match.group(1)).is_file())
