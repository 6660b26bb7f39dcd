"""LabelEditor: images, classes and labels with brush strokes and undo; no model.

The painting half of a :class:`~brushlab.session.Session` (which adds features,
training and prediction). Labels are numpy arrays kept here, in the kernel:
the source of truth a view draws from.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from brushlab._core.backend import to_numpy
from brushlab.errors import ImageError, LabelError
from brushlab.session._classes import (
    MAX_CLASSES,
    PALETTE,
    LabelClass,
    check_name,
    make_classes,
    parse_colour,
)
from brushlab.session._history import Edit, History
from brushlab.session._images import ImageEntry, make_entry
from brushlab.session._strokes import Stroke, StrokeResult

if TYPE_CHECKING:
    pass

__all__ = ["LabelEditor", "ImageRef", "ClassRef"]

ImageRef = int | str
ClassRef = int | str


class LabelEditor:
    """Images, their labels and the classes painted into them, with undo/redo.

    Parameters
    ----------
    images : image or sequence of images, optional
        Anything :func:`brushlab.as_image` accepts (2D, 3D, time series,
        multichannel; sizes may differ). More with :meth:`add_image`.
    classes : sequence, optional
        Class names, ``(name, colour)`` pairs or :class:`LabelClass` objects;
        default ``["class 1", "class 2"]``. Class ids are positions + 1.

    Notes
    -----
    Coordinates are image pixels as ``(y, x)`` (row, column) on one 2D plane;
    ``plane`` selects it in 3D or time-lapse images (see :meth:`begin_stroke`).
    All methods are thread-safe: a live updater may read labels while a user paints.
    Each label edit (a stroke, an undo, an import) is atomic under one lock. A stroke
    belongs to the thread that began it: while it is open, another thread's
    :meth:`begin_stroke`, :meth:`extend_stroke` or :meth:`end_stroke` raises
    LabelError (two interleaved strokes could not be undone one by one), while
    :meth:`paint` from any thread waits for the other's whole stroke.
    """

    def __init__(self, images: Any = None, classes: Iterable[Any] | None = None) -> None:
        self._classes = make_classes(classes)
        self._entries: list[ImageEntry] = []
        self._history = History()
        self._lock = threading.RLock()
        self._version = 0  # bumped on every change of labels or classes
        self._keys = itertools.count()
        self._stroke: Stroke | None = None
        self._stroke_owner: threading.Thread | None = None
        if images is not None:
            for image in images if isinstance(images, (list, tuple)) else [images]:
                self.add_image(image)

    # -- images ------------------------------------------------------------------
    def add_image(self, image: Any, name: str | None = None) -> int:
        """Add an image with empty labels.

        Parameters
        ----------
        image : array-like, xarray.DataArray or path
            Anything :func:`brushlab.as_image` accepts.
        name : str, optional
            Unique name (default ``"image <index>"``).

        Returns
        -------
        int
            The image's index.

        Raises
        ------
        ImageError
            If it is not an image, holds NaN or infinite pixels, is smaller than
            2x2, or its name is taken.
        """
        with self._lock:
            index = len(self._entries)
            label = str(name) if name is not None else f"image {index}"
            if label in (e.name for e in self._entries):
                raise ImageError(f"an image named {label!r} exists already: pass another name=")
            entry = make_entry(image, label, next(self._keys), self._label_dtype())
            self._entries.append(entry)
            self._image_added(entry)
        return index

    @property
    def images(self) -> tuple[xr.DataArray, ...]:
        """The images, as brushlab DataArrays."""
        return tuple(e.image for e in self._entries)

    @property
    def image_names(self) -> tuple[str, ...]:
        """Image names, by index."""
        return tuple(e.name for e in self._entries)

    def image_index(self, image: ImageRef) -> int:
        """Index of an image given by index or name."""
        if isinstance(image, str):
            names = self.image_names
            if image not in names:
                raise ImageError(f"no image named {image!r}; the session has {list(names)}")
            return names.index(image)
        if isinstance(image, (int, np.integer)) and 0 <= int(image) < len(self._entries):
            return int(image)
        raise ImageError(
            f"no image {image!r}: the session has {len(self._entries)} image(s)"
            + (f" (0..{len(self._entries) - 1})" if self._entries else "; add one first")
        )

    def _entry(self, image: ImageRef) -> ImageEntry:
        return self._entries[self.image_index(image)]

    def plane_sizes(self, image: ImageRef) -> dict[str, int]:
        """Sizes of the dims that select a plane (``t``, ``z``); empty for 2D images."""
        entry = self._entry(image)
        return {d: int(entry.image.sizes[d]) for d in entry.plane_dims}

    def plane_image(self, image: ImageRef, plane: Any = None) -> np.ndarray:
        """Pixels of one plane as numpy, ``(y, x)`` or ``(y, x, c)``, for display."""
        entry = self._entry(image)
        p = entry.plane(plane)
        sel = dict(zip(entry.plane_dims, p))
        return to_numpy(entry.image.isel(sel).data)

    def labels(self, image: ImageRef) -> np.ndarray:
        """Read-only view of an image's labels (0 = unlabelled, 1..K = class ids)."""
        view = self._entry(image).labels.view()
        view.flags.writeable = False
        return view

    # -- classes -----------------------------------------------------------------
    @property
    def classes(self) -> tuple[LabelClass, ...]:
        """The classes; class id = position + 1."""
        return tuple(self._classes)

    @property
    def class_names(self) -> list[str]:
        """Class names, by id - 1."""
        return [c.name for c in self._classes]

    def class_id(self, cls: ClassRef) -> int:
        """Id (1..K) of a class given by id or name."""
        if isinstance(cls, str):
            if cls not in self.class_names:
                raise LabelError(f"no class named {cls!r}; classes are {self.class_names}")
            return self.class_names.index(cls) + 1
        if isinstance(cls, (int, np.integer)) and 1 <= int(cls) <= len(self._classes):
            return int(cls)
        raise LabelError(
            f"no class {cls!r}: class ids are 1..{len(self._classes)} (0 means unlabelled)"
        )

    def add_class(self, name: str | None = None, colour: Any = None) -> int:
        """Add a class and return its id.

        Raises
        ------
        LabelError
            If the name exists, the colour is invalid, or 65535 classes exist.
        """
        with self._lock:
            self._no_stroke("add a class")
            k = len(self._classes)
            if k >= MAX_CLASSES:
                raise LabelError(f"at most {MAX_CLASSES} classes fit in uint16 labels")
            text = check_name(
                name if name is not None else self._free_name(), set(self.class_names)
            )
            hex_colour = parse_colour(colour) if colour is not None else PALETTE[k % len(PALETTE)]
            self._classes.append(LabelClass(text, hex_colour))
            if k + 1 > 255 and self._entries and self._entries[0].labels.dtype == np.uint8:
                for e in self._entries:
                    e.labels = e.labels.astype(np.uint16)
                self._history.widen(np.dtype(np.uint16))
            self._classes_changed(removed=False)
            self._changed()
            return k + 1

    def rename_class(self, cls: ClassRef, name: str) -> None:
        """Rename a class (its id, colour and labels stay)."""
        with self._lock:
            cid = self.class_id(cls)
            others = [n for i, n in enumerate(self.class_names, start=1) if i != cid]
            colour = self._classes[cid - 1].colour
            self._classes[cid - 1] = LabelClass(check_name(name, others), colour)
            self._classes_changed(removed=False)

    def recolour_class(self, cls: ClassRef, colour: Any) -> None:
        """Change a class's display colour (``"#rrggbb"``, ``"#rgb"`` or three 0-255 ints)."""
        with self._lock:
            cid = self.class_id(cls)
            self._classes[cid - 1] = LabelClass(self._classes[cid - 1].name, parse_colour(colour))

    def remove_class(self, cls: ClassRef) -> int:
        """Delete a class and its labels; later class ids shift down by one.

        Undo history is rewritten the same way, so older steps still undo
        consistently; the deletion itself cannot be undone.

        Returns
        -------
        int
            Labelled pixels erased.

        Raises
        ------
        LabelError
            If it is the last class (a session needs one), or does not exist.
        """
        with self._lock:
            self._no_stroke("delete a class")
            cid = self.class_id(cls)
            if len(self._classes) == 1:
                raise LabelError(
                    f"cannot delete {self._classes[0].name!r}, the last class: a session needs at "
                    "least one; add another class first"
                )
            erased = 0
            for e in self._entries:
                hit = e.labels == cid
                erased += int(hit.sum())
                e.labels[e.labels > cid] -= 1
                e.labels[hit] = 0
            self._history.remove_class(cid)
            del self._classes[cid - 1]
            self._classes_changed(removed=True)
            self._changed()
            return erased

    def label_counts(self, image: ImageRef | None = None) -> dict[str, int]:
        """Labelled pixels per class name, in one image or (None) all images."""
        entries = self._entries if image is None else [self._entry(image)]
        counts = np.zeros(len(self._classes) + 1, dtype=np.int64)
        with self._lock:
            for e in entries:
                counts += np.bincount(e.labels.ravel(), minlength=counts.size)[: counts.size]
        return {name: int(n) for name, n in zip(self.class_names, counts[1:])}

    # -- painting ----------------------------------------------------------------
    def begin_stroke(
        self, image: ImageRef, class_id: ClassRef, radius: float = 3.0, *, plane: Any = None
    ) -> Stroke:
        """Start a stroke of class ``class_id`` (0 = eraser) with a disc brush.

        A stroke still open is ended (and recorded) first, so a lost mouse-up
        never loses labels.

        Parameters
        ----------
        image : int or str
            The image.
        class_id : int or str
            Class id (1..K) or name; 0 erases.
        radius : float
            Brush radius in pixels; pixels within ``radius + 0.5`` of the path
            are painted (0 paints a one-pixel line).
        plane : int, tuple or dict, optional
            z and/or t index for 3D or time-lapse images.

        Returns
        -------
        Stroke
            Feed it with :meth:`extend_stroke` (or ``Stroke.extend``).
        """
        with self._lock:
            entry = self._entry(image)
            value = 0 if class_id == 0 else self.class_id(class_id)
            if not np.isfinite(radius) or radius < 0:
                raise LabelError(f"brush radius must be a finite number >= 0, got {radius!r}")
            p = entry.plane(plane)
            if self._stroke is not None:
                owner = self._stroke_owner
                if (
                    owner is not None
                    and owner is not threading.current_thread()
                    and (owner.is_alive())
                ):
                    raise LabelError(
                        f"a stroke is open in thread {owner.name!r}: paint from one thread at "
                        "a time (end that stroke first, or use paint(), which waits for it); "
                        "interleaved strokes could not be undone one by one"
                    )
                self._stroke.end()
            self._stroke_owner = threading.current_thread()
            self._stroke = Stroke(
                image=self._entries.index(entry),
                plane=p,
                value=value,
                radius=float(radius),
                labels=entry.labels[p] if p else entry.labels,
                offset=entry.plane_offset(p),
                lock=self._lock,
                on_change=self._changed,
                on_end=self._stroke_ended,
            )
            return self._stroke

    def extend_stroke(self, points: Any) -> tuple[slice, slice] | None:
        """Add ``(y, x)`` points to this thread's open stroke; returns the dirty ``(y, x)`` box."""
        with self._lock:
            return self._own_stroke().extend(points)

    def end_stroke(self) -> StrokeResult:
        """Finish this thread's open stroke (one undo step if it changed anything)."""
        with self._lock:
            return self._own_stroke().end()

    def _own_stroke(self) -> Stroke:
        stroke, owner = self._stroke, self._stroke_owner
        if stroke is None:
            raise LabelError("no stroke is open: call begin_stroke() first")
        if owner is not None and owner is not threading.current_thread():
            raise LabelError(
                f"no stroke is open in this thread (thread {owner.name!r} has one): call "
                "begin_stroke() from the thread that paints"
            )
        return stroke

    def paint(
        self,
        image: ImageRef,
        points: Any,
        class_id: ClassRef,
        radius: float = 3.0,
        *,
        plane: Any = None,
    ) -> StrokeResult:
        """Paint one whole stroke through ``points`` (``(y, x)`` pairs); see :meth:`begin_stroke`.

        A stroke entirely outside the image is a no-op whose result carries a
        ``message``, not an error. The whole stroke is one atomic edit: paint
        calls from several threads run one after the other.
        """
        with self._lock:
            stroke = self.begin_stroke(image, class_id, radius, plane=plane)
            stroke.extend(points)
            return stroke.end()

    def erase(
        self, image: ImageRef, points: Any, radius: float = 3.0, *, plane: Any = None
    ) -> StrokeResult:
        """Erase labels along ``points``: a stroke of class 0."""
        return self.paint(image, points, 0, radius, plane=plane)

    def _stroke_ended(self, stroke: Stroke, edit: Edit) -> None:
        with self._lock:
            self._history.push(edit)
            if self._stroke is stroke:
                self._stroke = None
                self._stroke_owner = None

    def _no_stroke(self, what: str) -> None:
        if self._stroke is not None:
            raise LabelError(f"end the open stroke before you {what}")

    # -- history -----------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        """Whether :meth:`undo` has a step to undo."""
        return self._history.can_undo

    @property
    def can_redo(self) -> bool:
        """Whether :meth:`redo` has a step to redo."""
        return self._history.can_redo

    def undo(self) -> Edit | None:
        """Undo the last label edit (a stroke, an import...); returns it, or None."""
        with self._lock:
            self._no_stroke("undo")
            edit = self._history.pop_undo()
            if edit is not None:
                self._entries[edit.image].labels.reshape(-1)[edit.index] = edit.old
                self._changed()
            return edit

    def redo(self) -> Edit | None:
        """Redo the last undone edit; returns it, or None."""
        with self._lock:
            self._no_stroke("redo")
            edit = self._history.pop_redo()
            if edit is not None:
                self._entries[edit.image].labels.reshape(-1)[edit.index] = edit.new
                self._changed()
            return edit

    def _apply(self, edit: Edit) -> Edit | None:
        """Write an edit's new values and record it (under the lock)."""
        if edit.n_pixels == 0:
            return None
        self._entries[edit.image].labels.reshape(-1)[edit.index] = edit.new
        self._history.push(edit)
        self._changed()
        return edit

    # -- labels in and out -------------------------------------------------------
    # -- state and hooks -----------------------------------------------------------
    @property
    def version(self) -> int:
        """Counter bumped on every change of labels or classes."""
        return self._version

    def _changed(self) -> None:
        self._version += 1

    def _image_added(self, entry: ImageEntry) -> None:
        """Run when an image is added (under the lock)."""

    def _classes_changed(self, removed: bool) -> None:
        """Run when classes are added, renamed or (``removed``) deleted (under the lock)."""

    def _label_dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if len(self._classes) <= 255 else np.uint16)

    def _free_name(self) -> str:
        n, taken = len(self._classes) + 1, set(self.class_names)
        while f"class {n}" in taken:
            n += 1
        return f"class {n}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self._entries)} image(s), {self._classes_text()})"

    def _classes_text(self) -> str:
        names = self.class_names
        return f"classes={names}" if len(names) <= 8 else f"{len(names)} classes"
