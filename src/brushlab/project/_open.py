"""Open a project file as a Session (see :mod:`brushlab.project` for the format)."""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from ..errors import BrushlabError, ProjectError
from ._format import ProjectReader, damaged
from ._save import ProjectWarning, pixel_digest

if TYPE_CHECKING:
    from ..session import Session

__all__ = ["open_project"]

PathLike = str | os.PathLike[str]


def open_project(
    path: PathLike,
    *,
    relink: Mapping[PathLike, PathLike] | None = None,
    search_paths: Iterable[PathLike] = (),
    precompute: bool = True,
    **session_options: Any,
) -> Session:
    """Open a project saved with :meth:`Session.save` as a new :class:`Session`.

    Images, labels, classes with colours, the feature set, the trained
    classifier, ``training_history`` and ``view_state`` come back as saved;
    the undo history starts empty.

    Parameters
    ----------
    path : str or path-like
        The project file.
    relink : mapping, optional
        New locations of referenced images that moved: ``{old: new}`` where
        ``old`` is the path the error message names (absolute or as saved),
        the saved relative path, or the image's name.
    search_paths : iterable of path, optional
        Folders searched (by file name) for referenced images not found at
        their saved absolute path or relative to the project file.
    precompute : bool, default True
        Passed to :class:`Session` (start computing features in the background).
    **session_options
        Other keyword arguments of :class:`Session` (``cache_bytes``,
        ``tile_shape``); ``classifier_params`` entries override the saved ones.

    Returns
    -------
    Session
        The restored session; ``session.autosave`` is None until set again.

    Raises
    ------
    ProjectError
        If the file is missing, damaged, truncated, not a project, from a newer
        brushlab, or a referenced image cannot be found (the message names each
        path tried) or no longer matches the saved shape.

    Examples
    --------
    >>> import tempfile, numpy as np, brushlab
    >>> s = brushlab.Session(np.zeros((32, 32), np.float32), classes=["a", "b"], precompute=False)
    >>> s.view_state["brush_size"] = 4
    >>> path = s.save(Path(tempfile.mkdtemp()) / "demo.blproj")
    >>> again = brushlab.open_project(path)
    >>> again.class_names, again.view_state
    (['a', 'b'], {'brush_size': 4})
    """
    from ..features import FeatureSet
    from ..session import Session

    relinks = {str(k): Path(v) for k, v in (relink or {}).items()}
    folders = [Path(p) for p in search_paths]
    with ProjectReader.open(path) as reader:
        doc = reader.document
        try:
            features = FeatureSet.from_dict(doc["features"])
            classes = [(c["name"], c["colour"]) for c in doc["classes"]]
            params = {
                **dict(doc.get("classifier_params", {})),
                **session_options.pop("classifier_params", {}),
            }
            entries = list(doc["images"])
        except (KeyError, TypeError, ValueError, BrushlabError) as exc:
            raise damaged(reader.path, f"its settings are incomplete ({exc})") from exc
        images = [_load_image(reader, e, relinks, folders) for e in entries]
        labels = [reader.array(str(e["labels"])) for e in entries]
        model = reader.file_bytes(doc["classifier"]) if doc.get("classifier") else None
        network = reader.file_bytes(doc["network"]) if doc.get("network") else None
    session = Session(
        None,
        classes=classes,
        features=features,
        classifier_params=params,
        precompute=precompute,
        **session_options,
    )
    for entry, image, lab in zip(entries, images, labels):
        index = session.add_image(image, name=str(entry["name"]))
        if lab.any():
            session.import_labels(index, lab)
    session._history.clear()  # opening is not an edit: nothing to undo
    if model is not None:
        _restore_classifier(session, model, reader.path)
    if network is not None:
        _restore_network(session, network, reader.path)
    session.training_history = list(doc.get("training_history", []))
    session.view_state = dict(doc.get("view_state", {}))
    return session


def _restore_classifier(session: Session, model: bytes, path: Path) -> None:
    from ..classifier import PixelClassifier

    with tempfile.TemporaryDirectory(prefix="brushlab-open-") as scratch:
        file = Path(scratch) / "classifier.brushlab"
        file.write_bytes(model)
        try:
            clf = PixelClassifier.load(file)
        except BrushlabError as exc:
            raise damaged(path, f"its classifier cannot be read ({exc})") from exc
    if clf.features != session.features or clf.class_names != session.class_names:
        warnings.warn(
            f"{path}: the saved classifier does not match the project's features or classes; "
            "it was dropped: call train() again",
            ProjectWarning,
            stacklevel=3,
        )
        return
    with session._lock:
        session._classifier = clf


