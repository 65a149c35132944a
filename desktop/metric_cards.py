"""Small widgets of the monitor's header: metric cards, the status badge, the progress bar."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QProgressBar, QVBoxLayout, QWidget

from core.records import Job
from desktop import theme


class MetricCard(QFrame):
    """A titled number with a hint line beneath, e.g. "Training loss / 0.4213 / step 1,200"."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MetricCard")
        self.title = QLabel(title, objectName="MetricCardTitle")
        self.value = QLabel("—", objectName="MetricCardValue")
        self.hint = QLabel("", objectName="MetricCardHint")
        self.value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(1)
        layout.addWidget(self.title)
        layout.addWidget(self.value)
        layout.addWidget(self.hint)

    def set(self, value: str, hint: str = "") -> None:
        self.value.setText(value)
        self.hint.setText(hint)

    def text(self) -> str:
        return str(self.value.text())


class StatusBadge(QLabel):
    """The job's status as a coloured pill."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._job: Job | None = None
        theme.current().changed.connect(self._repaint)

    def show_job(self, job: Job | None) -> None:
        self._job = job
        self._repaint()

    def _repaint(self) -> None:
        if self._job is None:
            self.hide()
            return
        job = self._job
        colour = theme.current().status_color(job.status)
        text = "Cancelling…" if job.is_cancelling else job.status.value.capitalize()
        self.setText(text)
        self.setStyleSheet(
            f"QLabel {{ color: {colour.name()}; background: rgba({colour.red()}, {colour.green()},"
            f" {colour.blue()}, 40); border-radius: 10px; padding: 2px 10px; font-weight: 600; }}"
        )
        self.show()


class StatusProgressBar(QProgressBar):
    """The job's progress in its status's colour, as the table's progress column draws it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MonitorProgress")
        self.setTextVisible(False)
        self.setRange(0, 1000)
        self._job: Job | None = None
        theme.current().changed.connect(self._repaint)

    def show_job(self, job: Job | None) -> None:
        self._job = job
        self._repaint()

    def _repaint(self) -> None:
        if self._job is None:
            return
        colour = theme.current().status_color(self._job.status).name()
        self.setStyleSheet(f"QProgressBar::chunk {{ background: {colour}; border-radius: 4px; }}")
