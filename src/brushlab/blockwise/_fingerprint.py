"""A cheap content fingerprint of a blockwise source, so a resumed run sees a changed source.

A run is resumed when its arguments match the output's run spec. The source's path,
shape and dtype alone do not tell that its pixels changed (a re-exported image at the
same path), and resuming would then mix stale chunks with new ones. The fingerprint
adds, without reading the whole source:

- the files: for a single file its size and modification time; for a folder store
  (Zarr) the number of files, their total size and the newest modification time, from
  one ``os.scandir`` walk (metadata only, no pixel read);
- the pixels of a fixed sample: windows of at most 32 pixels per spatial axis at the
  corners and the centre of the image, plus 8 windows at positions drawn from a
  generator seeded by the shape, in the first, middle and last time point; their
  sha256 with shape and dtype. Reading them costs at most 17 x 3 small regions
  (each at most one stored chunk per axis).

A change of any sampled pixel, of a file's size or mtime, or of the set of files is
detected; a change confined to unsampled pixels that also keeps every size and mtime
(e.g. a rewrite with restored timestamps) is not.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path
from typing import Any

import numpy as np

from brushlab._core.backend import to_numpy
from brushlab.io import Source

__all__ = ["source_fingerprint", "WINDOW", "RANDOM_WINDOWS"]

WINDOW = 32
RANDOM_WINDOWS = 8


def source_fingerprint(src: Source) -> dict[str, Any]:
    """Describe ``src``'s content cheaply (see the module docstring for what is sampled).

    Parameters
    ----------
    src : Source
        An opened blockwise source.

    Returns
    -------
    dict
        ``{"files": ..., "sample_sha256": ...}``, JSON-able; equal for an unchanged
        source.

    Examples
    --------
    >>> import numpy as np
    >>> from brushlab.io import open_source
    >>> a = source_fingerprint(open_source(np.zeros((64, 64), np.uint8)))
    >>> b = source_fingerprint(open_source(np.ones((64, 64), np.uint8)))
    >>> a["sample_sha256"] != b["sample_sha256"]
    True
    """
    files = _file_stamp(Path(src.reader.path)) if src.reader is not None else None
    digest = hashlib.sha256()
    for frame, region in _sample(src):
        pixels = np.ascontiguousarray(_read(src, frame, region))
        digest.update(
            f"{frame}:{sorted(region.items())}:{pixels.dtype.str}:{pixels.shape}".encode()
        )
        digest.update(pixels.tobytes())
    return {"files": files, "sample_sha256": digest.hexdigest()}


def _file_stamp(path: Path) -> dict[str, int]:
    if path.is_file():
        stat = path.stat()
        return {"count": 1, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    count = size = newest = 0
    stack = [path]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                    continue
                stat = entry.stat(follow_symlinks=False)
                count, size = count + 1, size + stat.st_size
                newest = max(newest, stat.st_mtime_ns)
    return {"count": count, "bytes": size, "mtime_ns": newest}


def _sample(src: Source) -> list[tuple[int, dict[str, slice]]]:
    dims, shape = src.spatial_dims, src.spatial_shape
    win = [min(WINDOW, n) for n in shape]
    starts: list[tuple[int, ...]] = list(
        itertools.product(*[(0, n - w) for n, w in zip(shape, win)])
    )
    starts.append(tuple((n - w) // 2 for n, w in zip(shape, win)))
    rng = np.random.default_rng(list(shape))  # fixed per shape: the same sample every run
    for _ in range(RANDOM_WINDOWS):
        starts.append(tuple(int(rng.integers(0, n - w + 1)) for n, w in zip(shape, win)))
    frames = sorted({0, src.n_frames // 2, src.n_frames - 1})
    unique = list(dict.fromkeys(starts))
    return [
        (frame, {d: slice(s, s + w) for d, s, w in zip(dims, start, win)})
        for frame in frames
        for start in unique
    ]


def _read(src: Source, frame: int, region: dict[str, slice]) -> np.ndarray:
    if src.reader is not None:
        return src.reader.read(frame, region)
    image = src.image
    index: dict[str, Any] = dict(region)
    if "t" in image.dims:
        index["t"] = frame
    return np.asarray(to_numpy(image.isel(index).data))
