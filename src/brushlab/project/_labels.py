"""Labels in and out as functions of a session: the same verbs as the Session's methods.

Each function calls the :class:`~brushlab.session.Session` method of the same name (the one
home of the label verbs, in :mod:`brushlab.session`), for scripts that prefer functions.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from brushlab.session import Edit, Session

__all__ = [
    "read_labels",
    "import_labels",
    "import_masks",
    "export_labels",
    "export_masks",
    "segmentation_to_labels",
]


def read_labels(session: Session, image: int | str, source: Any, *, mask: bool = False,
                plane: Any = None, time: int | None = None) -> np.ndarray:
    """:meth:`Session.read_labels <brushlab.session.Session.read_labels>` as a function."""
    return session.read_labels(image, source, mask=mask, plane=plane, time=time)


def import_labels(session: Session, image: int | str, source: Any,
                  class_id: int | str | None = None, *, plane: Any = None,
                  time: int | None = None, overwrite: bool = True) -> Edit | None:
    """:meth:`Session.import_labels <brushlab.session.Session.import_labels>` as a function.

    Examples
    --------
    >>> import numpy as np, brushlab
    >>> from brushlab.project import import_labels
    >>> movie = brushlab.as_image(np.zeros((2, 3, 8, 8)), dims="tzyx")
    >>> s = brushlab.Session(movie, precompute=False)
    >>> volume = np.zeros((3, 8, 8), np.uint8); volume[1, 2:4, 2:4] = 2
    >>> import_labels(s, 0, volume, time=1).n_pixels
    4
    """
    return session.import_labels(image, source, class_id, plane=plane, time=time,
                                 overwrite=overwrite)


def import_masks(session: Session, image: int | str, masks: Mapping[int | str, Any], *,
                 plane: Any = None, time: int | None = None, overwrite: bool = True,
                 add_classes: bool = False) -> list[Edit]:
    """:meth:`Session.import_masks <brushlab.session.Session.import_masks>` as a function."""
    return session.import_masks(image, masks, plane=plane, time=time, overwrite=overwrite,
                                add_classes=add_classes)


def export_labels(session: Session, image: int | str, path: str | os.PathLike[str], *,
                  plane: Any = None, time: int | None = None,
                  format: str | None = None) -> Path:
    """:meth:`Session.export_labels <brushlab.session.Session.export_labels>` as a function."""
    return session.export_labels(image, path, plane=plane, time=time, format=format)


def export_masks(session: Session, image: int | str, folder: str | os.PathLike[str], *,
                 format: str | None = None,
                 classes: Iterable[int | str] | None = None) -> dict[str, Path]:
    """:meth:`Session.export_masks <brushlab.session.Session.export_masks>` as a function."""
    return session.export_masks(image, folder, format=format, classes=classes)


def segmentation_to_labels(session: Session, image: int | str, *,
                           planes: Iterable[Any] | None = None,
                           overwrite: bool = False) -> list[Edit]:
    """Every plane's segmentation into labels: :meth:`Session.segmentation_to_labels_per_plane`.

    Returns
    -------
    list of Edit
        One step per plane that changed.
    """
    return session.segmentation_to_labels_per_plane(image, planes=planes, overwrite=overwrite)
