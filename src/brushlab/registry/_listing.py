"""Where the registry is and what it holds: :func:`list` and :func:`describe`."""

from __future__ import annotations

import builtins
import os
import re
import time
from pathlib import Path
from typing import Any

import pandas as pd

from brushlab.bioimageio import is_package, package_yaml, summarize
from brushlab.errors import ModelFileError, ModelPackageError, RegistryError

__all__ = ["CLASSIFIER_KINDS", "COLUMNS", "describe", "folder", "list", "set_folder"]

#: Model-file kinds (not packages): pixel classifiers and networks (brushlab.network).
CLASSIFIER_KINDS = ("pixel-classifier", "network-classifier")

COLUMNS = ("name", "type", "title", "classes", "features", "created", "description", "path")
_NAME = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_\-. ]{0,99}$")
_override: Path | None = None


# -- where ------------------------------------------------------------------------------
def folder() -> Path:
    """Return the registry folder in use (created when first written to).

    Returns
    -------
    pathlib.Path
        :func:`set_folder`'s, else ``$BRUSHLAB_MODELS``, else the user data folder.
    """
    if _override is not None:
        return _override
    env = os.environ.get("BRUSHLAB_MODELS")
    if env:
        return Path(env).expanduser()
    try:
        from platformdirs import user_data_dir

        return Path(user_data_dir("brushlab", appauthor=False)) / "models"
    except ImportError:  # platformdirs comes with pooch; fall back to the XDG layout
        base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        return Path(base) / "brushlab" / "models"


def set_folder(path: str | os.PathLike[str] | None) -> None:
    """Use ``path`` as the registry folder from now on (None: back to the default)."""
    global _override
    _override = None if path is None else Path(path).expanduser()


def _root(where: str | os.PathLike[str] | None, *, create: bool = False) -> Path:
    root = Path(where).expanduser() if where is not None else folder()
    if create:
        root.mkdir(parents=True, exist_ok=True)
    return root


# -- reading entries --------------------------------------------------------------------
def _entries(root: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    if not root.is_dir():
        return out
    for path in sorted(root.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_file() and path.suffix == ".brushlab":
            out.setdefault(path.stem, path)
        elif is_package(path):  # the same test as brushlab.bioimageio.discover
            out.setdefault(path.stem if path.is_file() else path.name, path)
    return out


def _entry(name: str, root: Path) -> Path:
    entries = _entries(root)
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise RegistryError(f"no model named {name!r} in {root} (models: {known})")
    return entries[name]


def _model_metadata(path: Path) -> dict[str, Any]:
    """Read the JSON metadata of a model file through the model-file reader, not its arrays."""
    from brushlab.classifier.modelfile import read_model_metadata

    try:
        return read_model_metadata(path)
    except ModelFileError as exc:
        raise RegistryError(f"{path} is not a readable brushlab model file ({exc})") from exc


def _package_yaml(path: Path) -> dict[str, Any]:
    try:
        return package_yaml(path)
    except ModelPackageError as exc:
        raise RegistryError(f"{path}: {exc}") from exc


def _row(name: str, path: Path) -> dict[str, Any]:
    created = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(path.stat().st_mtime))
    if path.suffix == ".brushlab":
        meta = _model_metadata(path)
        reg = meta.get("registry", {}) if isinstance(meta.get("registry"), dict) else {}
        features = meta.get("features", {}).get("selection", {})
        n = sum(len(s) for s in features.values())
        return {
            "name": name,
            "type": str(meta.get("kind", "pixel-classifier")),
            "title": name,
            "classes": [str(c) for c in meta.get("class_names") or []],
            "features": _summary(meta, f"{len(features)} families, {n} (family, scale) pairs"),
            "created": reg.get("created") or meta.get("training", {}).get("date") or created,
            "description": str(reg.get("description", "")),
            "path": path,
        }
    summary = summarize(path)  # the same summary as brushlab.bioimageio.discover
    return {
        "name": name,
        "type": "bioimageio",
        "title": summary.name,
        "classes": [],
        "features": "deep learning",
        "created": created,
        "description": summary.description,
        "path": path,
    }


def list(*, folder: str | os.PathLike[str] | None = None) -> pd.DataFrame:  # noqa: A001
    """Every model in the registry, one row each, sorted by name.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`: ``name`` (use it with the other functions),
        ``type`` (``"pixel-classifier"`` or ``"bioimageio"``), ``title`` (the
        yaml's ``name`` for packages), ``classes`` (list of str), ``features``
        (summary), ``created`` (ISO date), ``description`` and ``path``.
        Entries that cannot be read show type ``"unreadable"`` with the reason.
    """
    root = _root(folder)
    rows = []
    for name, path in _entries(root).items():
        try:
            rows.append(_row(name, path))
        except (RegistryError, OSError) as exc:
            rows.append(
                dict.fromkeys(COLUMNS, "")
                | {
                    "name": name,
                    "type": "unreadable",
                    "classes": [],
                    "description": str(exc),
                    "path": path,
                }
            )
    return pd.DataFrame(rows, columns=builtins.list(COLUMNS))


def describe(name: str, *, folder: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Everything known about one model: its :func:`list` row plus details.

    Returns
    -------
    dict
        The row, plus for pixel classifiers ``feature_set`` (``FeatureSet.to_dict()``),
        ``n_trees``, ``n_channels``, ``spatial_ndim``, ``training`` and
        ``brushlab_version``; for packages ``rdf`` (the parsed yaml).
    """
    path = _entry(name, _root(folder))
    out = _row(name, path)
    if out["type"] in CLASSIFIER_KINDS:
        meta = _model_metadata(path)
        out.update(
            feature_set=meta.get("features"),
            n_trees=meta.get("params", {}).get("n_trees"),
            n_channels=meta.get("n_channels"),
            spatial_ndim=meta.get("spatial_ndim"),
            training=meta.get("training", {}),
            brushlab_version=meta.get("brushlab_version"),
        )
    else:
        out["rdf"] = _package_yaml(path)
    return out


def _summary(meta: dict[str, Any], features: str) -> str:
    """Give the ``features`` column: the feature set, or a network's architecture."""
    if meta.get("kind") != "network-classifier":
        return features
    arch = meta.get("architecture", {}) if isinstance(meta.get("architecture"), dict) else {}
    forest = " + forest" if meta.get("forest_input") else ""
    return f"U-Net, {arch.get('depth')} levels x {arch.get('base_channels')} channels{forest}"
