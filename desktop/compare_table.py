"""The compare view's table: the compared jobs side by side, one column each, differences marked.

Rows: status, the summary (best validation loss, final loss, throughput, tokens, wall time, cost,
base model, dataset), then every setting any of them has (defaults filled in) and the GPUs. A row whose
values differ between the jobs is bold on a tinted background; "Only differences" hides the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from core.jobs.summary import RunSummary
from core.records import Job
from core.safe_text import printable
from desktop import theme
from desktop.run_summary_view import setting_rows, summary_rows

LOADING = "…"


@dataclass(frozen=True)
class TableRow:
    label: str
    texts: tuple[str, ...]  # one per job, in column order
    differs: bool


class DifferencesTable(QTableWidget):
    """Compared jobs as columns; rows of settings and summary figures."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("CompareTable")
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setWordWrap(False)
        self.setAlternatingRowColors(True)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.horizontalHeader().setDefaultSectionSize(140)
        self.horizontalHeader().setTextElideMode(Qt.TextElideMode.ElideRight)
        self.verticalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self._jobs: list[Job] = []
        self._colours: list[str] = []
        self._summaries: dict[str, RunSummary] = {}
        self.only_differences = False

    def set_jobs(self, jobs: list[Job], colours: list[str]) -> None:
        self._jobs, self._colours, self._summaries = list(jobs), list(colours), {}
        self._fill()

    def update_job(self, job: Job) -> None:
        """A newer snapshot of a compared job (its status, its cost)."""
        for n, shown in enumerate(self._jobs):
            if shown.id == job.id:
                self._jobs[n] = job
                self._fill()
                return

    def set_summary(self, job_id: str, summary: RunSummary) -> None:
        self._summaries[job_id] = summary
        self._fill()

    def set_only_differences(self, on: bool) -> None:
        self.only_differences = on
        self._apply_filter()

    def rows(self) -> list[TableRow]:
        """What the table holds, row by row (hidden rows too), as a person reads it."""
        jobs = self._jobs
        rows: list[tuple[str, list[str]]] = [("Status", [_status(job) for job in jobs])]
        summaries = [summary_rows(self._summaries.get(job.id)) for job in jobs]
        for n, (label, _text) in enumerate(summaries[0] if summaries else []):
            rows.append((label, [per_job[n][1] for per_job in summaries]))
        settings = [{name: text for name, text, _default in setting_rows(job)} for job in jobs]
        names: list[str] = []  # every setting any of them has, base model aside (a summary row)
        for per_job in settings:
            names.extend(name for name in per_job if name not in names and name != "base_model")
        rows.extend((name, [per_job.get(name, "—") for per_job in settings]) for name in names)
        return [TableRow(label, tuple(texts), _differs(texts)) for label, texts in rows]

    def _fill(self) -> None:
        rows = self.rows()
        self.setColumnCount(len(self._jobs))
        # Up to three jobs share the width (long values elide, whole in their tooltips): no
        # sideways scrolling. More keep columns of their own width, and the table scrolls.
        mode = QHeaderView.ResizeMode.Stretch if len(self._jobs) <= 3 else QHeaderView.ResizeMode.Interactive
        self.horizontalHeader().setSectionResizeMode(mode)
        self.setRowCount(len(rows))
        for column, (job, colour) in enumerate(zip(self._jobs, self._colours, strict=True)):
            header = QTableWidgetItem(_swatch(colour), printable(job.name))
            header.setToolTip(printable(f"{job.name}\n{job.id}", lines=True))
            self.setHorizontalHeaderItem(column, header)
        tint = QColor(theme.current().charts.validation)
        tint.setAlpha(36)
        for row, table_row in enumerate(rows):
            label = QTableWidgetItem(table_row.label)
            font = label.font()
            font.setWeight(QFont.Weight.Bold if table_row.differs else QFont.Weight.Normal)
            label.setFont(font)
            self.setVerticalHeaderItem(row, label)
            for column, text in enumerate(table_row.texts):
                item = QTableWidgetItem(text)
                item.setFont(font)
                item.setToolTip(text)
                if table_row.differs:
                    item.setBackground(QBrush(tint))
                self.setItem(row, column, item)
        self._apply_filter(rows)

    def _apply_filter(self, rows: list[TableRow] | None = None) -> None:
        for row, table_row in enumerate(rows if rows is not None else self.rows()):
            self.setRowHidden(row, self.only_differences and not table_row.differs)

    def differing_labels(self) -> list[str]:
        return [row.label for row in self.rows() if row.differs]


def _differs(texts: list[str]) -> bool:
    """Values differ when two loaded ones are unequal (a value still loading differs from none)."""
    loaded = {text for text in texts if text != LOADING}
    return len(loaded) > 1


def _status(job: Job) -> str:
    return "cancelling" if job.is_cancelling else job.status.value


def _swatch(colour: str) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(colour))
    return QIcon(pixmap)
