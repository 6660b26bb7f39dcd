"""What every format reader returns: a file's pixels, opened but not read, and their metadata."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from brushlab.errors import ImageError
from brushlab.io._dims import infer_dims, parse_dims

__all__ = ["StoredArray", "FileImage"]


@dataclass(frozen=True)
class StoredArray:
    """The pixels of one file in stored axis order: shape and dtype now, any region on demand.

    Small and picklable (a path, not an open handle): each process that reads opens the
    file itself. Subclasses, one per format, implement :meth:`_region`; they may
    override :meth:`read` when reading everything at once is cheaper than by region.
    """

    path: str
    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    chunks: tuple[int, ...] | None = None  # the format's own chunk shape, where it has one

    kind: ClassVar[str] = ""  # names the format in run identities ("zarr", "tiff", ...)
    by_region: ClassVar[bool] = True  # False: every read decodes the whole file

    @property
    def ndim(self) -> int:
        """Number of stored axes."""
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes the whole array takes in memory."""
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize

    def __getitem__(self, index: Any) -> np.ndarray:
        """Read the region ``index`` (ints and slices, one per stored axis, or ``...``)."""
        return np.asarray(self._region(index))

    def read(self) -> np.ndarray:
        """Read the whole array."""
        return self[tuple(slice(None) for _ in self.shape)]

    def _region(self, index: Any) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class FileImage:
    """An image file opened by its format reader: pixels not read yet, metadata parsed.

    ``drop`` lists stored singleton axes the image does not keep (read at index 0);
    ``virtual`` names size-1 dims the image has but the file does not store (added last).
    ``dims`` names the kept axes then the virtual ones, as the metadata says; when the
    metadata names axes that are not brushlab's, ``dims_error`` says so and is raised
    unless the caller names the dims.
    """

    array: StoredArray
    format: str
    dims: tuple[str, ...] | None = None
    dims_error: str | None = None
    drop: tuple[int, ...] = ()
    virtual: tuple[str, ...] = ()
    spacing: dict[str, float] = field(default_factory=dict)
    unit: str = "pixel"
    channel_names: tuple[str, ...] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the image as named by :meth:`names`: kept axes, then virtual ones."""
        kept = tuple(n for i, n in enumerate(self.array.shape) if i not in self.drop)
        return kept + (1,) * len(self.virtual)

    @property
    def index(self) -> tuple[Any, ...]:
        """Index of the whole image into the stored array (dropped axes at 0)."""
        return tuple(0 if i in self.drop else slice(None) for i in range(self.array.ndim))

    def names(self, dims: Any = None) -> tuple[str, ...]:
        """Names of the axes of :attr:`shape`: ``dims`` if given, else the metadata's or inferred.

        Raises
        ------
        ImageError
            If the metadata names foreign axes and ``dims`` is None, or ``dims`` is invalid.
        """
        if dims is not None:
            return parse_dims(dims, self.shape)
        if self.dims_error is not None:
            raise ImageError(self.dims_error)
        return self.dims if self.dims is not None else infer_dims(self.shape)

    def arrange(self, data: Any) -> Any:
        """Add the virtual axes to ``data`` read with :attr:`index` (numpy or dask)."""
        return data[(Ellipsis, *(None,) * len(self.virtual))] if self.virtual else data

