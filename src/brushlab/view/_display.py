"""Display settings of one image: channels shown and their contrast ranges."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from brushlab.view._render import auto_contrast

__all__ = ["DisplaySettings"]


@dataclass
class DisplaySettings:
    """How one image is shown: the channels and a ``(low, high)`` range per channel.

    Attributes
    ----------
    n_channels : int
        Channels of the image.
    channels : list of int
        Shown channels: one (grey) or several (additive composite).
    ranges : list of tuple
        Display range per channel.
    """

    n_channels: int
    channels: list[int] = field(default_factory=lambda: [0])
    ranges: list[tuple[float, float]] = field(default_factory=list)

    @classmethod
    def for_plane(cls, plane: np.ndarray) -> DisplaySettings:
        """Defaults for an image from one of its planes ``(h, w)`` or ``(h, w, c)``.

        8-bit images show their full range (as ilastik does), others a
        percentile auto-contrast; 2 to 6 channels start as a composite (an RGB
        image in its colours).
        """
        data = plane[..., None] if plane.ndim == 2 else plane
        n = int(data.shape[-1])
        settings = cls(n_channels=n, channels=list(range(n)) if 2 <= n <= 6 else [0])
        if data.dtype == np.uint8:
            settings.ranges = [(0.0, 255.0)] * n
        else:
            settings.ranges = [auto_contrast(data[..., c]) for c in range(n)]
        return settings

    def auto(self, plane: np.ndarray, percentiles: tuple[float, float] = (0.5, 99.5)) -> None:
        """Set the range of the shown channels from percentiles of ``plane``."""
        data = plane[..., None] if plane.ndim == 2 else plane
        for c in self.channels:
            self.ranges[c] = auto_contrast(data[..., c], percentiles)

    def set_range(self, low: float, high: float) -> None:
        """Set one range for every shown channel."""
        if not high > low:
            high = low + 1e-6 * max(1.0, abs(low))
        for c in self.channels:
            self.ranges[c] = (float(low), float(high))

    @property
    def range(self) -> tuple[float, float]:
        """The range of the first shown channel (what a single slider edits)."""
        return self.ranges[self.channels[0]]
