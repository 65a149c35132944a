"""Edit a queued or running job's stop rules (guardrails); the scheduler judges them at its next poll."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from core.records import Job
from desktop.dialogs.form import FormDialog
from desktop.dialogs.rule_fields import RuleFields
from desktop.session import Session


class RulesDialog(FormDialog):
    """Signals:
    rules_saved(Job): the job with its new rules, as stored.
    """

    rules_saved = Signal(object)

    def __init__(self, session: Session, job: Job, parent: QWidget | None = None) -> None:
        super().__init__(f"Stop rules of “{job.name}”", parent)
        self.session = session
        self.job = job
        self.fields = RuleFields()
        self.fields.show_rules(job)
        note = QLabel(
            "Loradesk cancels the job when a rule is met and says which in a notification; "
            "the adapter so far is kept.",
            objectName="Muted",
            wordWrap=True,
        )
        layout = QVBoxLayout(self)
        layout.addWidget(self.fields)
        layout.addWidget(note)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.set_ok_text("Save rules")

    def submit(self) -> None:
        self.show_error("")
        self.set_busy(True, "Saving…")
        self.session.set_rules(
            job_id=self.job.id, rules=self.fields.rules(), on_done=self._saved, on_error=self.failed
        )

    def _saved(self, job: Job) -> None:
        self.set_busy(False)
        self.rules_saved.emit(job)
        self.accept()
