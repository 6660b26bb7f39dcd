"""HDF5 datasets, named ``"file.h5/path/to/dataset"``: brushlab's attributes or ilastik's tags."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brushlab.errors import ImageError
from brushlab.io._dims import SPATIAL, metadata_dims, unit_name
from brushlab.io._formats._base import FileImage, StoredArray

__all__ = ["H5Array", "open_h5"]


@dataclass(frozen=True)
class H5Array(StoredArray):
    """Dataset ``key`` of the HDF5 file at ``path``, opened per read (h5py handles don't pickle)."""

    kind = "h5"

    def _region(self, index: Any) -> Any:
        import h5py

        with h5py.File(self.path, "r") as handle:
            return np.asarray(handle[self.key][index])


def open_h5(path: Path, key: str) -> FileImage:
    """Open dataset ``key``: dims, spacing and unit from its attributes, pixels not read."""
    import h5py

    with h5py.File(path, "r") as handle:
        node = handle.get(key) if key else None
        if not isinstance(node, h5py.Dataset):
            raise ImageError(_missing(handle, path, key))
        _refuse_outside_data(handle, node, path, key)
        shape, dtype, attrs = tuple(int(s) for s in node.shape), node.dtype, dict(node.attrs)
        chunks = None if node.chunks is None else tuple(int(c) for c in node.chunks)
    where = f"{path}/{key}"
    dims, error, spacing = None, None, {}
    if "dims" in attrs:
        value = attrs["dims"]
        names = list(_text(value)) if isinstance(value, (str, bytes)) else [_text(d) for d in value]
        dims, error = metadata_dims(names, shape, where)
    elif "axistags" in attrs:  # written by ilastik / vigra
        tags = json.loads(_text(attrs["axistags"])).get("axes", [])
        dims, error = metadata_dims([a.get("key") for a in tags], shape, where)
        spacing = {a["key"]: float(a["resolution"]) for a in tags
                   if a.get("key") in SPATIAL and float(a.get("resolution") or 0) > 0}
    for dim in SPATIAL:
        if f"spacing_{dim}" in attrs:
            spacing[dim] = float(attrs[f"spacing_{dim}"])
    array = H5Array(str(path), key, shape, np.dtype(dtype), chunks)
    return FileImage(array, "HDF5", dims, error, spacing=spacing,
                     unit=unit_name(_text(attrs.get("unit", "pixel"))))


def _refuse_outside_data(handle: Any, node: Any, path: Path, key: str) -> None:
    """Refuse a dataset whose pixels live in other files: external links, storage, virtual."""
    import h5py

    where = None
    parts = key.strip("/").split("/")
    for depth in range(1, len(parts) + 1):  # every link on the way, not just the last
        link = handle.get("/".join(parts[:depth]), getlink=True)
        if isinstance(link, h5py.ExternalLink):
            where = f"an external link to {link.filename}:{link.path}"
            break
    if where is None and node.external:
        where = f"external raw storage in {', '.join(str(e[0]) for e in node.external)}"
    if where is None and node.is_virtual:
        files = sorted({str(source.file_name) for source in node.virtual_sources()})
        where = f"a virtual dataset over {', '.join(files)}"
    if where is not None:
        raise ImageError(
            f"{path}/{key} is {where}: its pixels are not in {path.name}, and brushlab reads "
            "only data stored inside the file named; copy the pixels in (e.g. with h5py: "
            "out['data'] = src['data'][...]) or read the other file directly")


def _missing(handle: Any, path: Path, key: str) -> str:
    import h5py

    datasets: list[str] = []
    handle.visititems(
        lambda name, obj: datasets.append(name) if isinstance(obj, h5py.Dataset) else None)
    example = f"imread('{path}/{datasets[0] if datasets else 'data'}')"
    listing = ", ".join(datasets) or "none"
    if not key:
        return (f"{path} is an HDF5 file: add the dataset to read after the file name, "
                f"e.g. {example} (datasets in the file: {listing})")
    return (f"no dataset {key!r} in {path} (datasets in the file: {listing}); pass one of "
            f"them, e.g. {example}")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
