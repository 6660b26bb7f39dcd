"""Progress bars for long runs: a widget in a notebook, text in a terminal, nothing if off."""

from __future__ import annotations

from typing import Any

__all__ = ["progress_bar"]


def progress_bar(total: int, initial: int, desc: str, enabled: bool | None, *,
                 unit: str = "block") -> Any:
    """Make a tqdm bar (``enabled=None``: only on a terminal or in a notebook).

    Examples
    --------
    >>> bar = progress_bar(3, 0, "demo", False)
    >>> bar.update(3); bar.close()
    """
    from tqdm import tqdm as plain_tqdm
    from tqdm.auto import tqdm as auto_tqdm  # a widget in a notebook, text in a terminal

    kwargs: dict[str, Any] = {"total": total, "initial": initial, "desc": desc, "unit": unit,
                              "disable": None if enabled is None else not enabled,
                              "smoothing": 0.05}
    try:
        return auto_tqdm(**kwargs)
    except ImportError:  # a notebook without ipywidgets
        return plain_tqdm(**kwargs)
