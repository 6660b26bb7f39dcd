"""Errors raised by brushlab.

Every error names the problem and, where there is one, the fix. All derive from
:class:`BrushlabError` so callers (the CLI, the widget) can catch them in one place
and show the message instead of a traceback.

Examples
--------
>>> from brushlab.errors import BrushlabError, LabelError
>>> try:
...     raise LabelError("labels hold -1: use 0 for unlabelled pixels")
... except BrushlabError as err:
...     print(type(err).__name__, "-", err)
LabelError - labels hold -1: use 0 for unlabelled pixels
>>> issubclass(LabelError, ValueError)  # code catching ValueError still works
True
"""

from __future__ import annotations

__all__ = [
    "BrushlabError",
    "ImageError",
    "ImageWriteError",
    "LabelError",
    "FeatureError",
    "ClassifierError",
    "ModelFileError",
    "ModelPackageError",
    "ProjectError",
    "RegistryError",
    "DatasetError",
    "ProjectWarning",
    "IlastikImportWarning",
    "AlignmentError",
    "MissingDependencyError",
    "TrainingError",
]


class BrushlabError(Exception):
    """Base class of all errors brushlab raises on bad input."""


class ImageError(BrushlabError, ValueError):
    """An image could not be read or has an unusable shape, dtype or content."""


class ImageWriteError(ImageError, OSError):
    """An image could not be written: the folder is read-only, not writable, or the disk full.

    Also an ``OSError`` (with its ``errno``), so code that catches write failures as
    ``OSError`` still does.
    """


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


class IlastikImportWarning(UserWarning):
    """Part of an ilastik project has no brushlab equivalent and was left out."""


class DatasetError(BrushlabError):
    """A data set is neither in the cache folder nor downloadable, or a file is corrupt."""


class ProjectWarning(UserWarning):
    """Something was left out of a saved or opened project (the rest is intact)."""


class RegistryError(ProjectError):
    """An unknown or duplicate model name, or an entry that is not a model."""


class AlignmentError(BrushlabError, ValueError):
    """A stack cannot be aligned as asked, or a transform file is foreign, broken or newer."""


class MissingDependencyError(BrushlabError, ImportError):
    """An optional dependency (an extra such as ``brushlab[train]``) is not installed."""


class TrainingError(BrushlabError, RuntimeError):
    """Training could not run (out of memory, interrupted, no usable data)."""
