"""One palette and one class-colour renderer for every overlay brushlab draws or writes.

:data:`PALETTE` colours classes 1, 2, ... everywhere: new classes in a Session, the
widget's labels and segmentation overlays, object-class overlays, the label colours of
OME-Zarr outputs and the demo's overlay PNG. :func:`class_lut` and :func:`classes_rgba`
turn class ids into RGBA; :func:`blend` lays RGBA over a greyscale image.

Examples
--------
>>> import numpy as np
>>> lut = class_lut(palette_rgb(2), opacity=1.0)
>>> classes_rgba(np.array([[0, 2]]), lut)[0, 1].tolist()
[86, 180, 233, 255]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["PALETTE", "blend", "class_lut", "classes_rgba", "hex_to_rgb", "palette_rgb"]

#: Colours of classes 1, 2, ...: colour-blind-friendly (Okabe-Ito), then more distinct hues.
PALETTE = (
    "#e69f00",
    "#56b4e9",
    "#009e73",
    "#f0e442",
    "#0072b2",
    "#d55e00",
    "#cc79a7",
    "#999999",
    "#7f3c8d",
    "#11a579",
)


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """``"#rrggbb"`` (or ``"#rgb"``) as an RGB triple.

    Examples
    --------
    >>> hex_to_rgb("#e69f00")
    (230, 159, 0)
    """
    text = colour.lstrip("#")
    if len(text) == 3:
        text = "".join(c * 2 for c in text)
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def palette_rgb(n: int) -> list[tuple[int, int, int]]:
    """RGB colours of classes 1..n from :data:`PALETTE`, repeating it when n is larger.

    Examples
    --------
    >>> palette_rgb(1)
    [(230, 159, 0)]
    """
    return [hex_to_rgb(PALETTE[k % len(PALETTE)]) for k in range(int(n))]


def class_lut(colours: Sequence[Sequence[int]], opacity: float) -> np.ndarray:
    """Look-up table ``(K + 1, 4)`` uint8: id 0 transparent, class ``k`` its colour.

    Examples
    --------
    >>> class_lut([(255, 0, 0)], 0.5).tolist()
    [[0, 0, 0, 0], [255, 0, 0, 128]]
    """
    lut = np.zeros((len(colours) + 1, 4), dtype=np.uint8)
    if len(colours):
        lut[1:, :3] = np.asarray(colours, dtype=np.uint8)
        lut[1:, 3] = int(round(255 * float(np.clip(opacity, 0, 1))))
    return lut


def classes_rgba(classes: Any, lut: np.ndarray) -> np.ndarray:
    """RGBA of class ids through a :func:`class_lut` table (ids beyond it are transparent).

    Examples
    --------
    >>> import numpy as np
    >>> classes_rgba(np.array([5]), class_lut([(1, 2, 3)], 1.0)).tolist()
    [[0, 0, 0, 0]]
    """
    ids = np.asarray(classes)
    ids = np.where((ids >= 0) & (ids < len(lut)), ids, 0)
    return lut[ids]


def blend(grey: np.ndarray, rgba: np.ndarray) -> np.ndarray:
    """Lay ``rgba`` (uint8, alpha = opacity) over a greyscale image in [0, 1]; uint8 RGB out.

    Examples
    --------
    >>> import numpy as np
    >>> blend(np.ones((1, 1)), np.array([[[0, 0, 0, 255]]], np.uint8)).tolist()
    [[[0, 0, 0]]]
    """
    rgb = np.repeat(np.clip(np.asarray(grey, np.float64), 0, 1)[..., None], 3, axis=-1)
    alpha = rgba[..., 3:4].astype(np.float64) / 255.0
    out = (1 - alpha) * rgb + alpha * (rgba[..., :3].astype(np.float64) / 255.0)
    return np.asarray((out * 255).round(), dtype=np.uint8)
