"""The monitor's row of stop rules (guardrails): each rule and how close the job is to it, why a
rule stopped the job, and the button that edits them while the job runs."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from core.money.stop_rules import RuleState, has_rules, is_near, rule_states
from core.records import Job
from desktop import formatting as fmt
from desktop.elided_label import ElidedLabel

MAX_CHIPS = 4  # one per rule


class RulesBar(QWidget):
    """Signals:
    edit_requested(str): the person asked to edit this job id's rules.
    """

    edit_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job: Job | None = None
        self.caption = QLabel("Stop rules", objectName="Muted")
        self.chips = [QLabel(objectName="RuleChip") for _ in range(MAX_CHIPS)]
        self.none = QLabel("none", objectName="Muted")
        self.reason = ElidedLabel(objectName="FieldError")  # a long reason never widens the window
        self.reason.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.edit_button = QToolButton(text="Edit rules…")
        self.edit_button.setToolTip("Change this job's stop rules while it runs")
        self.edit_button.clicked.connect(self._edit)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        row.addWidget(self.caption)
        for chip in self.chips:
            row.addWidget(chip)
        row.addWidget(self.none)
        row.addWidget(self.reason, 10)  # takes the room there is; a longer reason elides
        row.addStretch(1)
        row.addWidget(self.edit_button)

    def show_job(self, job: Job, now: datetime | None = None) -> None:
        """The job's rules as they stand at `now` (the cost and run time move every second)."""
        self.job = job
        states = rule_states(job, now or fmt.now(), clock_cost=False)  # the cost card's figure
        for chip, state in zip(self.chips, [*states, *[None] * MAX_CHIPS], strict=False):
            chip.setVisible(state is not None)
            if state is not None:
                self._show_chip(chip, state)
        self.none.setVisible(not states)
        self.reason.setText(_reason_text(job))
        self.reason.setVisible(bool(job.stop_reason))
        active = not job.status.is_terminal
        self.edit_button.setVisible(active)
        self.edit_button.setText("Edit rules…" if has_rules(job) else "Add rules…")
        self.setVisible(active or has_rules(job) or bool(job.stop_reason))

    def _show_chip(self, chip: QLabel, state: RuleState) -> None:
        chip.setText(f"{state.label}: {state.figure}")
        level = "fired" if state.fired else "near" if is_near(state) else ""
        chip.setToolTip(f"Stops the job: {state.reason}" if state.fired else _rule_help(state))
        if chip.property("level") != level:
            chip.setProperty("level", level)
            chip.style().unpolish(chip)
            chip.style().polish(chip)

    def _edit(self) -> None:
        if self.job is not None:
            self.edit_requested.emit(self.job.id)


def _reason_text(job: Job) -> str:
    if not job.stop_reason:
        return ""
    return f"{'Stopped' if job.status.is_terminal else 'Stopping'}: {job.stop_reason}"


def _rule_help(state: RuleState) -> str:
    return {
        "cost": "The job is cancelled when its cost reaches the cap (a warning at 80 %).",
        "hours": "The job is cancelled when it has run this long (a warning at 80 %).",
        "nan": "The job is cancelled when a loss turns NaN or infinite.",
        "plateau": "The job is cancelled after this many evaluations without a better validation loss.",
    }[state.rule]
