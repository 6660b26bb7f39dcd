"""The fields of ``project.json``, checked before any of them is used.

A project file is data from outside: a damaged or hand-edited ``project.json`` must
end in a :class:`~brushlab.errors.ProjectError` naming the field, never in a raw
KeyError/TypeError/ValueError from deep inside the session. Each field is read
once here, its type and range checked, and handed on as plain Python values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brushlab.errors import FeatureError, ProjectError
from brushlab.features import FeatureSet

__all__ = ["ImageEntry", "ProjectDocument", "checked_document"]

_DIMS = set("tzyxc")
_MAX_DIM = 2**40  # shape entries: anything larger cannot be an image on disk


@dataclass(frozen=True)
class ImageEntry:
    """One image of a project: how to find its pixels and its labels."""

    raw: dict[str, Any]  # the entry as saved (for relinking by path, name...)
    name: str
    dims: list[str]
    shape: list[int]
    attrs: dict[str, Any]
    labels: str
    embedded: bool
    array: str | None
    sha256: str | None


@dataclass(frozen=True)
class ProjectDocument:
    """The checked content of ``project.json``."""

    features: FeatureSet
    classes: list[tuple[str, str]]
    classifier_params: dict[str, Any]
    images: list[ImageEntry]
    classifier: str | None
    training_history: list[Any]
    view_state: dict[str, Any]


def _bad(path: Path, name: str, what: str) -> ProjectError:
    return ProjectError(
        f"{path} is damaged: in project.json, {name} {what}. Open an intact copy (an autosave "
        "or a backup) instead"
    )


def _get(
    doc: dict[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    path: Path,
    name: str,
    default: Any = ...,
) -> Any:
    if key not in doc:
        if default is ...:
            raise _bad(path, f"'{name}'", "is missing")
        return default
    value = doc[key]
    if not isinstance(value, kind) or isinstance(value, bool) and bool not in _kinds(kind):
        raise _bad(path, f"'{name}'", f"is {type(value).__name__} {value!r:.80}")
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def checked_document(doc: dict[str, Any], path: Path) -> ProjectDocument:
    """Check every field :func:`brushlab.open_project` uses.

    Parameters
    ----------
    doc : dict
        ``project.json`` after :func:`~brushlab.project._format.upgrade`.
    path : Path
        The project file, for messages.

    Returns
    -------
    ProjectDocument
        The fields as checked Python values.

    Raises
    ------
    ProjectError
        Naming the first missing or ill-typed field.

    Examples
    --------
    >>> from pathlib import Path
    >>> checked_document({"members": {}, "features": 1}, Path("p.blproj"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    brushlab.errors.ProjectError: p.blproj is damaged: in project.json, 'features' is int 1...
    """
    _check_members(_get(doc, "members", dict, path, "members"), path)
    features_doc = _get(doc, "features", dict, path, "features")
    try:
        features = FeatureSet.from_dict(features_doc)
    except FeatureError as exc:
        raise _bad(path, "'features'", f"cannot be used ({exc})") from exc
    classes = []
    for i, item in enumerate(_get(doc, "classes", list, path, "classes")):
        where = f"classes[{i}]"
        if not isinstance(item, dict):
            raise _bad(path, where, f"is {type(item).__name__}, not an object")
        classes.append(
            (
                _get(item, "name", str, path, f"{where}.name"),
                _get(item, "colour", (str, list), path, f"{where}.colour"),
            )
        )
    params = _get(doc, "classifier_params", dict, path, "classifier_params", {})
    for key, value in params.items():
        if not isinstance(value, (str, int, float, bool, type(None))) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            raise _bad(path, f"classifier_params[{key!r}]", f"is {value!r:.80}")
    images = [
        _image(item, i, path) for i, item in enumerate(_get(doc, "images", list, path, "images"))
    ]
    classifier = _get(doc, "classifier", (str, type(None)), path, "classifier", None)
    return ProjectDocument(
        features=features,
        classes=classes,
        classifier_params=dict(params),
        images=images,
        classifier=classifier or None,
        training_history=list(_get(doc, "training_history", list, path, "training_history", [])),
        view_state=dict(_get(doc, "view_state", dict, path, "view_state", {})),
    )


def _check_members(members: dict[str, Any], path: Path) -> None:
    """Check the member table (dtype, shape, sha256, bytes) before any member is read."""
    for name, entry in members.items():
        where = f"members[{name!r}]"
        if not isinstance(entry, dict):
            raise _bad(path, where, f"is {type(entry).__name__}, not an object")
        sha = _get(entry, "sha256", str, path, f"{where}.sha256")
        if len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha):
            raise _bad(path, f"{where}.sha256", f"is {sha!r:.80}, not a sha256 digest")
        if "bytes" in entry:
            size = _get(entry, "bytes", int, path, f"{where}.bytes")
            if not 0 <= size < _MAX_DIM:
                raise _bad(path, f"{where}.bytes", f"is {size}")
            continue
        dtype = _get(entry, "dtype", str, path, f"{where}.dtype")
        shape = _get(entry, "shape", list, path, f"{where}.shape")
        try:
            kind = np.dtype(dtype).kind
        except (TypeError, ValueError):
            kind = "?"
        if kind not in "biuf":
            raise _bad(path, f"{where}.dtype", f"is {dtype!r:.40}, not a numeric dtype")
        if not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n < _MAX_DIM for n in shape
        ):
            raise _bad(path, f"{where}.shape", f"is {shape!r:.80}")


def _image(item: Any, i: int, path: Path) -> ImageEntry:
    where = f"images[{i}]"
    if not isinstance(item, dict):
        raise _bad(path, where, f"is {type(item).__name__}, not an object")
    dims = _get(item, "dims", list, path, f"{where}.dims")
    shape = _get(item, "shape", list, path, f"{where}.shape")
    if (
        not all(isinstance(d, str) and d in _DIMS for d in dims)
        or len(set(dims)) != len(dims)
        or not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 < n < _MAX_DIM for n in shape
        )
        or len(dims) != len(shape)
    ):
        raise _bad(path, f"{where}.dims/shape", f"are {dims!r:.80} / {shape!r:.80}")
    spacing = _get(item, "spacing", dict, path, f"{where}.spacing", {})
    for key, value in spacing.items():
        if (
            key not in _DIMS
            or not isinstance(value, (int, float))
            or isinstance(value, bool)
            or not (math.isfinite(value) and value > 0)
        ):
            raise _bad(path, f"{where}.spacing", f"has {key!r}: {value!r:.40}")
    embedded = _get(item, "embedded", bool, path, f"{where}.embedded", False)
    array = _get(item, "array", (str, type(None)), path, f"{where}.array", None)
    if embedded and not array:
        raise _bad(path, f"{where}.array", "is missing for an embedded image")
    if not embedded:
        for key in ("path", "relative_path", "source"):
            _get(item, key, (str, type(None)), path, f"{where}.{key}", None)
    sha = _get(item, "sha256", (str, type(None)), path, f"{where}.sha256", None)
    _get(item, "dtype", str, path, f"{where}.dtype", "")
    return ImageEntry(
        raw=item,
        name=_get(item, "name", str, path, f"{where}.name"),
        dims=list(dims),
        shape=list(shape),
        attrs={
            "spacing": {str(k): float(v) for k, v in spacing.items()},
            "unit": str(_get(item, "unit", str, path, f"{where}.unit", "pixel")),
            "source": str(
                _get(item, "source", (str, type(None)), path, f"{where}.source", None) or "array"
            ),
        },
        labels=_get(item, "labels", str, path, f"{where}.labels"),
        embedded=embedded,
        array=array,
        sha256=sha,
    )
