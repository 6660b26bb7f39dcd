"""Changing the registry atomically: save, import, export, rename, clone, delete."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brushlab._core.atomic import atomic_path
from brushlab.bioimageio import is_package
from brushlab.errors import ModelFileError, RegistryError
from brushlab.registry._listing import (
    _NAME,
    CLASSIFIER_KINDS,
    _entries,
    _entry,
    _model_metadata,
    _package_yaml,
    _root,
)

if TYPE_CHECKING:
    from brushlab.classifier import PixelClassifier

__all__ = ["clone", "delete", "export", "import_", "load", "rename", "save"]


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
    from brushlab.classifier.modelfile import read_model_file, write_model_file

    arrays, meta = read_model_file(source)  # validates the whole file
    if meta.get("kind") not in CLASSIFIER_KINDS:
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
    with tempfile.TemporaryDirectory(dir=root, prefix=".tmp-") as scratch:
        classifier.save(Path(scratch) / "model.brushlab")
        _write_classifier_file(
            Path(scratch) / "model.brushlab",
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
        :mod:`brushlab.bioimageio` from ``describe(name)["path"]``).
    """
    from brushlab.network import load_model_file

    path = _entry(name, _root(folder))
    if path.suffix != ".brushlab":
        raise RegistryError(
            f"model {name!r} is a BioImage Model Zoo package, not a pixel classifier: run it "
            f"with brushlab.bioimageio (its path is {path})"
        )
    _model_metadata(path)  # an unreadable file is a RegistryError, as in list()
    return load_model_file(path)  # type: ignore[return-value]  # or a NetworkClassifier


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
        if not is_package(source):
            raise RegistryError(f"{source} is a folder without rdf.yaml/bioimageio.yaml")
        _package_yaml(source)  # a yaml that parses safely
        _place_tree(source, root, name, overwrite=overwrite)
    elif source.is_file() and is_package(source):
        _package_yaml(source)
        if overwrite:
            _remove_other(root, name, keep=".zip")
        _place_file(source, root / f"{name}.zip", overwrite=overwrite)
    else:
        try:  # validated, then written atomically: a bad file changes nothing
            _write_classifier_file(
                source, root / f"{name}.brushlab", description=description, created=None
            )
        except ModelFileError as exc:
            raise RegistryError(
                f"cannot import {source}: not a brushlab model file nor a bioimageio package "
                f"({exc})"
            ) from exc
        _remove_other(root, name, keep=".brushlab")
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


# -- placing entries (every write through the one atomic writer) -----------------------
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
    with atomic_path(target) as temp:
        shutil.copyfile(source, temp)


def _place_tree(source: Path, parent: Path, name: str, *, overwrite: bool) -> None:
    with atomic_path(parent / name) as temp:
        shutil.copytree(source, temp)
        if overwrite:
            _remove_other(parent, name, keep="\0")
