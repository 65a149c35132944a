"""The monitor's Notes tab: the selected job's tags and notes, edited and saved on request.

Saving goes through the window (`save_requested`), which calls the core off the UI thread; a
change that arrives from elsewhere replaces the fields unless the user is editing them.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.records import Job


class NotesEditor(QWidget):
    """Signals:
    save_requested(str, str, str): job id, notes, and the tags as typed (comma-separated).
    """

    save_requested = Signal(str, str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job: Job | None = None
        self._saved: tuple[str, str] = ("", "")
        self.tags_edit = QLineEdit(placeholderText="baseline, lr sweep — comma-separated; search finds them")
        self.notes_edit = QPlainTextEdit(placeholderText="What you tried, what you saw, what to try next")
        self.save_button = QPushButton("Save")
        self.save_button.setToolTip("Save the tags and notes (Ctrl+S)")
        self.save_button.clicked.connect(self.save)
        self.state = QLabel(objectName="Muted")
        shortcut = QShortcut(QKeySequence.StandardKey.Save, self)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(self.save)
        self.tags_edit.textChanged.connect(self._edited)
        self.notes_edit.textChanged.connect(self._edited)
        form = QFormLayout()
        form.addRow("Tags", self.tags_edit)
        row = QHBoxLayout()
        row.addWidget(self.state, 1)
        row.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.notes_edit, 1)
        layout.addLayout(row)
        self._edited()

    def show_job(self, job: Job | None) -> None:
        """Show this job's tags and notes; a newer snapshot of the job being edited leaves the
        user's unsaved edits alone."""
        same = job is not None and self.job is not None and job.id == self.job.id
        self.job = job
        if same and self.is_dirty():
            return
        if not same:
            self.state.setText("")
        self._saved = (", ".join(job.tags), job.notes) if job is not None else ("", "")
        for edit, text in ((self.tags_edit, self._saved[0]), (self.notes_edit, self._saved[1])):
            if _text(edit) != text:
                edit.blockSignals(True)
                edit.setPlainText(text) if isinstance(edit, QPlainTextEdit) else edit.setText(text)
                edit.blockSignals(False)
        self.setEnabled(job is not None)
        self._edited()

    def is_dirty(self) -> bool:
        return (self.tags_edit.text(), self.notes_edit.toPlainText()) != self._saved

    def save(self) -> None:
        if self.job is None or not self.is_dirty():
            return
        self.save_button.setEnabled(False)
        self.state.setText("Saving…")
        self.save_requested.emit(self.job.id, self.notes_edit.toPlainText(), self.tags_edit.text())

    def saved(self, job: Job) -> None:
        """The core stored them: what it stored is now what the fields hold."""
        if self.job is not None and job.id == self.job.id:
            self._saved = ("", "")  # force the refresh below
            self.job = None
            self.show_job(job)
            self.state.setText("Saved")

    def save_failed(self, job_id: str, message: str) -> None:
        if self.job is not None and self.job.id == job_id:
            self.state.setText(message)
            self.save_button.setEnabled(True)

    def _edited(self) -> None:
        dirty = self.job is not None and self.is_dirty()
        self.save_button.setEnabled(dirty)
        if dirty:
            self.state.setText("Unsaved changes")
        elif self.state.text() == "Unsaved changes":
            self.state.setText("")


def _text(edit: QLineEdit | QPlainTextEdit) -> str:
    return edit.toPlainText() if isinstance(edit, QPlainTextEdit) else edit.text()
