"""Errors raised by brushlab.

Every error names the problem and, where there is one, the fix. All derive from
:class:`BrushlabError` so callers (the CLI, the widget) can catch them in one place
and show the message instead of a traceback.
"""

from __future__ import annotations

__all__ = [
    "BrushlabError",
    "ImageError",
    "LabelError",
    "FeatureError",
    "ClassifierError",
    "ModelFileError",
    "ModelPackageError",
    "ProjectError",
    "MissingDependencyError",
    "TrainingError",
]


class BrushlabError(Exception):
    """Base class of all errors brushlab raises on bad input."""


class ImageError(BrushlabError, ValueError):
    """An image could not be read or has an unusable shape, dtype or content."""


class LabelError(BrushlabError, ValueError):
    """Labels do not fit the image or cannot train a classifier."""


class FeatureError(BrushlabError, ValueError):
    """A feature set is inconsistent (unknown family, bad scale...)."""


class ClassifierError(BrushlabError, ValueError):
    """The classifier cannot be used as asked (not trained, wrong channel count...)."""


class ModelFileError(BrushlabError, ValueError):
    """A model file is corrupt, truncated, foreign or from a newer brushlab."""


class ProjectError(BrushlabError, ValueError):
    """A project file or an ilastik project is corrupt, foreign, newer, or its images moved."""


class ModelPackageError(BrushlabError, ValueError):
    """A BioImage Model Zoo package cannot be read, validated or run by brushlab."""


class MissingDependencyError(BrushlabError, ImportError):
    """An optional dependency (an extra such as ``brushlab[train]``) is not installed."""


class TrainingError(BrushlabError, RuntimeError):
    """Training could not run (out of memory, interrupted, no usable data)."""
