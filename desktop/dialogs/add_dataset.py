"""Add a dataset: a JSON Lines file of prompt/completion pairs and its name.

The storage bucket is an internal choice (the default suits everyone but setups that read the
other bucket), so it waits under "Advanced".
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.records import BUCKETS, DEFAULT_BUCKET, Dataset
from desktop.dialogs.form import FormDialog
from desktop.session import Session


class AddDatasetDialog(FormDialog):
    """Signals:
    dataset_added(Dataset): the dataset was checked, stored and recorded.
    """

    dataset_added = Signal(object)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__("Add dataset", parent)
        self.session = session
        self.file_edit = QLineEdit(placeholderText='a .jsonl file, one {"prompt", "completion"} per line')
        self.file_edit.textChanged.connect(self._file_changed)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_edit, 1)
        file_row.addWidget(browse)
        self.name_edit = QLineEdit(placeholderText="defaults to the file name")
        self.bucket_combo = QComboBox()
        self.bucket_combo.addItems(BUCKETS)
        self.bucket_combo.setCurrentText(DEFAULT_BUCKET)
        form = QFormLayout()
        form.addRow("File", file_row)
        form.addRow("Name", self.name_edit)
        hint = QLabel("Each line is checked; a bad line is reported by its number.", objectName="Muted")
        self.advanced_button = QToolButton(text="Advanced", checkable=True, autoRaise=True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.toggled.connect(self._show_advanced)
        self.advanced = QWidget()
        advanced_form = QFormLayout(self.advanced)
        advanced_form.setContentsMargins(0, 0, 0, 0)
        advanced_form.addRow("Storage bucket", self.bucket_combo)
        self.advanced.hide()
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addWidget(self.advanced_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.advanced)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.set_ok_text("Add dataset")
        self.resize(560, self.sizeHint().height())

    def _show_advanced(self, shown: bool) -> None:
        self.advanced.setVisible(shown)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        if (layout := self.layout()) is not None:
            layout.activate()
        self.resize(self.width(), self.sizeHint().height())

    def _browse(self) -> None:
        dialog = QFileDialog(
            self, "Choose a dataset", str(Path.home()), "JSON Lines (*.jsonl *.json);;All files (*)"
        )
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(self.file_edit.setText)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def _file_changed(self, text: str) -> None:
        self.name_edit.setPlaceholderText(Path(text).stem if text.strip() else "defaults to the file name")
        self.show_error("")

    def validate(self) -> str | None:
        """What the form alone can tell; the file and the name are checked by add_dataset, off
        the UI thread, and its refusal shows in the same place."""
        if not self.file_edit.text().strip():
            return "Choose the dataset file."
        return None

    def submit(self) -> None:
        problem = self.validate()
        if problem:
            self.show_error(problem)
            return
        self.show_error("")
        self.set_busy(True, "Adding…")
        self.session.add_dataset(
            file=Path(self.file_edit.text().strip()).expanduser(),
            name=self.name_edit.text() if self.name_edit.text().strip() else None,
            bucket=self.bucket_combo.currentText(),
            on_done=self._added,
            on_error=self.failed,
        )

    def _added(self, dataset: Dataset) -> None:
        self.set_busy(False)
        self.dataset_added.emit(dataset)
        self.accept()
