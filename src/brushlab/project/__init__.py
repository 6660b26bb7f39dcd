"""Projects: a whole labelling session in one file, and labels in and out without the widget.

:meth:`Session.save` writes a project, :func:`open_project` reads it back as a new
:class:`~brushlab.session.Session`; :func:`brushlab.annotate` on that session shows the
widget as it was (``view_state``).

File format (``brushlab-project``, format version 1)
----------------------------------------------------
One zip file (``.blproj`` by convention) holding::

    project.json            the document below (written last)
    images/000.npy          pixels of image 0, if embedded (one per embedded image)
    labels/000.npy          labels of image 0: uint8/uint16, 0 = unlabelled, 1..K = class id
    classifier.brushlab     the trained classifier: a complete brushlab model file
                            (brushlab.load_classifier reads it once extracted), if trained

``project.json``::

    {"format": "brushlab-project", "format_version": 1,
     "brushlab_version": "0.1.0", "saved": "2025-01-31T12:00:00+0100",
     "classes": [{"name": "background", "colour": "#e69f00"}, ...],   # id = position + 1
     "features": {...FeatureSet.to_dict()...},
     "classifier_params": {"n_trees": 100, "random_state": 0, ...},
     "images": [{"name": "image 0", "dims": ["z", "y", "x"], "shape": [...],
                 "dtype": "<u2", "spacing": {"z": 2.0, ...}, "unit": "micrometer",
                 "source": "cells.tif", "embedded": false, "array": null,
                 "path": "/abs/cells.tif", "relative_path": "../data/cells.tif",
                 "sha256": "<of the pixels>", "labels": "labels/000.npy"}, ...],
     "classifier": "classifier.brushlab" or null,
     "training_history": [{"date", "brushlab_version", "label_counts", "images",
                           "classes", "n_trees", "n_features", "fit_seconds"}, ...],
     "view_state": {...what the widget stored, verbatim...},
     "members": {"labels/000.npy": {"dtype": "|u1", "shape": [...], "sha256": ...},
                 "classifier.brushlab": {"bytes": ..., "sha256": ...}, ...}}

Arrays are ``.npy`` members written with ``allow_pickle=False``; reading checks each one
against its dtype, shape and sha256 before NumPy parses it and never unpickles. An image
with ``"embedded": false`` is read from ``path``, else from ``relative_path`` (relative to
the project file's folder, so a project moved together with its images still opens), else
by file name in ``search_paths``; ``relink={old: new}`` overrides all of them. Its shape
must match the saved one; other pixels (``sha256``) only warn.

Saves are atomic: the zip is written to a hidden temporary file in the same folder,
flushed to disk, then renamed over the destination, so a failed or interrupted save leaves
the previous project intact. ``session.enable_autosave(path)`` saves after every
``train()`` (a ``Session.on_trained`` callback); a failing autosave warns and does not
break training.

Versions: a reader opens every format version up to its own; older documents are
migrated step by step (version N to N + 1 only adds or renames fields, filling defaults)
before they are parsed. A newer version raises :class:`~brushlab.errors.ProjectError`
asking to upgrade brushlab. Damaged, truncated or foreign files raise ``ProjectError`` too.
"""

from __future__ import annotations

from brushlab.errors import ProjectWarning
from brushlab.project._format import FORMAT_NAME, FORMAT_VERSION
from brushlab.project._labels import (
    export_labels,
    export_masks,
    import_labels,
    import_masks,
    read_labels,
    segmentation_to_labels,
)
from brushlab.project._open import open_project
from brushlab.project._save import save_project
from brushlab.session import register_project_store

# Session.save reaches the file format through this seam: the session layer never
# imports the project layer.
register_project_store(save_project)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ProjectWarning",
    "export_labels",
    "export_masks",
    "import_labels",
    "import_masks",
    "open_project",
    "read_labels",
    "save_project",
    "segmentation_to_labels",
]
