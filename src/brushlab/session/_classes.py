"""Label classes of a session: a name and a display colour each, ids by position."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from brushlab._core.colours import PALETTE
from brushlab.errors import LabelError

__all__ = ["LabelClass", "PALETTE", "parse_colour", "make_classes"]

_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
MAX_CLASSES = 65535  # labels are uint16 at most


@dataclass(frozen=True)
class LabelClass:
    """One class a user paints: its name and its colour as ``"#rrggbb"``.

    Its id in label arrays is its position in :attr:`Session.classes` plus one
    (0 is "unlabelled").
    """

    name: str
    colour: str

    @property
    def rgb(self) -> tuple[int, int, int]:
        """The colour as three 0-255 integers."""
        return (int(self.colour[1:3], 16), int(self.colour[3:5], 16), int(self.colour[5:7], 16))


def parse_colour(colour: Any) -> str:
    """Return ``colour`` as lowercase ``"#rrggbb"``.

    Parameters
    ----------
    colour : str or sequence of int
        ``"#rrggbb"``, ``"#rgb"`` (the ``#`` optional) or three 0-255 integers.

    Returns
    -------
    str
        The normalised hex colour.

    Raises
    ------
    LabelError
        If ``colour`` is none of those.
    """
    if isinstance(colour, str):
        match = _HEX.match(colour.strip())
        if match:
            digits = match[1].lower()
            if len(digits) == 3:
                digits = "".join(ch * 2 for ch in digits)
            return "#" + digits
    elif isinstance(colour, Sequence) and len(colour) == 3:
        try:
            values = [int(v) for v in colour]
        except (TypeError, ValueError):
            values = []
        if len(values) == 3 and all(0 <= v <= 255 for v in values):
            return "#" + "".join(f"{v:02x}" for v in values)
    raise LabelError(
        f"{colour!r} is not a colour: use hex like '#1f77b4' or '#f70', or three 0-255 integers"
    )


def check_name(name: Any, existing: Iterable[str]) -> str:
    """Return ``name`` stripped, or raise LabelError if empty or already taken.

    ``existing`` may be a set (checked in O(1)); other iterables are scanned once.
    """
    if not isinstance(name, str) or not name.strip():
        raise LabelError(f"a class name must be a non-empty string, got {name!r}")
    text = name.strip()
    taken = existing if isinstance(existing, (set, frozenset)) else set(existing)
    if text in taken:
        raise LabelError(
            f"a class named {text!r} exists already: choose another name, or rename that class"
        )
    return text


def make_classes(spec: Iterable[Any] | None) -> list[LabelClass]:
    """Build the initial class list from names, ``(name, colour)`` pairs or LabelClass objects."""
    items = list(spec) if spec is not None else ["class 1", "class 2"]
    if len(items) > MAX_CLASSES:
        raise LabelError(f"at most {MAX_CLASSES} classes fit in uint16 labels, got {len(items)}")
    out: list[LabelClass] = []
    taken: set[str] = set()  # O(1) per name: 65535 classes validate at once
    for item in items:
        if isinstance(item, LabelClass):
            name, colour = item.name, item.colour
        elif isinstance(item, str):
            name, colour = item, None
        elif isinstance(item, Sequence) and len(item) == 2:
            name, colour = item[0], item[1]
        else:
            raise LabelError(
                f"a class is a name, a (name, colour) pair or a LabelClass, not {item!r}"
            )
        name = check_name(name, taken)
        taken.add(name)
        default = PALETTE[len(out) % len(PALETTE)]
        hex_colour = parse_colour(colour) if colour is not None else default
        out.append(LabelClass(name, hex_colour))
    if not out:
        raise LabelError("a session needs at least one class: pass classes=['background', ...]")
    return out
