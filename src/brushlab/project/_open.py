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

from brushlab._core.relink import exists as _exists
from brushlab._core.relink import first_existing, relink_of, search_name
from brushlab.errors import BrushlabError, ClassifierError, ProjectError, ProjectWarning
from brushlab.project._document import ImageEntry, checked_document
from brushlab.project._format import ProjectReader, damaged
from brushlab.project._save import pixel_digest

if TYPE_CHECKING:
    from brushlab.session import Session

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
    from brushlab.session import Session

    relinks = {str(k): Path(v) for k, v in (relink or {}).items()}
    folders = [Path(p) for p in search_paths]
    with ProjectReader.open(path) as reader:
        doc = checked_document(reader.document, reader.path)
        saved = dict(doc.classifier_params)
        saved.setdefault("model", "random_forest")  # projects from before boosted trees
        params = {**saved, **session_options.pop("classifier_params", {})}
        images = [_load_image(reader, e, relinks, folders) for e in doc.images]
        labels = [reader.array(e.labels) for e in doc.images]
        model = reader.file_bytes(doc.classifier) if doc.classifier else None
        raw_network = reader.document.get("network")
        network = reader.file_bytes(str(raw_network)) if raw_network else None
    try:
        session = Session(
            None,
            classes=doc.classes,
            features=doc.features,
            classifier_params=params,
            precompute=precompute,
            **session_options,
        )
        for entry, image, lab in zip(doc.images, images, labels):
            index = session.add_image(image, name=entry.name)
            if lab.any():
                session.import_labels(index, lab)
    except BrushlabError as exc:  # classes, images or labels that do not fit together
        raise damaged(reader.path, f"its content is inconsistent ({exc})") from exc
    session.clear_undo_history()  # opening is not an edit: nothing to undo
    if model is not None:
        _restore_classifier(session, model, reader.path)
    if network is not None:
        _restore_network(session, network, reader.path)
    session.training_history = doc.training_history
    session.view_state = doc.view_state
    return session


def _restore_classifier(session: Session, model: bytes, path: Path) -> None:
    from brushlab.classifier import PixelClassifier

    with tempfile.TemporaryDirectory(prefix="brushlab-open-") as scratch:
        file = Path(scratch) / "classifier.brushlab"
        file.write_bytes(model)
        try:
            clf = PixelClassifier.load(file)
        except BrushlabError as exc:
            raise damaged(path, f"its classifier cannot be read ({exc})") from exc
    try:
        session.set_classifier(clf)
    except ClassifierError:
        warnings.warn(
            f"{path}: the saved classifier does not match the project's features or classes; "
            "it was dropped: call train() again",
            ProjectWarning,
            stacklevel=3,
        )


def _restore_network(session: Session, model: bytes, path: Path) -> None:
    from brushlab.network import load_network

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
    reader: ProjectReader, checked: ImageEntry, relinks: dict[str, Path], folders: list[Path]
) -> xr.DataArray:
    entry, dims, shape, attrs = checked.raw, checked.dims, checked.shape, checked.attrs
    if checked.embedded:
        data = reader.array(str(checked.array))
        if list(data.shape) != shape:
            raise damaged(reader.path, f"image {checked.name!r} has shape {data.shape}")
        return xr.DataArray(data, dims=dims, attrs=attrs)
    file = _find(entry, reader.path, relinks, folders)
    image = _read_referenced(file, dims, shape, entry)
    if checked.sha256 and pixel_digest(image.data) != checked.sha256:
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
    found, tried = first_existing(candidates, search_name(relative or saved), folders)
    if found is not None:
        return found
    listed = "\n  ".join(str(p) for p in tried)
    raise ProjectError(
        f"image {entry['name']!r} of {project} is referenced, not embedded, and was not found; "
        f"tried:\n  {listed}\nIf it moved, pass open_project(..., relink={{{saved!r}: "
        "'new/path'}) or search_paths=['folder/with/it']"
    )


def _read_referenced(
    file: Path, dims: list[str], shape: list[int], entry: dict[str, Any]
) -> xr.DataArray:
    from brushlab.io import imread

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
