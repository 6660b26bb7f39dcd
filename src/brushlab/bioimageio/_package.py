"""Open a BioImage Model Zoo package (folder, zip or yaml), validate it and read its files.

Validation is ``bioimageio.spec``'s own, run with ``perform_io_checks=False`` so it
never reaches the network (with IO checks on it would download any file given as
a URL). The checks IO would have made on local files, brushlab makes itself with
messages that say what to do: every referenced file present in the package,
weights given by URL rejected (packages load offline) and the weights' sha256
compared when the description gives one. Files are read with brushlab's validated
readers: zips through :class:`~brushlab._core.container.SafeZip` (no zip bombs),
regular files only, every named file resolved inside the package (no zip slip),
and the yaml through :func:`~brushlab._core.safe_yaml.load_yaml` (size cap, no alias
bombs) before ``bioimageio.spec`` sees it.
"""

from __future__ import annotations

import hashlib
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brushlab._core.container import Policy, SafeZip, ZipLimits
from brushlab._core.safe_paths import (
    member_name,
    open_regular_file,
    read_regular_file,
    resolve_inside,
)
from brushlab._core.safe_yaml import MAX_YAML_BYTES, load_yaml
from brushlab.errors import ModelPackageError

__all__ = [
    "PackageFiles",
    "LoadedPackage",
    "read_package",
    "read_yaml",
    "find_yaml",
    "open_package_zip",
    "SUPPORTED_WEIGHTS",
    "YAML_NAMES",
    "POLICY",
]

YAML_NAMES = ("bioimageio.yaml", "rdf.yaml")
SUPPORTED_WEIGHTS = ("onnx",)
SUPPORTED_FORMATS = ("0.4", "0.5")
_FIX = "download or export the whole package again"
#: How package zips are read: weights up to 8 GiB, 16 GiB in all, no zip bombs.
POLICY = Policy(
    ModelPackageError,
    noun="model package (.zip)",
    short="model package",
    fix=_FIX,
    limits=ZipLimits(max_members=10_000, max_member_bytes=8 * 2**30, max_total_bytes=16 * 2**30),
)


def open_package_zip(path: str | os.PathLike[str], error: Any = ModelPackageError) -> SafeZip:
    """Open a package ``.zip`` with the validated reader (``error``: the class to raise).

    Examples
    --------
    >>> import tempfile, zipfile
    >>> path = Path(tempfile.mkdtemp()) / "pkg.zip"
    >>> with zipfile.ZipFile(path, "w") as archive:
    ...     archive.writestr("rdf.yaml", "type: model")
    >>> with open_package_zip(path) as archive:
    ...     archive.names()
    ['rdf.yaml']
    """
    policy = Policy(error, POLICY.noun, POLICY.short, _FIX, POLICY.limits)
    return SafeZip.open(path, policy)


