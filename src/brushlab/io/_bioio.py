"""Microscopes' own files (CZI, ND2, LIF, ...) through bioio and its reader plugins.

bioio and the plugin for a format are imported on first use; a missing one gives an
:class:`~brushlab.errors.ImageError` naming the ``pip install`` that fixes it. bioio
gives every scene as ``T, C, Z, Y, X`` (plus ``S`` for RGB samples) in micrometers;
this module maps that to brushlab's ``t, z, y, x, c``, drops singleton dims (as the
TIFF reader does), keeps the pixel sizes in ``attrs["spacing"]`` and the channel names
as the ``c`` coordinate. Pixels stay a lazy dask array until asked for.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import xarray as xr

from brushlab.errors import ImageError
from brushlab.io._budget import check_budget

__all__ = ["VENDOR_SUFFIXES", "handles", "open_bioio", "read_bioio", "scene_names"]

# suffix -> (format name, the bioio plugin that reads it, its module)
VENDOR_SUFFIXES: dict[str, tuple[str, str, str]] = {
    ".czi": ("CZI (ZEISS)", "bioio-czi", "bioio_czi"),
    ".nd2": ("ND2 (Nikon)", "bioio-nd2", "bioio_nd2"),
    ".lif": ("LIF (Leica)", "bioio-lif", "bioio_lif"),
    ".dv": ("DeltaVision", "bioio-dv", "bioio_dv"),
    ".r3d": ("DeltaVision", "bioio-dv", "bioio_dv"),
    ".sldy": ("SlideBook", "bioio-sldy", "bioio_sldy"),
}
_BIOIO_DIMS = {"T": "t", "Z": "z", "Y": "y", "X": "x", "C": "c", "S": "c"}


def handles(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has the suffix of a format read through bioio.

    Examples
    --------
    >>> handles("scan.CZI"), handles("scan.tif")
    (True, False)
    """
    return Path(path).suffix.lower() in VENDOR_SUFFIXES


def scene_names(path: str | os.PathLike[str]) -> list[str]:
    """Return the names of the scenes (positions, series) in a microscope file.

    Parameters
    ----------
    path : str or path-like
        A CZI, ND2, LIF, ... file.

    Returns
    -------
    list of str
        One name per scene, in file order; pass a name or its index as
        ``scene=`` to :func:`brushlab.imread`.

    Raises
    ------
    ImageError
        If the file is missing or unreadable, or bioio or its plugin is not installed.

    Examples
    --------
    >>> scene_names("missing.czi")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    brushlab.errors.ImageError: no file at missing.czi ...
    """
    return [str(name) for name in _open(Path(path)).scenes]


def open_bioio(
    path: str | os.PathLike[str],
    *,
    scene: int | str | None = None,
    dims: str | Sequence[str] | None = None,
) -> xr.DataArray:
    """Open one scene of a microscope file as an image whose pixels are read lazily.

    Parameters
    ----------
    path : str or path-like
        A CZI, ND2, LIF, ... file (see :data:`VENDOR_SUFFIXES`).
    scene : int or str, optional
        Index or name of the scene (position, series) to open; the first when None.
    dims : str or sequence of str, optional
        Names for the axes left after dropping singleton dims, e.g. ``"tyx"``,
        to override the file's (rarely needed).

    Returns
    -------
    xarray.DataArray
        Dims from ``t, z, y, x, c`` backed by a dask array; attrs ``spacing``
        (micrometers), ``unit``, ``source`` and ``scene``; channel names as the
        ``c`` coordinate.

    Raises
    ------
    ImageError
        If the file is missing or unreadable, the scene does not exist, or
        bioio or its plugin is not installed.

    Examples
    --------
    >>> open_bioio("missing.nd2")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    brushlab.errors.ImageError: no file at missing.nd2 ...
    """
    from brushlab.io._array import array_image

    path = Path(path)
    image = _open(path)
    name = _select_scene(image, scene, path)
    try:
        data = image.xarray_dask_data  # T, C, Z, Y, X (+ S): bioio's standard order
        sizes = image.physical_pixel_sizes
        channels = [str(c) for c in image.channel_names or []]
    except Exception as exc:
        raise _unreadable(path, exc) from exc
    keep = [d for d in data.dims if data.sizes[d] > 1 or d in ("Y", "X")]
    if "C" in keep and "S" in keep:
        raise ImageError(
            f"{path} (scene {name!r}) has both {data.sizes['C']} channels and "
            f"{data.sizes['S']} colour samples per pixel; brushlab reads one channel "
            "axis: open one channel, e.g. imread(...).isel(c=0), after converting "
            "the file, or export the channels separately"
        )
    unknown = [d for d in keep if d not in _BIOIO_DIMS]
    if unknown:
        raise ImageError(
            f"{path} (scene {name!r}) has axes {unknown} that brushlab cannot map to "
            "t, z, y, x, c; export the scene as OME-TIFF and read that instead"
        )
    squeezed = data.isel({d: 0 for d in data.dims if d not in keep})
    names = [_BIOIO_DIMS[str(d)] for d in keep]
    pixels = squeezed.transpose(*keep).data
    per_dim = {"z": sizes.Z, "y": sizes.Y, "x": sizes.X}
    spacing = {d: float(v) for d, v in per_dim.items() if d in names and v and v > 0}
    attrs = {
        "spacing": spacing,
        "unit": "micrometer" if spacing else "pixel",
        "source": str(path),
        "scene": name,
    }
    coords = {}
    if "C" in keep and len(channels) == data.sizes["C"]:
        coords["c"] = channels
    stored = xr.DataArray(pixels, dims=names, coords=coords, attrs=attrs)
    return array_image(stored, dims)


