"""Import ilastik Pixel Classification projects (.ilp) as brushlab sessions.

:func:`import_ilastik` reads images (embedded or referenced), labels, class names and
colours and the feature selection with h5py, never unpickling anything; train brushlab's
own forest on the imported labels with ``session.train()``.
"""

from __future__ import annotations

from brushlab.ilastik._features import ILASTIK_FAMILIES, IlastikImportWarning, feature_set
from brushlab.ilastik._import import import_ilastik

__all__ = ["ILASTIK_FAMILIES", "IlastikImportWarning", "feature_set", "import_ilastik"]
