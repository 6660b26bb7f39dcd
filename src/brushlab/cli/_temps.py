"""Stale temporaries: what a killed run left next to the files it was writing.

brushlab writes every file through :func:`brushlab._core.atomic.atomic_path`: to a hidden
temporary name in the target's folder, renamed onto the target once complete. A process
killed (SIGKILL, power loss) in between cannot remove its temporary; the next run for the
same targets does, with :func:`remove_stale_temps`.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

__all__ = ["remove_stale_temps"]

# brushlab._core.atomic.atomic_path writes TARGET at ".{stem}.{12 hex}.tmp{suffix}" next to it,
# and swaps an existing folder out to ".{name}.{12 hex}.old"; a killed run leaves them behind.
_TEMP = re.compile(r"\.(?P<stem>.+)\.[0-9a-f]{12}\.tmp(?P<suffix>\.[^.]*)?")
_OLD = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{12}\.old")


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
