"""The stop-rule fields (guardrails) shared by the new-job dialog and the edit-rules dialog.

Each cap is a spin box whose lowest value reads "No cap" (or "Off"), the Qt way of saying a field
is unset, so a rule is turned off where it is set.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QFormLayout, QSpinBox, QWidget

from core.money.stop_rules import PLATEAU_LIMIT
from core.records import Job
from desktop.dialogs.spin_fields import CapSpinBox, fit_text


class RuleFields(QWidget):
    """Signals:
    changed(): a field was edited (the new-job dialog's estimate follows the caps).
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.max_cost = CapSpinBox(decimals=2, minimum=0, maximum=10_000_000, prefix="$")
        self.max_cost.setSpecialValueText("No cap")
        self.max_cost.setToolTip("Cancel the job when its cost reaches this (a warning comes at 80 %)")
        self.max_hours = CapSpinBox(decimals=2, minimum=0, maximum=100_000, suffix=" h")
        self.max_hours.setSpecialValueText("No cap")
        self.max_hours.setToolTip("Cancel the job this long after it started (a warning comes at 80 %)")
        self.stop_on_nan = QCheckBox("Stop when a loss turns NaN or infinite")
        self.stop_on_plateau = QSpinBox(minimum=0, maximum=PLATEAU_LIMIT, suffix=" evaluations")
        self.stop_on_plateau.setSpecialValueText("Off")
        self.stop_on_plateau.setToolTip("Cancel after this many evaluations without a better validation loss")
        fit_text(self.max_cost, "$10,000,000.00", "No cap")
        fit_text(self.max_hours, "100,000.00 h", "No cap")
        fit_text(self.stop_on_plateau, f"{PLATEAU_LIMIT} evaluations", "Off")
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Stop at cost", self.max_cost)
        form.addRow("Stop after", self.max_hours)
        form.addRow("Stop on plateau", self.stop_on_plateau)
        form.addRow("", self.stop_on_nan)
        for signal in (
            self.max_cost.valueChanged,
            self.max_hours.valueChanged,
            self.stop_on_plateau.valueChanged,
            self.stop_on_nan.toggled,
        ):
            signal.connect(lambda *_: self.changed.emit())

    def rules(self) -> dict[str, Any]:
        """The rules as create_job and set_rules take them (None: off)."""
        return {
            "max_cost": self.max_cost.value() or None,
            "max_hours": self.max_hours.value() or None,
            "stop_on_nan": self.stop_on_nan.isChecked(),
            "stop_on_plateau": self.stop_on_plateau.value() or None,
        }

    def show_rules(self, job: Job) -> None:
        self.max_cost.setValue(job.max_cost or 0)
        self.max_hours.setValue(job.max_hours or 0)
        self.stop_on_nan.setChecked(job.stop_on_nan)
        self.stop_on_plateau.setValue(job.stop_on_plateau or 0)
