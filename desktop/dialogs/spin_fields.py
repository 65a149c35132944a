"""Number fields that read as a person types them: a cap that can be cleared, a run time shown
in minutes below an hour, and room for their longest text so nothing is clipped."""

from __future__ import annotations

import re

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QAbstractSpinBox, QDoubleSpinBox

_NUMBER = re.compile(r"^\s*([0-9]*[.,]?[0-9]*)\s*([a-z]*)\s*$")
# Units a run time may be typed in, as hours per unit.
_UNITS = {"": 1.0, "h": 1.0, "hours": 1.0, "m": 1 / 60, "min": 1 / 60, "minutes": 1 / 60}


def fit_text(spin: QAbstractSpinBox, *texts: str) -> None:
    """Wide enough for the longest of `texts` (and its arrows): "Off" never reads "Oft"."""
    metrics = spin.fontMetrics()
    widest = max(metrics.horizontalAdvance(text) for text in texts)
    spin.setMinimumWidth(widest + 56)  # the arrows, the frame and the stylesheet's padding


class CapSpinBox(QDoubleSpinBox):
    """A cap whose lowest value means none ("No cap"). Emptying the field clears the cap, as a
    person expects, instead of Qt bringing the old value back."""

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        if not self._bare(text):
            return QValidator.State.Acceptable, text, pos
        return super().validate(text, pos)

    def valueFromText(self, text: str) -> float:
        return self.minimum() if not self._bare(text) else super().valueFromText(text)

    def fixup(self, text: str) -> str:
        return self.textFromValue(self.minimum()) if not self._bare(text) else super().fixup(text)

    def _bare(self, text: str) -> str:
        """The text without prefix, suffix and spaces; the special value reads as empty."""
        bare = text.strip()
        if bare == self.specialValueText():
            return ""
        return bare.removeprefix(self.prefix().strip()).removesuffix(self.suffix().strip()).strip()


class DurationSpinBox(QDoubleSpinBox):
    """Hours, shown as "45 min" below an hour and "2.50 h" above; typing either works."""

    def __init__(self, *, minimum: float, maximum: float, value: float) -> None:
        super().__init__(decimals=4, minimum=minimum, maximum=maximum, singleStep=0.25)
        self.setValue(value)
        fit_text(self, "10,000.00 h", "59 min")
        # "2.5" typed reads "2.50 h" once the field is left, like every value it shows
        self.editingFinished.connect(lambda: self.lineEdit().setText(self.textFromValue(self.value())))

    def textFromValue(self, value: float) -> str:
        if value < 1:
            return f"{max(1, round(value * 60))} min"
        return f"{value:,.2f} h"

    def valueFromText(self, text: str) -> float:
        found = _NUMBER.match(_plain(text))
        if found is None or not found.group(1).strip(".,") or found.group(2) not in _UNITS:
            return self.value()
        return float(found.group(1).replace(",", ".")) * _UNITS[found.group(2)]

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        found = _NUMBER.match(_plain(text))
        if found is None or not any(unit.startswith(found.group(2)) for unit in _UNITS):
            return QValidator.State.Invalid, text, pos
        if not found.group(1).strip(".,") or found.group(2) not in _UNITS:
            return QValidator.State.Intermediate, text, pos  # "45 mi" on the way to "45 min"
        return QValidator.State.Acceptable, text, pos

    def stepBy(self, steps: int) -> None:
        """Five minutes a step below an hour, a quarter of an hour above."""
        step = 5 / 60 if self.value() < 1 or (self.value() == 1 and steps < 0) else 0.25
        self.setValue(min(self.maximum(), max(self.minimum(), self.value() + steps * step)))


def _plain(text: str) -> str:
    """Without thousands separators ("1,250.00 h"); a lone comma is a decimal one ("2,5 h")."""
    return text.replace(",", "") if "," in text and "." in text else text
