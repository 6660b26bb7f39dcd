"""A models folder, as ImageC has: every package in it, listed without running anything."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from brushlab.errors import ModelPackageError

__all__ = ["ModelSummary", "discover", "discover_frame", "is_package", "package_yaml", "summarize"]


@dataclass(frozen=True)
class ModelSummary:
    """A light description of one package in a models folder.

    ``error`` is empty for a package brushlab can run, else it says why not (the
    package is still listed, so a user sees what is in the folder).
    """

    name: str
    path: str
    description: str
    format_version: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    weights: tuple[str, ...]
    error: str = ""

    @property
    def ok(self) -> bool:
        """Whether brushlab can load and run this package."""
        return not self.error


def is_package(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a Model Zoo package: a folder or ``.zip`` holding its yaml at the top.

    The one test of what counts as a package, for :func:`discover` and the model registry.

    Examples
    --------
    >>> import tempfile
    >>> is_package(tempfile.mkdtemp())
    False
    """
    from brushlab.bioimageio._package import find_yaml

    path = Path(path)
    if not (path.is_dir() or (path.is_file() and path.suffix.lower() == ".zip")):
        return False
    try:
        _, _, archive = find_yaml(path)
    except ModelPackageError:
        return False
    if archive is not None:
        archive.close()
    return True


def package_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the package's yaml, parsed safely (size and alias caps) but not validated.

    Raises
    ------
    ModelPackageError
        When there is no readable yaml.
    """
    from brushlab.bioimageio._package import read_yaml

    return read_yaml(Path(path))


def _candidates(folder: Path) -> list[Path]:
    return [entry for entry in sorted(folder.iterdir()) if is_package(entry)]


def summarize(path: str | os.PathLike[str]) -> ModelSummary:
    """Describe one package without running it; ``error`` says why brushlab cannot run it.

    Name and description come from the validated description, or from the bare yaml when
    validation fails (so a listing still shows what the package is).
    """
    from brushlab.bioimageio._model import BioimageioModel
    from brushlab.bioimageio._package import read_package

    path = Path(path)
    try:
        pkg = read_package(path)
        model = BioimageioModel(pkg)  # checks axes and processing; no session yet
    except (ModelPackageError, ImportError) as exc:
        error = str(exc)
        if isinstance(exc, ImportError):
            error = f"{exc}: install the Model Zoo extra, pip install 'brushlab[dl]'"
        try:
            raw = package_yaml(path)
        except ModelPackageError:
            raw = {}
        name = str(raw.get("name", path.name))
        return ModelSummary(name, str(path), str(raw.get("description", "")), "", (), (), (),
                            error)
    return ModelSummary(
        name=model.name,
        path=str(path),
        description=model.summary,
        format_version=pkg.source_format,
        inputs=tuple(t.describe() for t in model.inputs),
        outputs=tuple(t.describe() for t in model.outputs),
        weights=tuple(sorted(k for k, v in pkg.raw.get("weights", {}).items() if v)),
    )


def discover(folder: str | os.PathLike[str]) -> list[ModelSummary]:
    """List the model packages (sub-folders and ``.zip`` files) in ``folder``.

    Parameters
    ----------
    folder : str or path-like
        The models folder. Packages are its sub-folders holding ``rdf.yaml`` or
        ``bioimageio.yaml``, and its ``.zip`` files.

    Returns
    -------
    list of ModelSummary
        Name, description, inputs, outputs and weight formats per package; packages
        brushlab cannot run are listed with ``error`` saying why.

    Examples
    --------
    >>> import brushlab
    >>> [m.name for m in brushlab.bioimageio.discover("models")]  # doctest: +SKIP
    ['coins pixel classifier']
    """
    root = Path(folder)
    if not root.is_dir():
        raise ModelPackageError(
            f"{root} is not a folder: give the folder that holds model packages"
        )
    return [summarize(p) for p in _candidates(root)]


def discover_frame(folder: str | os.PathLike[str]) -> Any:
    """:func:`discover` as a pandas DataFrame, one row per package."""
    import pandas as pd

    rows = []
    for s in discover(folder):
        row = asdict(s)
        for key in ("inputs", "outputs", "weights"):
            row[key] = "; ".join(row[key])
        rows.append(row)
    columns = [f.name for f in ModelSummary.__dataclass_fields__.values()]
    return pd.DataFrame(rows, columns=columns)
