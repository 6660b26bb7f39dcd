"""A models folder, as ImageC has: every package in it, listed without running anything."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from brushlab.errors import ModelPackageError

__all__ = ["ModelSummary", "discover", "discover_frame"]


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


def _candidates(folder: Path) -> list[Path]:
    from brushlab.bioimageio._package import YAML_NAMES

    found: list[Path] = []
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and (
            any((entry / n).is_file() for n in YAML_NAMES) or any(entry.glob("*.bioimageio.yaml"))
        ):
            found.append(entry)
        elif entry.is_file() and entry.suffix.lower() == ".zip":
            found.append(entry)
    return found


def _summary(path: Path) -> ModelSummary:
    from brushlab.bioimageio._model import BioimageioModel
    from brushlab.bioimageio._package import read_package

    try:
        pkg = read_package(path)
        model = BioimageioModel(pkg)  # checks axes and processing; no session yet
    except ModelPackageError as exc:
        return ModelSummary(path.name, str(path), "", "", (), (), (), str(exc))
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
    return [_summary(p) for p in _candidates(root)]


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
