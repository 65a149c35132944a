"""Chart axes that read like the rest of the app: 1M and 250k rather than 1e+06 and 250000."""

from __future__ import annotations

import math
from typing import Any

import pyqtgraph as pg

_SUFFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def compact(value: float) -> str:
    """A tick value in few characters: 1.5M, 250k, 1,200 → 1.2k, 0.35, 2e-05."""
    if not math.isfinite(value):
        return ""
    if value == 0:
        return "0"
    size = abs(value)
    for limit, suffix in _SUFFIXES:
        if size >= limit:
            return f"{value / limit:.3g}{suffix}"
    if size >= 1:
        return f"{value:.4g}"
    if size >= 1e-3:
        return f"{value:.3g}"
    mantissa, _, exponent = f"{value:.1e}".partition("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


class ReadableAxis(pg.AxisItem):
    """An axis with a title and compact tick labels; log-scale ticks keep pyqtgraph's own labels."""

    def __init__(self, orientation: str, title: str, **kwargs: Any) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)  # "(x1e+06)" beside the title reads worse than 1M on each tick
        self.setLabel(title)

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        if self.logMode:
            return list(super().tickStrings(values, scale, spacing))
        return [compact(value * scale) for value in values]


class StepAxis(ReadableAxis):
    """The step axis: steps are whole numbers, so its ticks are too (no 1.5, 2.5)."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:
        levels = [
            (spacing, offset) for spacing, offset in super().tickSpacing(minVal, maxVal, size) if spacing >= 1
        ]
        return levels or [(1.0, 0.0)]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        if self.logMode:
            return list(super().tickStrings(values, scale, spacing))
        return [compact(round(value * scale)) for value in values]
