"""Export… a job's adapter: its folder as it is, or merged into the base model (safetensors and
tokenizer, for plain transformers), with progress, then the Python that loads what was written."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from core.adapters.export import ExportResult, adapter_snippet, export_adapter
from core.adapters.files import base_model_of
from core.config import Settings
from core.records import Job
from desktop.dialogs.form import FormDialog


class ExportDialog(FormDialog):
    """Signals:
    exported(ExportResult): the export is written.
    """

    exported = Signal(object)
    _progress = Signal(int, int, str)
    _done = Signal(object)
    _error = Signal(object)

    def __init__(self, settings: Settings, job: Job, parent: QWidget | None = None) -> None:
        super().__init__(f"Export the adapter of “{job.name}”", parent)
        self.settings = settings
        self.job = job
        self.export_result: ExportResult | None = None  # not `result`: QDialog.result() is Qt's
        self.folder_edit = QLineEdit(placeholderText="a new or empty folder")
        self.folder_edit.setText(str(Path.home() / _folder_name(job)))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        self.adapter_choice = QRadioButton("The adapter folder (small; load it on the base model with peft)")
        self.merged_choice = QRadioButton(
            f"The base model ({base_model_of(job)}) with the adapter merged in: safetensors and"
            " tokenizer, for plain transformers"
        )
        self.adapter_choice.setChecked(True)
        choice = QButtonGroup(self)
        for button in (self.adapter_choice, self.merged_choice):
            choice.addButton(button)
        form = QFormLayout()
        form.addRow("Folder", folder_row)
        form.addRow("Export", self.adapter_choice)
        form.addRow("", self.merged_choice)
        self.stage = QLabel(objectName="Muted")
        self.progress = QProgressBar(maximum=1000, visible=False)
        self.snippet = QPlainTextEdit(readOnly=True)
        self.snippet.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.snippet.setPlainText(adapter_snippet("path/to/the/adapter", base_model_of(job)))
        self.snippet.setMaximumHeight(130)
        self.copy_button = QPushButton("Copy snippet")
        self.copy_button.clicked.connect(self.copy_snippet)
        snippet_row = QHBoxLayout()
        snippet_row.addWidget(QLabel("Load it in Python:"), 1)
        snippet_row.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.stage)
        layout.addWidget(self.error)
        layout.addLayout(snippet_row)
        layout.addWidget(self.snippet)
        layout.addWidget(self.buttons)
        self.set_ok_text("Export")
        self._progress.connect(self._show_progress, Qt.ConnectionType.QueuedConnection)
        self._done.connect(self._exported, Qt.ConnectionType.QueuedConnection)
        self._error.connect(self.failed, Qt.ConnectionType.QueuedConnection)
        self.resize(640, self.sizeHint().height())

    def _browse(self) -> None:
        dialog = QFileDialog(self, "Export to a new or empty folder", str(Path.home()))
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.fileSelected.connect(self.folder_edit.setText)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def submit(self) -> None:
        if self.export_result is not None:  # the export is written: the button now closes
            self.accept()
            return
        text = self.folder_edit.text().strip()
        if not text:
            self.show_error("Choose the folder to export to.")
            return
        self.show_error("")
        self.set_busy(True, "Exporting…")
        self.progress.setValue(0)
        self.progress.show()
        merge = self.merged_choice.isChecked()
        threading.Thread(target=self._export, args=(Path(text), merge), daemon=True).start()

    def _export(self, folder: Path, merge: bool) -> None:
        try:
            result = export_adapter(
                self.settings, self.job, folder, merge=merge, progress=self._progress.emit
            )
        except Exception as exc:  # shown in the dialog's error line (describe() words the unexpected)
            self._error.emit(exc)
            return
        self._done.emit(result)

    def _show_progress(self, done: int, total: int, stage: str) -> None:
        self.progress.setValue(round(1000 * done / total) if total else 0)
        self.stage.setText(stage.capitalize())

    def _exported(self, result: ExportResult) -> None:
        self.export_result = result
        self.progress.setValue(1000)
        what = "Merged model" if result.merged else "Adapter"
        self.stage.setText(f"{what} exported to {result.folder}: {', '.join(result.files)}")
        self.snippet.setPlainText(result.snippet)
        self.set_busy(False)
        self.set_ok_text("Close")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).hide()
        self.exported.emit(result)

    def failed(self, error: BaseException) -> None:
        super().failed(error)
        self.progress.hide()
        self.stage.setText("")

    def copy_snippet(self) -> None:
        QGuiApplication.clipboard().setText(self.snippet.toPlainText())
        self.copy_button.setText("Copied")


def _folder_name(job: Job) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in job.name).strip("-.") or "adapter"
    return f"{safe[:60]}-adapter"
