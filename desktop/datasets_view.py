"""File → Datasets…: every dataset with its pairs, size and the jobs that used it, a preview of
its first rows, and Delete for one no job uses (core.datasets.catalog; nothing here touches the database).
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.datasets.catalog import DatasetDetail
from core.records import Dataset
from desktop import formatting as fmt
from desktop.operations import describe
from desktop.session import Session

PREVIEW_CHARS = 160


def row_text(row: dict[str, object]) -> str:
    """A pair as "prompt → completion", a conversation as its turns, on one line."""
    messages = row.get("messages")
    if isinstance(messages, list):
        text = " | ".join(f"{m.get('role')}: {m.get('content')}" for m in messages if isinstance(m, dict))
    else:
        text = f"{row.get('prompt')} → {row.get('completion')}"
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


class DatasetsDialog(QDialog):
    """Signals:
    dataset_deleted(str): a dataset was deleted (its id).
    """

    dataset_deleted = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Datasets")
        self.session = session
        self.datasets: list[Dataset] = []
        self.detail: DatasetDetail | None = None
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Name", "Pairs", "Added"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._selected)
        self.title = QLabel("Loading datasets…", objectName="MonitorTitle", wordWrap=True)
        self.facts = QLabel(objectName="Muted", wordWrap=True)
        self.preview = QLabel(wordWrap=True, textFormat=Qt.TextFormat.PlainText)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.used_by = QLabel(wordWrap=True, textFormat=Qt.TextFormat.PlainText)
        self.delete_button = QPushButton("Delete…", enabled=False)
        self.delete_button.clicked.connect(self.ask_delete)
        self.error = QLabel(objectName="FieldError", wordWrap=True)
        self.error.hide()
        self._box: QMessageBox | None = None
        self._build()
        self.load()

    def _build(self) -> None:
        details = QWidget()
        side = QVBoxLayout(details)
        side.addWidget(self.title)
        side.addWidget(self.facts)
        side.addWidget(QLabel("First rows", objectName="Muted"))
        side.addWidget(self.preview, 1)
        side.addWidget(self.used_by)
        buttons_row = QHBoxLayout()
        buttons_row.addStretch(1)
        buttons_row.addWidget(self.delete_button)
        side.addLayout(buttons_row)
        splitter = QSplitter()
        splitter.addWidget(self.table)
        splitter.addWidget(details)
        splitter.setSizes([340, 480])
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.error)
        layout.addWidget(close)
        self.resize(880, 480)

    # -- loading ---------------------------------------------------------------------------------
    def load(self) -> None:
        self.session.list_datasets(on_done=self.show_datasets, on_error=self._failed)

    def show_datasets(self, datasets: list[Dataset]) -> None:
        if not shiboken6.isValid(self.table):
            return  # closed while the list loaded
        self.datasets = sorted(datasets, key=lambda d: fmt.utc(d.created_at), reverse=True)
        self.table.setRowCount(len(self.datasets))
        for row, dataset in enumerate(self.datasets):
            name = QTableWidgetItem(dataset.name)
            name.setToolTip(dataset.name)
            pairs = QTableWidgetItem(f"{dataset.total_pairs:,}")
            pairs.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            added = QTableWidgetItem(fmt.utc(dataset.created_at).astimezone().strftime("%Y-%m-%d %H:%M"))
            for column, item in enumerate((name, pairs, added)):
                self.table.setItem(row, column, item)
        if not self.datasets:
            self.title.setText("No datasets yet: add one with File → Add dataset (Ctrl+D).")
            self.facts.clear()
            self.preview.clear()
            self.used_by.clear()
            self.delete_button.setEnabled(False)
            return
        self.table.selectRow(0)

    def selected(self) -> Dataset | None:
        rows = self.table.selectionModel().selectedRows()
        return self.datasets[rows[0].row()] if rows else None

    def _selected(self) -> None:
        dataset = self.selected()
        self.delete_button.setEnabled(False)
        if dataset is None:
            return
        self.title.setText(dataset.name)
        self.facts.setText(f"{dataset.total_pairs:,} pairs · loading…")
        self.preview.setText("")
        self.used_by.setText("")
        wanted = dataset.id

        def loaded(detail: DatasetDetail) -> None:
            self.show_detail(wanted, detail)

        self.session.dataset_detail(ref=dataset.id, on_done=loaded, on_error=self._failed)

    def show_detail(self, dataset_id: str, detail: DatasetDetail) -> None:
        if not shiboken6.isValid(self.table):
            return
        current = self.selected()
        if current is None or current.id != dataset_id:
            return  # another row was picked meanwhile
        self.detail = detail
        dataset = detail.dataset
        size = detail.size_text
        self.facts.setText(
            f"{dataset.total_pairs:,} pairs · {size} · {dataset.bucket}/{dataset.storage_path}"
        )
        self.facts.setToolTip(f"{dataset.bucket}/{dataset.storage_path}")
        rows = [f"{i + 1}. {row_text(row)}" for i, row in enumerate(detail.first_rows)]
        self.preview.setText("\n".join(rows) or "(no rows to show)")
        if detail.jobs:
            names = ", ".join(f"“{job.name}” ({job.status.value})" for job in detail.jobs[:5])
            more = f" and {len(detail.jobs) - 5} more" if len(detail.jobs) > 5 else ""
            count = len(detail.jobs)
            self.used_by.setText(f"Used by {count} job{'s' if count != 1 else ''}: {names}{more}.")
            self.delete_button.setToolTip("A dataset is deleted once no job uses it: delete those jobs first")
        else:
            self.used_by.setText("No job uses it.")
            self.delete_button.setToolTip("")
        self.delete_button.setEnabled(not detail.jobs)

    # -- deleting --------------------------------------------------------------------------------
    def ask_delete(self) -> None:
        dataset = self.selected()
        if dataset is None or self._box is not None:
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Delete dataset",
            f"Delete “{dataset.name}” and its file? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.button(QMessageBox.StandardButton.Yes).setText("Delete")
        box.finished.connect(lambda result, wanted=dataset.id: self._delete_answered(wanted, result))
        self._box = box
        box.open()

    def _delete_answered(self, dataset_id: str, result: int) -> None:
        box, self._box = self._box, None
        if box is not None:
            box.deleteLater()
        if result != QMessageBox.StandardButton.Yes:
            return
        self.delete_button.setEnabled(False)
        self.session.delete_dataset(ref=dataset_id, on_done=self._deleted, on_error=self._failed)

    def _deleted(self, dataset: Dataset) -> None:
        if not shiboken6.isValid(self.table):
            return
        self.dataset_deleted.emit(dataset.id)
        self.error.hide()
        self.load()

    def _failed(self, error: BaseException) -> None:
        if shiboken6.isValid(self.error):
            self.error.setText(describe(error))
            self.error.show()