@dataclass
class PackageFiles:
    """Files of a package, from a folder or a zip archive, addressed by relative path.

    Every path the description names is resolved inside the package (``..``, absolute
    paths and symbolic links that lead out are refused); only regular files are read.
    """

    location: Path
    yaml_name: str
    archive: SafeZip | None = None

    def _member(self, rel: str) -> str:
        try:
            return member_name(str(rel))
        except ValueError as exc:
            raise self._outside(rel, exc) from None

    def _outside(self, rel: str, exc: Exception) -> ModelPackageError:
        return ModelPackageError(
            f"the model package {self.location} names the file {str(rel)!r}, which {exc}: "
            "brushlab reads only files inside the package; the package is broken or "
            "malicious, do not use it"
        )

    def _path(self, rel: str) -> Path:
        try:
            return resolve_inside(self.location, str(rel))
        except ValueError as exc:
            raise self._outside(rel, exc) from None

    def exists(self, rel: str) -> bool:
        """Whether ``rel`` is in the package (refused when it points outside)."""
        if self.archive is not None:
            return self._member(rel) in self.archive
        return self._path(rel).is_file()

    def _missing(self, rel: str) -> ModelPackageError:
        return ModelPackageError(
            f"the model package {self.location} lists the file {rel!r} but does not contain "
            "it: the package is incomplete; download or export the whole package again"
        )

    def read_hashed(self, rel: str, *, max_bytes: int | None = None) -> tuple[bytes, str]:
        """Contents of ``rel`` and their sha256, read in chunks within the size limits."""
        limit = POLICY.limits.max_member_bytes if max_bytes is None else max_bytes
        if not self.exists(rel):
            raise self._missing(rel)
        if self.archive is not None:
            data = self.archive.read(self._member(rel), max_bytes=limit)
            return data, hashlib.sha256(data).hexdigest()
        return read_regular_file(
            self._path(rel), max_bytes=limit, error=ModelPackageError, what="package file"
        )

    def read_bytes(self, rel: str, *, max_bytes: int | None = None) -> bytes:
        """Contents of ``rel``; ModelPackageError when it is missing, outside or too large."""
        return self.read_hashed(rel, max_bytes=max_bytes)[0]

    def local_path(self, rel: str, scratch: Path) -> Path:
        """Return a file system path of ``rel`` (extracted into ``scratch`` for a zip)."""
        if self.archive is None:
            path = self._path(rel)
            open_regular_file(path, error=ModelPackageError, what="package file").close()
            return path
        name = self._member(rel)
        if name not in self.archive:
            raise self._missing(rel)
        target = resolve_inside(scratch, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as handle:
            self.archive.copy_to(name, handle)
        return target


@dataclass
class LoadedPackage:
    """A validated model description (format 0.5 objects) and its package files."""

    description: Any
    files: PackageFiles
    raw: dict[str, Any]
    source_format: str
    weights: bytes
    warnings: list[str] = field(default_factory=list)


def find_yaml(path: Path) -> tuple[Path, str, SafeZip | None]:
    """Where a package's yaml is: (folder or zip, yaml name, the open zip or None)."""
    if not os.path.lexists(path):
        raise ModelPackageError(
            f"no model package at {path}: give a folder or .zip holding rdf.yaml or "
            "bioimageio.yaml, or the yaml file itself"
        )
    if path.is_dir():
        for name in YAML_NAMES:
            if (path / name).is_file():
                return path, name, None
        found = sorted(p.name for p in path.glob("*.bioimageio.yaml"))
        if found:
            return path, found[0], None
        raise ModelPackageError(
            f"{path} holds no rdf.yaml or bioimageio.yaml: it is not a model package"
        )
    with open_regular_file(path, error=ModelPackageError, what="model package") as handle:
        is_zip = zipfile.is_zipfile(handle)
    if is_zip:
        archive = open_package_zip(path)
        names = archive.names()
        for name in (*YAML_NAMES, *sorted(n for n in names if n.endswith(".bioimageio.yaml"))):
            if name in names:
                return path, name, archive
        archive.close()
        raise ModelPackageError(
            f"the zip {path} holds no rdf.yaml or bioimageio.yaml at its top level: "
            "it is not a model package"
        )
    if path.suffix.lower() in (".yaml", ".yml"):
        return path.parent, path.name, None
    raise ModelPackageError(
        f"{path} is neither a folder, a zip archive nor a yaml file: give a model package"
    )


def _parse_yaml(text: bytes, where: str) -> dict[str, Any]:
    data = load_yaml(text, where=where, error=ModelPackageError)
    if not isinstance(data, dict):
        raise ModelPackageError(f"{where} does not hold a model description (a YAML mapping)")
    return data


def _check_kind(data: dict[str, Any], where: str) -> str:
    kind = data.get("type")
    if kind != "model":
        raise ModelPackageError(
            f"{where} describes a {kind!r} resource, not a model: brushlab runs model packages"
        )
    version = str(data.get("format_version", ""))
    major_minor = ".".join(version.split(".")[:2])
    if major_minor not in SUPPORTED_FORMATS:
        raise ModelPackageError(
            f"{where} has format_version {version or '(missing)'!r}; brushlab reads model "
            f"descriptions of format {' and '.join(SUPPORTED_FORMATS)}: update the package "
            "with bioimageio.spec's update_format, or ask its authors for a current version"
        )
    weights = data.get("weights")
    if not isinstance(weights, dict) or not weights:
        raise ModelPackageError(
            f"{where} lists no weights: a model package needs a 'weights:' entry (e.g. onnx)"
        )
    present = sorted(str(k) for k, v in weights.items() if v)
    if not set(present) & set(SUPPORTED_WEIGHTS):
        raise ModelPackageError(
            f"{where} has weights in {', '.join(present)} only; brushlab runs "
            f"{', '.join(SUPPORTED_WEIGHTS)} weights (onnxruntime). Convert the model to ONNX "
            "(torch.onnx.export, tf2onnx) and add it under 'weights: onnx:', or run it with "
            "bioimageio.core"
        )
    return major_minor


def _spec_errors(invalid: Any) -> str:
    lines: list[str] = []
    summary = getattr(invalid, "validation_summary", None)
    for detail in getattr(summary, "details", None) or []:
        for err in getattr(detail, "errors", None) or []:
            loc = ".".join(str(p) for p in err.loc)
            lines.append(f"{loc}: {' '.join(str(err.msg).split())}")
    return "; ".join(lines[:6]) + (f" (and {len(lines) - 6} more)" if len(lines) > 6 else "")


def read_package(path: str | os.PathLike[str]) -> LoadedPackage:
    """Open, parse and validate a model package.

    Parameters
    ----------
    path : str or path-like
        A package folder, a ``.zip`` or the ``rdf.yaml``/``bioimageio.yaml`` itself.

    Returns
    -------
    LoadedPackage
        The description converted to format 0.5 by ``bioimageio.spec``, and the files.

    Raises
    ------
    brushlab.errors.ModelPackageError
        Missing or malformed yaml, unknown format, no ONNX weights, invalid
        description, weights missing, given by URL, or with a wrong sha256.
    """
    location, yaml_name, archive = find_yaml(Path(path))
    files = PackageFiles(location, yaml_name, archive)
    where = f"{yaml_name} in {location}"
    raw = _parse_yaml(files.read_bytes(yaml_name, max_bytes=MAX_YAML_BYTES), where)
    fmt = _check_kind(raw, where)

    from bioimageio.spec import InvalidDescr, load_description

    source: Any = location if archive is not None else location / yaml_name
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            descr = load_description(source, perform_io_checks=False, format_version="latest")
        except Exception as exc:  # the spec raises plain errors on unreadable sources
            raise ModelPackageError(f"bioimageio.spec cannot read {where}: {exc}") from exc
        caught = [str(w.message) for w in record]
    if isinstance(descr, InvalidDescr) or getattr(descr, "type", None) != "model":
        raise ModelPackageError(
            f"{where} is not a valid model description according to bioimageio.spec: "
            f"{_spec_errors(descr) or 'unknown reason'}; fix these fields or export it again"
        )
    onnx_entry = descr.weights.onnx  # type: ignore[union-attr]
    if onnx_entry is None:  # checked on the raw yaml already; keeps mypy and odd converters honest
        raise ModelPackageError(f"{where} has no ONNX weights after conversion to format 0.5")
    weights = check_local_file(files, onnx_entry.source, onnx_entry.sha256, what="ONNX weights")
    return LoadedPackage(descr, files, raw, fmt, weights, caught)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read and parse a package's yaml (size and alias caps), without validating it."""
    location, yaml_name, archive = find_yaml(path)
    try:
        files = PackageFiles(location, yaml_name, archive)
        where = f"{yaml_name} in {location}"
        return _parse_yaml(files.read_bytes(yaml_name, max_bytes=MAX_YAML_BYTES), where)
    finally:
        if archive is not None:
            archive.close()


def relative_source(source: Any, what: str) -> str:
    """Return the package-relative path of a file source; ModelPackageError for URLs."""
    text = str(source)
    if "://" in text:
        raise ModelPackageError(
            f"the {what} are referenced by URL ({text}); brushlab loads packages offline: "
            "download the complete package (.zip) and load that"
        )
    return text


def check_local_file(files: PackageFiles, source: Any, sha256: Any, *, what: str) -> bytes:
    """Read a referenced file (inside the package) and compare its sha256 with the description's."""
    rel = relative_source(source, what)
    data, got = files.read_hashed(rel)
    if sha256 is not None:
        if got != str(sha256):
            raise ModelPackageError(
                f"the {what} {rel!r} in {files.location} have sha256 {got}, the description "
                f"says {sha256}: the file is corrupt or was replaced; download the package again "
                "(or, if you changed the file on purpose, update the sha256 in the yaml)"
            )
    return data
