"""Save a Session to a project file (see :mod:`brushlab.project` for the format)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from brushlab._core.backend import to_numpy
from brushlab.errors import BrushlabError, ProjectError, ProjectWarning
from brushlab.project._format import CLASSIFIER_MEMBER, ProjectWriter

if TYPE_CHECKING:
    from brushlab.session import Session

__all__ = ["save_project", "EMBED_CHOICES"]

EMBED_CHOICES = (True, False, "auto")


def save_project(
    session: Session,
    path: str | os.PathLike[str],
    *,
    embed_images: bool | str = True,
) -> Path:
    """Write ``session`` to a project file, atomically.

    Parameters
    ----------
    session : Session
        The session to save.
    path : str or path-like
        The project file (``.blproj`` by convention). It is replaced only once
        the new file is complete: a failed save leaves the previous one intact.
    embed_images : bool or "auto", default True
        True stores the pixels in the project; False stores each image's source
        path (images must come from files: ``imread`` records the path); "auto"
        references images read from files and embeds the others.

    Returns
    -------
    pathlib.Path
        The written project file.

    Raises
    ------
    ProjectError
        If an image to reference has no source file, ``view_state`` is not
        JSON, or the folder does not exist.

    Examples
    --------
    >>> import tempfile, numpy as np, brushlab
    >>> from brushlab.project import save_project
    >>> s = brushlab.Session(np.zeros((32, 32), np.float32), precompute=False)
    >>> path = save_project(s, Path(tempfile.mkdtemp()) / "demo.blproj")
    >>> brushlab.open_project(path).image_names
    ('image 0',)
    """
    if embed_images not in EMBED_CHOICES or not isinstance(embed_images, (bool, str)):
        raise ProjectError(f"embed_images must be True, False or 'auto', not {embed_images!r}")
    path = Path(path).absolute()
    view_state = _json_or_error(getattr(session, "view_state", {}), "session.view_state")
    history = _json_or_error(getattr(session, "training_history", []), "session.training_history")
    plan = _plan_images(session, embed_images, path.parent)
    classes = [{"name": c.name, "colour": c.colour} for c in session.classes]
    labels, classifier = session.snapshot()  # consistent against concurrent strokes
    network = getattr(session, "network", None)
    with tempfile.TemporaryDirectory(prefix="brushlab-save-") as scratch:
        model = _save_classifier(classifier, Path(scratch))
        net_model = _save_classifier(network, Path(scratch), "network.brushlab")
        with ProjectWriter.create(path) as writer:
            for i, (entry, image) in enumerate(zip(plan, session.images)):
                if entry["embedded"]:
                    entry["array"] = writer.add_array(f"images/{i:03d}.npy", to_numpy(image.data))
                entry["labels"] = writer.add_array(f"labels/{i:03d}.npy", labels[i])
            member = writer.add_file(CLASSIFIER_MEMBER, model) if model else None
            net_member = writer.add_file("network.brushlab", net_model) if net_model else None
            writer.finish(
                {
                    "brushlab_version": _version(),
                    "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "classes": classes,
                    "features": session.features.to_dict(),
                    "classifier_params": _plain_params(session.classifier_params),
                    "images": plan,
                    "classifier": member,
                    "network": net_member,
                    "training_history": history,
                    "view_state": view_state,
                }
            )
    return path


def _version() -> str:
    from brushlab._version import __version__

    return __version__


def _json_or_error(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ProjectError(
            f"cannot save {what}: it is not plain JSON ({exc}); keep dicts with str keys, "
            "lists, str, int, finite float, bool and None in it"
        ) from exc


def _plan_images(session: Session, embed: bool | str, folder: Path) -> list[dict[str, Any]]:
    plan, missing = [], []
    for name, image in zip(session.image_names, session.images):
        source = str(image.attrs.get("source", "array"))
        file_path = None if source == "array" else Path(source).absolute()
        entry: dict[str, Any] = {
            "name": name,
            "dims": list(image.dims),
            "shape": [int(n) for n in image.shape],
            "dtype": np.dtype(image.dtype).str,
            "spacing": {k: float(v) for k, v in image.attrs.get("spacing", {}).items()},
            "unit": str(image.attrs.get("unit", "pixel")),
            "source": source,
            "embedded": embed is True or (embed == "auto" and file_path is None),
            "array": None,
        }
        if not entry["embedded"]:
            if file_path is None:
                missing.append(name)
                continue
            entry["path"] = str(file_path)
            entry["relative_path"] = _relative(file_path, folder)
            entry["sha256"] = pixel_digest(image.data)
        plan.append(entry)
    if missing:
        raise ProjectError(
            f"images {missing} were not read from a file (made from arrays), so a project "
            "cannot reference them: save with embed_images=True or embed_images='auto', "
            "or write them with brushlab.write_image and add them with imread(path)"
        )
    return plan


def _relative(file_path: Path, folder: Path) -> str | None:
    try:
        return Path(os.path.relpath(file_path, folder)).as_posix()
    except ValueError:  # another drive on Windows
        return None


def pixel_digest(data: Any) -> str:
    """sha256 of an image's pixels (C order): tells a relinked file from another one."""
    return hashlib.sha256(np.ascontiguousarray(to_numpy(data)).data).hexdigest()


def _plain_params(params: dict[str, Any]) -> dict[str, Any]:
    out, dropped = {}, []
    for key, value in params.items():
        value = list(value) if isinstance(value, tuple) else value
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            dropped.append(key)
            continue
        out[key] = value
    if dropped:
        warnings.warn(
            f"classifier_params {dropped} are Python objects, not data: the project does not "
            "store them; pass them again to the opened session",
            ProjectWarning,
            stacklevel=4,
        )
    return out


def _save_classifier(classifier: Any, scratch: Path, name: str = CLASSIFIER_MEMBER
                     ) -> Path | None:
    if classifier is None or not classifier.is_trained:
        return None
    target = scratch / name
    try:
        classifier.save(target)
    except BrushlabError as exc:
        with contextlib.suppress(OSError):
            target.unlink()
        warnings.warn(
            f"the trained classifier cannot be stored as data ({exc}); the project keeps "
            "labels and settings: call train() after opening it",
            ProjectWarning,
            stacklevel=4,
        )
        return None
    return target
