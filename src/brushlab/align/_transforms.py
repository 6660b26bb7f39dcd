"""The alignment of a stack as data: one matrix (and optional coarse field) per section.

A transform file is a zip of plain ``.npy`` arrays (read with ``allow_pickle=False``)
and one ``alignment.json`` that names the format and its version. Loading validates
every array before use and refuses a file written by a newer brushlab.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from brushlab.errors import AlignmentError

__all__ = ["SectionTransforms", "load_transforms", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "brushlab-alignment"
FORMAT_VERSION = 1
STATES = ("reference", "ok", "interpolated")


@dataclass(frozen=True)
class SectionTransforms:
    """Per-section pull transforms of an aligned stack.

    Output pixel ``p = (y, x)`` of section ``z`` is read from the input section at
    ``matrices[z] @ (p + d_z(p), 1)``, where ``d_z`` is ``fields[z]`` (``(2, ny, nx)``
    pixel displacements on nodes ``step`` pixels apart) sampled bilinearly, or zero.

    Attributes
    ----------
    matrices : ndarray
        ``(Z, 3, 3)`` float64 pull matrices on ``(y, x, 1)``.
    shape : tuple of int
        ``(H, W)`` of the sections (input and output).
    reference : int
        The section that stays where it is (its matrix is the identity).
    model : str
        ``translation``, ``rigid``, ``affine`` or ``elastic``.
    status : tuple of str
        Per section: ``reference``, ``ok``, or ``interpolated`` (damaged or blank, its
        transform taken from its neighbours).
    fields : ndarray or None
        ``(Z, 2, ny, nx)`` float32 displacements (elastic only).
    step : int
        Node spacing of ``fields`` in pixels (0 without fields).
    scores : ndarray
        ``(Z,)`` normalised cross-correlation of each section with its aligned
        predecessor (NaN for the reference).

    Examples
    --------
    >>> import numpy as np
    >>> t = SectionTransforms(np.stack([np.eye(3)] * 2), (8, 8), 0, "translation",
    ...                       ("reference", "ok"))
    >>> t.n_sections, t.damaged
    (2, [])
    """

    matrices: np.ndarray
    shape: tuple[int, int]
    reference: int
    model: str
    status: tuple[str, ...]
    fields: np.ndarray | None = None
    step: int = 0
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def n_sections(self) -> int:
        """Sections in the stack."""
        return len(self.matrices)

    @property
    def damaged(self) -> list[int]:
        """Sections whose transform was interpolated (damaged, blank or unmatched)."""
        return [z for z, s in enumerate(self.status) if s == "interpolated"]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the transforms to ``path`` (a zip, ``.npz`` suffix suggested), atomically.

        Examples
        --------
        >>> import tempfile, numpy as np
        >>> t = SectionTransforms(np.stack([np.eye(3)] * 2), (8, 8), 0, "affine",
        ...                       ("reference", "ok"))
        >>> out = t.save(tempfile.mkdtemp() + "/stack.align.npz")
        >>> load_transforms(out).status
        ('reference', 'ok')
        """
        from brushlab._core.atomic import atomic_path

        target = Path(os.fspath(path))
        meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                "shape": list(self.shape), "reference": self.reference, "model": self.model,
                "status": list(self.status), "step": self.step, "info": self.info}
        arrays = {"matrices": self.matrices, "scores": self.scores}
        if self.fields is not None:
            arrays["fields"] = self.fields
        with atomic_path(target) as temp, zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("alignment.json", json.dumps(meta, indent=2))
            for name, array in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.ascontiguousarray(array),
                                          allow_pickle=False)
                zf.writestr(f"{name}.npy", buffer.getvalue())
        return target


def _validate(t: SectionTransforms) -> None:
    m = t.matrices
    n = len(m)
    if not (isinstance(m, np.ndarray) and m.ndim == 3 and m.shape[1:] == (3, 3) and n >= 1):
        raise AlignmentError(f"matrices must be an array (Z, 3, 3), got shape "
                             f"{getattr(m, 'shape', None)}")
    if m.dtype.kind != "f" or not np.isfinite(m).all() or not np.allclose(m[:, 2], [0, 0, 1]):
        raise AlignmentError("matrices must be finite float affine matrices with last row 0 0 1")
    if len(t.shape) != 2 or min(t.shape) < 1:
        raise AlignmentError(f"shape must be (H, W), got {t.shape}")
    if not 0 <= t.reference < n:
        raise AlignmentError(f"reference {t.reference} is not a section of 0..{n - 1}")
    if len(t.status) != n or set(t.status) - set(STATES):
        raise AlignmentError(f"status must give one of {STATES} per section")
    if t.fields is not None:
        f = t.fields
        ny, nx = (-(-s // max(t.step, 1)) + 1 for s in t.shape)
        if (not isinstance(f, np.ndarray) or f.shape != (n, 2, ny, nx) or f.dtype.kind != "f"
                or not np.isfinite(f).all() or t.step < 1):
            raise AlignmentError(f"fields must be finite floats of shape {(n, 2, ny, nx)} "
                                 f"for step {t.step}, got {getattr(f, 'shape', None)}")
    if t.scores.size not in (0, n):
        raise AlignmentError(f"scores must have one value per section ({n})")


def load_transforms(path: str | os.PathLike[str]) -> SectionTransforms:
    """Read a transform file written by :meth:`SectionTransforms.save`.

    Raises
    ------
    AlignmentError
        If the file is missing, not a brushlab alignment, from a newer brushlab, or
        holds arrays of the wrong shape or non-finite values.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> t = SectionTransforms(np.stack([np.eye(3)] * 3), (8, 8), 1, "rigid",
    ...                       ("ok", "reference", "ok"))
    >>> load_transforms(t.save(tempfile.mkdtemp() + "/t.npz")).reference
    1
    """
    source = Path(os.fspath(path))
    try:
        with zipfile.ZipFile(source) as zf:
            meta = json.loads(zf.read("alignment.json"))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
                raise AlignmentError(f"{source} is not a brushlab alignment file (its "
                                     f"alignment.json does not say format {FORMAT_NAME!r})")
            version = meta.get("format_version")
            if not isinstance(version, int) or version > FORMAT_VERSION:
                raise AlignmentError(
                    f"{source} was written by a newer brushlab (alignment format version "
                    f"{version}; this brushlab reads up to {FORMAT_VERSION}): upgrade brushlab")
            arrays = {name[:-4]: np.lib.format.read_array(io.BytesIO(zf.read(name)),
                                                          allow_pickle=False)
                      for name in zf.namelist() if name in ("matrices.npy", "scores.npy",
                                                            "fields.npy")}
    except FileNotFoundError:
        raise AlignmentError(f"no transform file at {source}; check the path") from None
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        if isinstance(exc, AlignmentError):
            raise
        raise AlignmentError(f"{source} is not a readable brushlab alignment file ({exc}); "
                             "write it again with SectionTransforms.save") from None
    if "matrices" not in arrays:
        raise AlignmentError(f"{source} holds no matrices.npy; it is incomplete")
    try:
        return SectionTransforms(
            matrices=arrays["matrices"], shape=tuple(int(v) for v in meta["shape"]),  # type: ignore[arg-type]
            reference=int(meta["reference"]), model=str(meta["model"]),
            status=tuple(str(s) for s in meta["status"]), fields=arrays.get("fields"),
            step=int(meta.get("step", 0)), scores=arrays.get("scores", np.zeros(0)),
            info=dict(meta.get("info", {})))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, AlignmentError):
            raise
        raise AlignmentError(f"{source}: alignment.json lacks or garbles {exc}") from None
