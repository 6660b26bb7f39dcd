"""What a Session does after training and how it is saved, without importing the project layer.

- :func:`training_record`: one entry of ``Session.training_history`` per ``train()``.
- :class:`TrainedHooks`: the ``on_trained`` callbacks (autosave registers one).
- :class:`ProjectStore` and :func:`register_project_store`: the seam through which
  ``Session.save`` reaches the project file format. :mod:`brushlab.project` registers
  itself on import (``import brushlab`` imports it), so the session layer never imports
  the project layer.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from brushlab.errors import BrushlabError, ClassifierError, ProjectError, ProjectWarning

if TYPE_CHECKING:
    from brushlab.classifier import PixelClassifier
    from brushlab.session._labelling import LabelEditor
    from brushlab.session._session import Session

    _Base = LabelEditor
else:
    _Base = object

__all__ = [
    "ProjectStore",
    "SessionPersistence",
    "TrainedHooks",
    "autosave_hook",
    "project_store",
    "register_project_store",
    "training_record",
]

TrainedCallback = Callable[["Session", "PixelClassifier"], None]


class ProjectStore(Protocol):
    """Writes a session to a project file (implemented by :mod:`brushlab.project`)."""

    def __call__(
        self, session: Session, path: str | os.PathLike[str], *, embed_images: bool | str
    ) -> Path:
        """Save ``session`` to ``path`` atomically and return the path."""
        ...


_STORE: list[ProjectStore] = []


def register_project_store(store: ProjectStore) -> None:
    """Make ``store`` what :meth:`Session.save` calls (the project layer registers itself)."""
    _STORE[:] = [store]


def project_store() -> ProjectStore:
    """Return the registered project writer (ProjectError if none: import brushlab.project)."""
    if not _STORE:
        raise ProjectError("no project writer is registered: import brushlab.project first")
    return _STORE[0]


class TrainedHooks:
    """Callbacks run after every ``train()``, in registration order, on the training thread."""

    def __init__(self) -> None:
        self._callbacks: dict[int, TrainedCallback] = {}
        self._next = 0
        self._lock = threading.Lock()

    def add(self, callback: TrainedCallback) -> Callable[[], None]:
        """Register ``callback(session, classifier)``; return a function that removes it."""
        with self._lock:
            key, self._next = self._next, self._next + 1
            self._callbacks[key] = callback

        def remove() -> None:
            with self._lock:
                self._callbacks.pop(key, None)

        return remove

    def run(self, session: Session, classifier: PixelClassifier) -> None:
        """Call every callback with the session and the new classifier."""
        with self._lock:
            callbacks = list(self._callbacks.values())
        for callback in callbacks:
            callback(session, classifier)


def training_record(session: Session, classifier: PixelClassifier) -> dict[str, Any]:
    """One entry of ``session.training_history``: what a ``train()`` call learnt from.

    Returns
    -------
    dict
        ``date`` (ISO 8601), ``brushlab_version``, ``label_counts`` (labelled
        pixels per class that trained the classifier), ``images`` (names of the
        labelled images), ``classes``, ``n_trees``, ``n_features`` (per pixel)
        and ``fit_seconds``.
    """
    from brushlab._version import __version__

    training = classifier.training or {}
    ndim = classifier.spatial_ndim or 2
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "brushlab_version": __version__,
        "label_counts": dict(training.get("labelled_pixels", {})),
        "images": [name for name in session.image_names if session.labels(name).any()],
        "classes": list(classifier.class_names or []),
        "n_trees": int(classifier.n_trees),
        "n_features": int(
            classifier.features.n_features(ndim=ndim, n_channels=classifier.n_channels or 1)
        ),
        "fit_seconds": training.get("fit_seconds"),
    }


def autosave_hook(session: Session, classifier: PixelClassifier) -> None:
    """Save the project to ``session.autosave`` (an ``on_trained`` callback; None: skip).

    A failed save warns (:class:`~brushlab.errors.ProjectWarning`) instead of raising:
    the trained classifier is kept and the previous project file stays intact.
    """
    path = session.autosave
    if path is None:
        return
    try:
        session.save(path, embed_images=session.autosave_embed_images)
    except (BrushlabError, OSError) as exc:
        warnings.warn(
            f"autosave to {path} failed ({exc}); the previous file there is intact. "
            "Fix the problem or call session.save(path) yourself",
            ProjectWarning,
            stacklevel=4,
        )


class SessionPersistence(_Base):
    """Hooks after training, the restore seams and saving of a :class:`Session`."""

    _trained_hooks: TrainedHooks
    _stop_autosave: Callable[[], None] | None
    _classifier: PixelClassifier | None
    autosave: str | os.PathLike[str] | None
    autosave_embed_images: bool | str

    def on_trained(
        self, callback: Callable[[Session, PixelClassifier], None]
    ) -> Callable[[], None]:
        """Call ``callback(session, classifier)`` after every :meth:`train`.

        Returns
        -------
        callable
            Call it to remove the callback.

        Examples
        --------
        >>> import numpy as np, brushlab
        >>> s = brushlab.Session(np.zeros((16, 16), np.float32), precompute=False)
        >>> seen = []
        >>> remove = s.on_trained(lambda session, clf: seen.append(clf.class_names))
        >>> _ = s.paint(0, [(2, 2)], class_id=1, radius=1)
        >>> _ = s.paint(0, [(12, 12)], class_id=2, radius=1)
        >>> _ = s.train(); remove()
        >>> seen
        [['class 1', 'class 2']]
        """
        return self._trained_hooks.add(callback)

    def set_classifier(self, classifier: PixelClassifier | None) -> None:
        """Use ``classifier`` as if :meth:`train` had returned it (e.g. when reopening a project).

        Raises
        ------
        ClassifierError
            When its feature set or classes differ from the session's.
        """
        if classifier is not None and (
            classifier.features != self.features  # type: ignore[attr-defined]
            or classifier.class_names != self.class_names
        ):
            raise ClassifierError(
                "this classifier was trained with other features or classes than the "
                "session's: train the session instead"
            )
        with self._lock:
            self._classifier = classifier

    def clear_undo_history(self) -> None:
        """Forget every undo and redo step (after restoring labels that are not an edit)."""
        with self._lock:
            self._history.clear()

    def snapshot(self) -> tuple[list[np.ndarray], PixelClassifier | None]:
        """Copy every image's labels and take the classifier, consistent with each other.

        Taken under the session's lock, so a stroke from another thread cannot land halfway.
        """
        with self._lock:
            return [np.array(self.labels(i)) for i in range(len(self.images))], self._classifier

    def save(self, path: str | os.PathLike[str], *, embed_images: bool | str = True) -> Path:
        """Save images, labels, classes, features, classifier, history and view state.

        See :mod:`brushlab.project` for the format; reopen with
        :func:`brushlab.open_project`. The file is replaced atomically.

        Parameters
        ----------
        path : str or path-like
            The project file (``.blproj`` by convention).
        embed_images : bool or "auto", default True
            Store pixels (True), only source paths (False), or paths for images
            read from files and pixels for the others ("auto").

        Returns
        -------
        pathlib.Path
            The file written.

        Examples
        --------
        >>> import tempfile, numpy as np, brushlab
        >>> from pathlib import Path
        >>> s = brushlab.Session(np.zeros((32, 32), np.float32), precompute=False)
        >>> path = s.save(Path(tempfile.mkdtemp()) / "demo.blproj")
        >>> brushlab.open_project(path).image_names
        ('image 0',)
        """
        return project_store()(self, path, embed_images=embed_images)  # type: ignore[arg-type]

    def enable_autosave(
        self, path: str | os.PathLike[str] | None, *, embed_images: bool | str = True
    ) -> None:
        """Save the project to ``path`` after every :meth:`train` (None turns it off).

        Registered as an :meth:`on_trained` callback. A failed autosave warns
        (:class:`~brushlab.errors.ProjectWarning`) and keeps the previous file; training
        still succeeds.
        """
        self.autosave = path
        self.autosave_embed_images = embed_images
        if path is not None and self._stop_autosave is None:
            self._stop_autosave = self.on_trained(autosave_hook)