def read_bioio(
    path: str | os.PathLike[str],
    *,
    scene: int | str | None = None,
    dims: str | Sequence[str] | None = None,
    max_bytes: int | None = None,
) -> xr.DataArray:
    """Read one scene of a microscope file into memory (:func:`open_bioio`, computed).

    The scene's size is checked against the memory budget first (``max_bytes``, as
    :func:`brushlab.imread`), before anything is read.

    Examples
    --------
    >>> read_bioio("missing.lif")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    brushlab.errors.ImageError: no file at missing.lif ...
    """
    image = open_bioio(path, scene=scene, dims=dims)
    check_budget(int(image.nbytes), tuple(image.shape), image.dtype, str(path), max_bytes)
    try:
        return image.copy(data=image.data.compute())
    except Exception as exc:
        raise _unreadable(Path(path), exc) from exc


def _open(path: Path) -> Any:
    if not path.is_file():
        raise ImageError(
            f"no file at {path} (absolute: {path.absolute()}); check the spelling and "
            "the current directory"
        )
    suffix = path.suffix.lower()
    if suffix not in VENDOR_SUFFIXES:
        raise ImageError(
            f"scene= selects a scene of a microscope file ({', '.join(VENDOR_SUFFIXES)}), "
            f"but {path} is a {suffix or 'suffix-less'} file; leave out scene="
        )
    fmt, plugin, module = VENDOR_SUFFIXES[suffix]
    try:
        bioio = importlib.import_module("bioio")
        reader = importlib.import_module(module).Reader
    except ImportError as exc:
        raise ImageError(
            f"reading {fmt} files ({path.name}) needs bioio and its {plugin} plugin, "
            f"which are not installed ({exc}); install them with: pip install bioio "
            f"{plugin}  (or: pip install 'brushlab[formats]')"
        ) from exc
    if suffix == ".czi":
        czi = _czi_with_libczi(bioio, reader, path)
        if czi is not None:
            return czi
    try:
        return bioio.BioImage(path, reader=reader)
    except Exception as exc:
        raise _unreadable(path, exc) from exc


def _czi_with_libczi(bioio: Any, reader: Any, path: Path) -> Any:
    """bioio-czi reading through ZEISS's pylibCZIrw, or None where that mode cannot read the file.

    bioio-czi 3.0's default (aicspylibczi) mode returns wrong planes for z > 0 of the
    second scene of a multi-scene CZI (verified against pylibCZIrw's own reader); its
    pylibCZIrw mode reads them right but needs the scenes named in the metadata, as
    ZEN names them.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the mode bioio-czi 3 still has
            image = bioio.BioImage(path, reader=reader, use_aicspylibczi=False)
            image.scenes  # noqa: B018 (raises where the metadata does not name the scenes)
    except Exception:
        return None
    return image


def _select_scene(image: Any, scene: int | str | None, path: Path) -> str:
    scenes = [str(s) for s in image.scenes]
    listing = ", ".join(f"{i}: {s!r}" for i, s in enumerate(scenes))
    if scene is None:
        index = 0
    elif isinstance(scene, str):
        if scene not in scenes:
            raise ImageError(
                f"{path} has no scene {scene!r}; pass scene= as one of its scenes "
                f"(index: name) {listing}"
            )
        index = scenes.index(scene)
    elif isinstance(scene, int) and not isinstance(scene, bool):
        if not -len(scenes) <= scene < len(scenes):
            raise ImageError(
                f"{path} has {len(scenes)} scene(s), so scene={scene} does not exist; "
                f"pass scene= as one of (index: name) {listing}"
            )
        index = scene % len(scenes)
    else:
        raise ImageError(f"scene= must be a scene index or name, got {scene!r}")
    try:
        image.set_scene(index)
    except Exception as exc:
        raise _unreadable(path, exc) from exc
    return scenes[index]


def _unreadable(path: Path, exc: Exception) -> ImageError:
    fmt = VENDOR_SUFFIXES.get(path.suffix.lower(), (path.suffix,))[0]
    return ImageError(
        f"could not read {path} as {fmt}: {type(exc).__name__}: {exc}. The file may be "
        "truncated, corrupt or of another format; re-export it from the microscope "
        "software, or as OME-TIFF"
    )
