"""How many bytes an eager read may allocate: checked against a file's declared size first.

A small file can declare a huge array (an HDF5 or Zarr dataset of 100000 x 100000 with
no chunk written, a PNG header of 65535 x 65535): :func:`brushlab.imread` compares the
declared size with this budget before allocating anything.
"""

from __future__ import annotations

import os
from pathlib import Path

from brushlab.errors import ImageError

__all__ = ["ENV_VAR", "available_memory", "check_budget", "read_budget"]

ENV_VAR = "BRUSHLAB_MAX_IMAGE_BYTES"
_FRACTION = 0.5  # of the memory available now: room for the copies processing makes


def available_memory() -> int:
    """Bytes of memory available now (Linux ``MemAvailable``, else psutil or the total)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return 4 * 2**30


def read_budget(max_bytes: int | None = None) -> int:
    """Return the bytes an eager read may take.

    ``max_bytes`` if given, else the environment variable ``BRUSHLAB_MAX_IMAGE_BYTES``,
    else half of the memory available now.

    Examples
    --------
    >>> read_budget(1000)
    1000
    >>> read_budget() > 0
    True
    """
    if max_bytes is not None:
        return _positive(max_bytes, "max_bytes")
    text = os.environ.get(ENV_VAR, "").strip()
    if text:
        try:
            value = int(float(text))
        except ValueError:
            raise ImageError(f"{ENV_VAR}={text!r} is not a number of bytes; set it to e.g. "
                             f"{ENV_VAR}=8e9, or unset it") from None
        return _positive(value, ENV_VAR)
    return max(1, int(available_memory() * _FRACTION))


def check_budget(nbytes: int, shape: tuple[int, ...], dtype: object, where: str,
                 max_bytes: int | None = None) -> None:
    """Raise ImageError if reading ``nbytes`` (an array of ``shape``) whole exceeds the budget."""
    budget = read_budget(max_bytes)
    if nbytes > budget:
        raise ImageError(
            f"{where} declares a {' x '.join(map(str, shape))} {dtype} image of "
            f"{_size(nbytes)}, more than the {_size(budget)} brushlab may read into memory at "
            "once; open it lazily with brushlab.io.open_image (then read a region, e.g. "
            ".isel(y=slice(0, 1024)).values), predict it with brushlab.predict_blockwise, "
            f"or raise the budget with imread(..., max_bytes=...) or {ENV_VAR}"
        )


def _positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ImageError(f"{name}={value!r} must be a positive number of bytes, e.g. 8e9")
    return int(value)


def _size(nbytes: int) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"
