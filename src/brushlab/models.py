"""Model registry: named, described models in one folder, as ZEISS Intellesis keeps them.

The registry is a plain folder; each entry is one of

- ``<name>.brushlab``: a brushlab pixel classifier (a model file; its metadata carries
  ``"registry": {"description", "created"}``), type ``"pixel-classifier"``;
- ``<name>/`` holding ``rdf.yaml`` or ``bioimageio.yaml``, or ``<name>.zip`` holding one
  at its root: a BioImage Model Zoo package (run it with :mod:`brushlab.dl`), type
  ``"bioimageio"``, with title and description read from the yaml.

The folder is ``$BRUSHLAB_MODELS`` when set, else the user data folder
(``~/.local/share/brushlab/models`` on Linux, via platformdirs), unless
:func:`set_folder` or a ``folder=`` argument says otherwise. Other files are ignored.
Every change is atomic (a temporary file or folder, then a rename): an interrupted
operation leaves the registry as it was. Names are 1 to 100 letters, digits, spaces,
``_``, ``-`` or ``.``, not starting with ``.`` or a space.

Examples
--------
>>> import tempfile, numpy as np, brushlab
>>> from brushlab import models
>>> folder = tempfile.mkdtemp()
>>> image = np.zeros((32, 32), np.float32); image[:, 16:] = 1
>>> labels = np.zeros((32, 32), np.uint8); labels[4, 2:8] = 1; labels[4, 20:30] = 2
>>> clf = brushlab.PixelClassifier(brushlab.FeatureSet({"gaussian": [1.0]}), n_trees=5)
>>> _ = models.save(clf.fit(image, labels, ["bg", "fg"]), "halves", description="demo",
...                 folder=folder)
>>> models.list(folder=folder)[["name", "type", "classes", "description"]].values.tolist()
[['halves', 'pixel-classifier', ['bg', 'fg'], 'demo']]
>>> models.load("halves", folder=folder).class_names
['bg', 'fg']
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import re
import shutil
import time
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .errors import ModelFileError, ProjectError

if TYPE_CHECKING:
    from .classifier import PixelClassifier

__all__ = [
    "folder",
    "set_folder",
    "list",
    "describe",
    "save",
    "load",
    "import_",
    "export",
    "rename",
    "clone",
    "delete",
    "COLUMNS",
]

COLUMNS = ("name", "type", "title", "classes", "features", "created", "description", "path")
_NAME = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_\-. ]{0,99}$")
_YAMLS = ("rdf.yaml", "bioimageio.yaml")
_MAX_YAML_BYTES = 2**20
_override: Path | None = None
_CLASSIFIER_KINDS = ("pixel-classifier", "network-classifier")  # model files, not packages


class RegistryError(ProjectError):
    """An unknown or duplicate model name, or an entry that is not a model."""


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
        if path.is_file() and path.suffix in (".brushlab", ".zip"):
            if path.suffix == ".zip" and _zip_yaml(path) is None:
                continue
            out.setdefault(path.stem, path)
        elif path.is_dir() and any((path / y).is_file() for y in _YAMLS):
            out.setdefault(path.name, path)
    return out


def _entry(name: str, root: Path) -> Path:
    entries = _entries(root)
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise RegistryError(f"no model named {name!r} in {root} (models: {known})")
    return entries[name]


def _zip_yaml(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            return next((y for y in _YAMLS if y in names), None)
    except (zipfile.BadZipFile, OSError):
        return None


def _model_metadata(path: Path) -> dict[str, Any]:
    """Read the JSON metadata of a model file, without reading its arrays."""
    try:
        with zipfile.ZipFile(path) as archive:
            document = json.loads(archive.read("metadata.json").decode("utf-8"))
    except (zipfile.BadZipFile, KeyError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise RegistryError(f"{path} is not a readable brushlab model file ({exc})") from exc
    meta = document.get("metadata") if isinstance(document, dict) else None
    if document.get("format") != "brushlab-classifier" or not isinstance(meta, dict):
        raise RegistryError(f"{path} is not a brushlab model file")
    return meta


def _yaml_text(path: Path) -> str:
    if path.is_dir():
        file = next(path / y for y in _YAMLS if (path / y).is_file())
        if file.stat().st_size > _MAX_YAML_BYTES:
            raise RegistryError(f"{file} is implausibly large for a model description")
        return file.read_text(encoding="utf-8")
    with zipfile.ZipFile(path) as archive:
        member = _zip_yaml(path)
        if member is None or archive.getinfo(member).file_size > _MAX_YAML_BYTES:
            raise RegistryError(f"{path} holds no readable rdf.yaml/bioimageio.yaml")
        return archive.read(member).decode("utf-8")


def _parse_yaml(text: str) -> dict[str, Any]:
    try:
        import yaml

        data = yaml.safe_load(text)  # safe_load builds plain data only, never objects
    except ImportError:  # pragma: no cover - PyYAML comes with dask and bokeh
        data = {}
        for line in text.splitlines():
            match = re.match(r"^(name|description|type|format_version):\s*(.*)$", line)
            if match:
                data[match[1]] = match[2].strip().strip("'\"")
    except Exception as exc:  # yaml.YAMLError and its relatives
        raise RegistryError(f"the package's yaml cannot be parsed ({exc})") from exc
    return data if isinstance(data, dict) else {}


def _row(name: str, path: Path) -> dict[str, Any]:
    created = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(path.stat().st_mtime))
    if path.suffix == ".brushlab":
        meta = _model_metadata(path)
        reg = meta.get("registry", {}) if isinstance(meta.get("registry"), dict) else {}
        features = meta.get("features", {}).get("selection", {})
        n = sum(len(s) for s in features.values())
        summary = f"{len(features)} families, {n} (family, scale) pairs"
        if meta.get("kind") == "network-classifier":  # brushlab.network (a U-Net)
            arch = meta.get("architecture", {})
            summary = (f"U-Net, {arch.get('depth')} levels x {arch.get('base_channels')} "
                       f"channels{' + forest' if meta.get('forest_input') else ''}")
        return {
            "name": name,
            "type": str(meta.get("kind", "pixel-classifier")),
            "title": name,
            "classes": [str(c) for c in meta.get("class_names") or []],
            "features": summary,
            "created": reg.get("created") or meta.get("training", {}).get("date") or created,
            "description": str(reg.get("description", "")),
            "path": path,
        }
    rdf = _parse_yaml(_yaml_text(path))
    return {
        "name": name,
        "type": "bioimageio",
        "title": str(rdf.get("name", name)),
        "classes": [],
        "features": "deep learning",
        "created": str(rdf.get("created", created)),
        "description": str(rdf.get("description", "")),
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
        except (RegistryError, OSError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
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
    if out["type"] in _CLASSIFIER_KINDS:
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
        out["rdf"] = _parse_yaml(_yaml_text(path))
    return out


# -- changing entries -------------------------------------------------------------------
def _check_new(name: Any, root: Path, *, overwrite: bool = False) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name != name.rstrip():
        raise RegistryError(
            f"{name!r} is not a usable model name: use 1 to 100 letters, digits, spaces, "
            "'_', '-' or '.', not starting with '.' or a space"
        )
    if name in _entries(root) and not overwrite:
        raise RegistryError(
            f"a model named {name!r} exists already in {root}: choose another name, "
            "delete it first, or pass overwrite=True"
        )
    return name


def _write_classifier_file(
    source: Path, target: Path, *, description: str | None, created: str | None
) -> None:
    """Copy a model file to ``target`` atomically, with registry metadata set."""
    from .modelfile import read_model_file, write_model_file

    arrays, meta = read_model_file(source)  # validates the whole file
    if meta.get("kind") not in _CLASSIFIER_KINDS:
        raise RegistryError(f"{source} does not hold a brushlab pixel classifier")
    reg = dict(meta.get("registry", {})) if isinstance(meta.get("registry"), dict) else {}
    if description is not None:
        reg["description"] = str(description)
    reg.setdefault("description", "")
    reg["created"] = created or reg.get("created") or time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_model_file(target, arrays, {**meta, "registry": reg})


def save(
    classifier: PixelClassifier,
    name: str,
    *,
    description: str = "",
    overwrite: bool = False,
    folder: str | os.PathLike[str] | None = None,
) -> Path:
    """Store a trained classifier in the registry under ``name``.

    Returns
    -------
    pathlib.Path
        The entry's file.

    Raises
    ------
    RegistryError
        If the name is unusable or taken (and not ``overwrite``).
    """
    root = _root(folder, create=True)
    _check_new(name, root, overwrite=overwrite)
    with _scratch(root) as temp:
        classifier.save(temp / "model.brushlab")
        _write_classifier_file(
            temp / "model.brushlab",
            root / f"{name}.brushlab",
            description=description,
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
    return root / f"{name}.brushlab"


def load(name: str, *, folder: str | os.PathLike[str] | None = None) -> PixelClassifier:
    """Load a pixel classifier from the registry.

    Raises
    ------
    RegistryError
        If there is no such model, or it is a bioimageio package (load those with
        :mod:`brushlab.dl` from ``describe(name)["path"]``).
    """
    from .classifier import PixelClassifier

    path = _entry(name, _root(folder))
    if path.suffix != ".brushlab":
        raise RegistryError(
            f"model {name!r} is a BioImage Model Zoo package, not a pixel classifier: run it "
            f"with brushlab.dl (its path is {path})"
        )
    if _model_metadata(path).get("kind") == "network-classifier":
        from .network import load_network

        return load_network(path)  # type: ignore[return-value]
    return PixelClassifier.load(path)


def import_(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    description: str | None = None,
    overwrite: bool = False,
    folder: str | os.PathLike[str] | None = None,
) -> str:
    """Copy a model into the registry: a ``.brushlab`` file, or a bioimageio folder or zip.

    Parameters
    ----------
    path : str or path-like
        The model to import (it is validated first; nothing is imported if it fails).
    name : str, optional
        Registry name (default: the file or folder name without suffix).
    description : str, optional
        Replaces a pixel classifier's description.
    overwrite : bool, default False
        Replace an existing entry of that name.

    Returns
    -------
    str
        The name it was stored under.
    """
    source = Path(path)
    root = _root(folder, create=True)
    if not source.exists():
        raise RegistryError(f"cannot import {source}: it does not exist")
    stem = source.name[: -len(".zip")] if source.name.endswith(".zip") else source.stem
    name = _check_new(name if name is not None else stem, root, overwrite=overwrite)
    if source.is_dir():
        if not any((source / y).is_file() for y in _YAMLS):
            raise RegistryError(f"{source} is a folder without rdf.yaml/bioimageio.yaml")
        _parse_yaml(_yaml_text(source))
        _place_tree(source, root, name, overwrite=overwrite)
    elif zipfile.is_zipfile(source) and _zip_yaml(source) is not None:
        _parse_yaml(_yaml_text(source))
        if overwrite:
            _remove_other(root, name, keep=".zip")
        _place_file(source, root / f"{name}.zip", overwrite=overwrite)
    else:
        try:
            with _scratch(root) as temp:
                _write_classifier_file(
                    source, temp / "m.brushlab", description=description, created=None
                )
                _remove_other(root, name, keep=".brushlab")
                os.replace(temp / "m.brushlab", root / f"{name}.brushlab")
        except ModelFileError as exc:
            raise RegistryError(
                f"cannot import {source}: not a brushlab model file nor a bioimageio package "
                f"({exc})"
            ) from exc
    return name


def export(
    name: str, path: str | os.PathLike[str], *, folder: str | os.PathLike[str] | None = None
) -> Path:
    """Copy a model out of the registry (atomically): the file, or the package folder/zip.

    Returns
    -------
    pathlib.Path
        What was written: for a pixel classifier a ``.brushlab`` model file (its
        description included) that ``brushlab.load_classifier`` and the CLI read.
    """
    entry = _entry(name, _root(folder))
    target = Path(path)
    if target.is_dir() and not entry.is_dir():
        target = target / entry.name
    if entry.is_dir():
        if target.exists():
            raise RegistryError(f"cannot export to {target}: it exists already")
        _place_tree(entry, target.parent, target.name, overwrite=False)
    else:
        _place_file(entry, target, overwrite=True)
    return target


def rename(old: str, new: str, *, folder: str | os.PathLike[str] | None = None) -> Path:
    """Rename a model (one atomic rename); returns its new path."""
    root = _root(folder)
    entry = _entry(old, root)
    _check_new(new, root)
    target = root / (new + ("" if entry.is_dir() else entry.suffix))
    os.rename(entry, target)
    return target


def clone(
    name: str,
    new: str,
    *,
    description: str | None = None,
    folder: str | os.PathLike[str] | None = None,
) -> Path:
    """Copy a model under a new name (a new ``created`` date; optionally a new description)."""
    root = _root(folder)
    entry = _entry(name, root)
    _check_new(new, root)
    if entry.is_dir():
        _place_tree(entry, root, new, overwrite=False)
        return root / new
    if entry.suffix == ".zip":
        _place_file(entry, root / f"{new}.zip", overwrite=False)
        return root / f"{new}.zip"
    _write_classifier_file(
        entry,
        root / f"{new}.brushlab",
        description=description,
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    return root / f"{new}.brushlab"


def delete(name: str, *, folder: str | os.PathLike[str] | None = None) -> None:
    """Remove a model from the registry (renamed away first, so it vanishes at once)."""
    root = _root(folder)
    entry = _entry(name, root)
    trash = root / f".{entry.name}.{uuid.uuid4().hex[:8]}.deleted"
    os.rename(entry, trash)
    if trash.is_dir():
        shutil.rmtree(trash, ignore_errors=True)
    else:
        trash.unlink()


# -- atomic helpers ---------------------------------------------------------------------
@contextlib.contextmanager
def _scratch(root: Path) -> Any:
    temp = root / f".tmp-{uuid.uuid4().hex[:12]}"
    temp.mkdir()
    try:
        yield temp
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _remove_other(root: Path, name: str, *, keep: str) -> None:
    """With overwrite: drop an entry of that name stored in another form."""
    for other in (root / name, root / f"{name}.zip", root / f"{name}.brushlab"):
        if other.exists() and not other.name.endswith(keep):
            if other.is_dir():
                shutil.rmtree(other)
            else:
                other.unlink()


def _place_file(source: Path, target: Path, *, overwrite: bool) -> None:
    if target.exists() and not overwrite:
        raise RegistryError(f"{target} exists already")
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        shutil.copyfile(source, temp)
        os.replace(temp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _place_tree(source: Path, parent: Path, name: str, *, overwrite: bool) -> None:
    temp = parent / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        shutil.copytree(source, temp)
        if overwrite:
            _remove_other(parent, name, keep="\0")
        os.rename(temp, parent / name)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
