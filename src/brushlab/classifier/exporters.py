"""Exporters a trained classifier can write itself with, registered by the layers above.

:meth:`PixelClassifier.export_bioimageio` writes a BioImage Model Zoo package, but the
package writer lives in :mod:`brushlab.bioimageio`, above the classifier layer: it
registers itself here on import (``import brushlab`` imports it), so the classifier layer
never imports it.

Examples
--------
>>> import brushlab
>>> "bioimageio" in registered_exporters()
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from brushlab.errors import ClassifierError

__all__ = ["exporter", "register_exporter", "registered_exporters"]

Exporter = Callable[..., Any]
_EXPORTERS: dict[str, Exporter] = {}


def register_exporter(name: str, function: Exporter) -> None:
    """Make ``function(classifier, path, **kwargs)`` the exporter called ``name``."""
    _EXPORTERS[str(name)] = function


def registered_exporters() -> list[str]:
    """Return the names of the registered exporters."""
    return sorted(_EXPORTERS)


def exporter(name: str) -> Exporter:
    """Return the exporter called ``name`` (ClassifierError naming the module to import)."""
    try:
        return _EXPORTERS[name]
    except KeyError:
        raise ClassifierError(
            f"no {name!r} exporter is registered: import brushlab.{name} first"
        ) from None
