"""Model registry: named, described models in one folder, as ZEISS Intellesis keeps them.

The registry is a plain folder; each entry is one of

- ``<name>.brushlab``: a brushlab pixel classifier (a model file; its metadata carries
  ``"registry": {"description", "created"}``), type ``"pixel-classifier"``;
- ``<name>/`` holding ``rdf.yaml`` or ``bioimageio.yaml``, or ``<name>.zip`` holding one
  at its root: a BioImage Model Zoo package (run it with :mod:`brushlab.bioimageio`), type
  ``"bioimageio"``; what counts as a package, its title and its description come from the
  same code as :func:`brushlab.bioimageio.discover`.

The folder is ``$BRUSHLAB_MODELS`` when set, else the user data folder
(``~/.local/share/brushlab/models`` on Linux, via platformdirs), unless
:func:`set_folder` or a ``folder=`` argument says otherwise. Other files are ignored.
Every change is atomic (a temporary file or folder, then a rename): an interrupted
operation leaves the registry as it was. Names are 1 to 100 letters, digits, spaces,
``_``, ``-`` or ``.``, not starting with ``.`` or a space.

Examples
--------
>>> import tempfile, numpy as np, brushlab
>>> from brushlab import models
>>> folder = tempfile.mkdtemp()
>>> image = np.zeros((32, 32), np.float32); image[:, 16:] = 1
>>> labels = np.zeros((32, 32), np.uint8); labels[4, 2:8] = 1; labels[4, 20:30] = 2
>>> clf = brushlab.PixelClassifier(brushlab.FeatureSet({"gaussian": [1.0]}), n_trees=5)
>>> _ = models.save(clf.fit(image, labels, ["bg", "fg"]), "halves", description="demo",
...                 folder=folder)
>>> models.list(folder=folder)[["name", "type", "classes", "description"]].values.tolist()
[['halves', 'pixel-classifier', ['bg', 'fg'], 'demo']]
>>> models.load("halves", folder=folder).class_names
['bg', 'fg']
"""

from __future__ import annotations

from brushlab.errors import RegistryError
from brushlab.registry._changes import clone, delete, export, import_, load, rename, save
from brushlab.registry._listing import COLUMNS, describe, folder, list, set_folder  # noqa: A004

__all__ = [
    "COLUMNS",
    "RegistryError",
    "clone",
    "delete",
    "describe",
    "export",
    "folder",
    "import_",
    "list",
    "load",
    "rename",
    "save",
    "set_folder",
]
