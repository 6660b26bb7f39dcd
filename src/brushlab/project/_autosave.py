"""What :meth:`Session.train` does after each training: a history record, then an autosave."""

from __future__ import annotations

import os
import time
import warnings
from typing import TYPE_CHECKING, Any

from brushlab.errors import BrushlabError
from brushlab.project._save import ProjectWarning, save_project

if TYPE_CHECKING:
    from brushlab.classifier import PixelClassifier
    from brushlab.session import Session

__all__ = ["after_training", "training_record"]


def training_record(session: Session, classifier: PixelClassifier) -> dict[str, Any]:
    """One entry of ``session.training_history``: what a ``train()`` call learnt from.

    Returns
    -------
    dict
        ``date`` (ISO 8601), ``brushlab_version``, ``label_counts`` (labelled
        pixels per class that trained the forest), ``images`` (names of the
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


def after_training(session: Session, classifier: PixelClassifier) -> None:
    """Record a training run in ``session.training_history``, then autosave if enabled.

    An autosave that fails warns (:class:`ProjectWarning`) instead of raising:
    the trained classifier is kept and the previous project file stays intact.
    """
    session.training_history.append(training_record(session, classifier))
    target: str | os.PathLike[str] | None = getattr(session, "autosave", None)
    if target is None:
        return
    embed = getattr(session, "autosave_embed_images", True)
    try:
        save_project(session, target, embed_images=embed)
    except (BrushlabError, OSError) as exc:
        warnings.warn(
            f"autosave to {target} failed ({exc}); the previous file there is intact. "
            "Fix the problem or call session.save(path) yourself",
            ProjectWarning,
            stacklevel=3,
        )
