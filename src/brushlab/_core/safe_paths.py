"""Files from outside: regular files only, read in bounded chunks, paths kept inside their folder.

A FIFO blocks whoever opens it, ``/dev/zero`` never ends, and a package that names
``../../x`` or ``/etc/passwd`` as one of its files must not make brushlab read or write
there. These helpers check with ``os.stat`` before opening, open with ``O_NONBLOCK``,
check the opened descriptor again (the path may have changed in between), and resolve
relative paths inside a root folder.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO

from brushlab.errors import BrushlabError

__all__ = ["open_regular_file", "read_regular_file", "member_name", "resolve_inside"]

_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def open_regular_file(
    path: str | os.PathLike[str],
    *,
    error: type[BrushlabError] = BrushlabError,
    what: str = "file",
) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file (after symlinks), else raise.

    The path is checked with ``os.stat`` before opening, opened with ``O_NONBLOCK``
    (opening a FIFO that slipped in never blocks) and checked again with ``os.fstat``.

    Parameters
    ----------
    path : str or path-like
        The file.
    error : type of BrushlabError
        Raised when the file is missing, not regular or not readable.
    what : str
        What the file should be, for messages ("model file"...).

    Returns
    -------
    BinaryIO
        An open file; close it (use ``with``).

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> os.mkfifo(os.path.join(folder, "pipe"))
    >>> open_regular_file(os.path.join(folder, "pipe"), what="model file")
    Traceback (most recent call last):
    ...
    brushlab.errors.BrushlabError: .../pipe is a FIFO (named pipe), not a regular file: ...
    """
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} not found: {path}; check the path (cwd: {Path.cwd()})") from None
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}; check the path") from exc
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{path} is a folder, not a {what}; pass the file inside it")
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(path, info.st_mode, error, what)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except PermissionError as exc:
        raise error(f"cannot read {path}: permission denied; check its permissions") from exc
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # replaced between stat and open
            raise _not_regular(path, mode, error, what)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _not_regular(path: Path, mode: int, error: type[BrushlabError], what: str) -> BrushlabError:
    link = f" (a symlink to {os.path.realpath(path)})" if path.is_symlink() else ""
    return error(
        f"{path} is {_kind(mode)}{link}, not a regular file: brushlab reads a {what} from a "
        "regular file only (a pipe or device could block or never end); copy the data to a file"
    )


def read_regular_file(
    path: str | os.PathLike[str],
    *,
    max_bytes: int,
    error: type[BrushlabError] = BrushlabError,
    what: str = "file",
) -> tuple[bytes, str]:
    """Read a regular file of at most ``max_bytes`` in chunks; return its bytes and sha256.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = path.write_bytes(b"abc")
    >>> read_regular_file(path, max_bytes=10)[0]
    b'abc'
    >>> read_regular_file(path, max_bytes=2)
    Traceback (most recent call last):
    ...
    brushlab.errors.BrushlabError: .../a.txt is 3 bytes, more than the 2 a file may have ...
    """
    with open_regular_file(path, error=error, what=what) as handle:
        size = os.fstat(handle.fileno()).st_size
        too_big = error(
            f"{path} is {size} bytes, more than the {max_bytes} a {what} may have here; "
            "check that it is the right file"
        )
        if size > max_bytes:
            raise too_big
        digest = hashlib.sha256()
        chunks, total = [], 0
        while chunk := handle.read(min(2**20, max_bytes + 1 - total)):
            total += len(chunk)
            if total > max_bytes:  # it grew while being read
                raise too_big
            digest.update(chunk)
            chunks.append(chunk)
    return b"".join(chunks), digest.hexdigest()


def member_name(rel: str) -> str:
    """Normalise a relative path within an archive or package; ValueError if it leaves it.

    ``./a/b`` becomes ``a/b``; absolute paths, drive letters, backslashes, NUL and any
    ``..`` are refused.

    Examples
    --------
    >>> member_name("./weights/model.onnx")
    'weights/model.onnx'
    >>> member_name("../../etc/passwd")
    Traceback (most recent call last):
    ...
    ValueError: points outside its folder ('..' is not allowed)
    """
    text = str(rel)
    if not text or "\0" in text or "\\" in text:
        raise ValueError("is not a usable path (empty, NUL or backslash)")
    if text.startswith("/") or PureWindowsPath(text).drive:
        raise ValueError("is an absolute path; files must be given relative to their folder")
    parts = [p for p in PurePosixPath(text).parts if p != "."]
    if ".." in parts:
        raise ValueError("points outside its folder ('..' is not allowed)")
    name = "/".join(parts)
    return name + "/" if text.endswith("/") and name else name


def resolve_inside(root: str | os.PathLike[str], rel: str) -> Path:
    """``root / rel`` with symlinks resolved, refused (ValueError) when it leaves ``root``.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> resolve_inside(root, "a/b.txt") == root.resolve() / "a" / "b.txt"
    True
    >>> resolve_inside(root, "/etc/passwd")
    Traceback (most recent call last):
    ...
    ValueError: is an absolute path; files must be given relative to their folder
    """
    base = Path(root).resolve()
    target = (base / member_name(rel)).resolve()
    if target != base and base not in target.parents:
        raise ValueError(f"leads outside its folder (to {target}) through a symbolic link")
    return target