def _restore_network(session: Session, model: bytes, path: Path) -> None:
    from ..network import load_network

    with tempfile.TemporaryDirectory(prefix="brushlab-open-") as scratch:
        file = Path(scratch) / "network.brushlab"
        file.write_bytes(model)
        try:
            net = load_network(file)
        except BrushlabError as exc:
            raise damaged(path, f"its network cannot be read ({exc})") from exc
    if net.class_names != session.class_names:
        warnings.warn(f"{path}: the saved network does not match the project's classes; it "
                      "was dropped: call train_network() again", ProjectWarning, stacklevel=3)
        return
    session.network = net


def _load_image(
    reader: ProjectReader, entry: dict[str, Any], relinks: dict[str, Path], folders: list[Path]
) -> xr.DataArray:
    try:
        dims, shape = [str(d) for d in entry["dims"]], [int(n) for n in entry["shape"]]
        attrs = {
            "spacing": dict(entry.get("spacing", {})),
            "unit": str(entry.get("unit", "pixel")),
            "source": str(entry.get("source", "array")),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise damaged(reader.path, f"an image is described badly ({exc})") from exc
    if entry.get("embedded"):
        data = reader.array(str(entry["array"]))
        if list(data.shape) != shape:
            raise damaged(reader.path, f"image {entry['name']!r} has shape {data.shape}")
        return xr.DataArray(data, dims=dims, attrs=attrs)
    file = _find(entry, reader.path, relinks, folders)
    image = _read_referenced(file, dims, shape, entry)
    if entry.get("sha256") and pixel_digest(image.data) != entry["sha256"]:
        warnings.warn(
            f"image {entry['name']!r} at {file} has the saved shape but other pixels than when "
            "the project was saved: check that the labels still fit it",
            ProjectWarning,
            stacklevel=3,
        )
    return image


def _find(
    entry: dict[str, Any], project: Path, relinks: dict[str, Path], folders: list[Path]
) -> Path:
    saved = str(entry.get("path", ""))
    relative = entry.get("relative_path")
    keys = [saved, str(entry.get("source", "")), str(entry.get("name", ""))]
    keys += [str(relative)] if relative else []
    relinked = relink_of(keys, relinks)
    if relinked is not None:
        if not _exists(relinked):
            raise ProjectError(
                f"relink for image {entry['name']!r} points to {relinked}, which does not exist"
            )
        return relinked
    candidates = [Path(saved)] + ([project.parent / relative] if relative else [])
    found, tried = first_existing(candidates, Path(relative or saved).name, folders)
    if found is not None:
        return found
    listed = "\n  ".join(str(p) for p in tried)
    raise ProjectError(
        f"image {entry['name']!r} of {project} is referenced, not embedded, and was not found; "
        f"tried:\n  {listed}\nIf it moved, pass open_project(..., relink={{{saved!r}: "
        "'new/path'}) or search_paths=['folder/with/it']"
    )


def relink_of(keys: list[str], relinks: dict[str, Path]) -> Path | None:
    """Return the path ``relinks`` gives for the first of ``keys`` it knows, or None."""
    for key in keys:
        if key in relinks:
            return relinks[key]
    return None


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
    return next((p for p in tried if _exists(p)), None), tried


def _exists(path: Path) -> bool:
    """Whether a file exists; ``file.h5/dataset`` paths count when the file does."""
    if path.exists():
        return True
    text = str(path)
    for suffix in (".h5", ".hdf5", ".hdf"):
        cut = text.lower().find(suffix + os.sep)
        if cut < 0:
            cut = text.lower().find(suffix + "/")
        if cut >= 0 and Path(text[: cut + len(suffix)]).is_file():
            return True
    return False


def _read_referenced(
    file: Path, dims: list[str], shape: list[int], entry: dict[str, Any]
) -> xr.DataArray:
    from ..images import imread

    error: BrushlabError | None = None
    image: xr.DataArray | None = None
    try:
        image = imread(file)
    except BrushlabError as exc:  # e.g. a 4D .npy whose dims only the project knows
        error = exc
    if image is None or (list(image.dims) != dims and image.ndim == len(dims)):
        try:  # the dims the image was given when it was added
            image = imread(file, dims="".join(dims))
        except BrushlabError as exc:
            error = error or exc
    if image is None:
        raise ProjectError(f"image {entry['name']!r}: cannot read {file} ({error})") from error
    if list(image.dims) != dims or list(image.shape) != shape:
        got = dict(zip(image.dims, image.shape))
        raise ProjectError(
            f"image {entry['name']!r}: {file} holds dims/sizes {got}, the project saved "
            f"{dict(zip(dims, shape))}: the file changed, so the labels would not fit; "
            "relink the original image"
        )
    if np.dtype(image.dtype).str != entry.get("dtype", np.dtype(image.dtype).str):
        warnings.warn(
            f"image {entry['name']!r} at {file} is {image.dtype}, saved as {entry['dtype']}",
            ProjectWarning,
            stacklevel=4,
        )
    return image
