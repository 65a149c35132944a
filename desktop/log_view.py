"""The monitor's Log tab: the selected job's trainer output, followed as it grows, with find and copy.

Pairs with `core/jobs/logs.py`. The view reads through a `LogReader` the window gives it (the
session's `read_job_log`, which runs off the UI thread), one read in flight at a time, from the
offset the last read ended at; only while the tab is on screen, once a second, until the job has
ended and a read brought nothing new.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QFontDatabase,
    QGuiApplication,
    QKeySequence,
    QShortcut,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.cluster.base import ClusterLogsUnavailableError
from core.errors import NotFoundError
from core.jobs.logs import JobLog
from core.records import Job
from core.safe_text import printable
from desktop.operations import describe

FOLLOW_INTERVAL_MS = 1000
NO_LOGS = "This cluster keeps no logs."
MAX_LINES = 200_000  # older lines scroll out of the view; `loradesk jobs logs` prints them all


class LogReader(Protocol):
    def __call__(
        self, *, job_id: str, offset: int, on_done: Callable[[JobLog], None], on_error: Callable[[Any], None]
    ) -> None: ...


class LogView(QWidget):
    """Signals:
    text_copied(str): the text put on the clipboard (the selection, or the whole log).
    """

    text_copied = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.reader: LogReader | None = None
        self.job: Job | None = None
        self.offset = 0
        self._reading = False
        self._complete = False  # the job has ended and its log has been read to the end
        self._timer = QTimer(self, interval=FOLLOW_INTERVAL_MS, timeout=self.read_more)
        self.text = QPlainTextEdit(readOnly=True, objectName="LogText")
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setMaximumBlockCount(MAX_LINES)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setPlaceholderText("No output yet")
        self.find_edit = QLineEdit(placeholderText="Find in log", clearButtonEnabled=True)
        self.find_edit.returnPressed.connect(self.find_next)
        self.find_edit.textChanged.connect(lambda _text: self._show_state())
        self.find_button = QPushButton("Find next")
        self.find_button.setToolTip("Find the next match (Enter or F3; Shift+F3 finds the previous)")
        self.find_button.clicked.connect(self.find_next)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the selected lines, or the whole log when nothing is selected")
        self.copy_button.clicked.connect(self.copy)
        self.state = QLabel(objectName="Muted")
        for key, backwards in ((QKeySequence("F3"), False), (QKeySequence("Shift+F3"), True)):
            shortcut = QShortcut(key, self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(lambda backwards=backwards: self.find_next(backwards=backwards))
        bar = QHBoxLayout()
        bar.addWidget(self.find_edit, 1)
        bar.addWidget(self.find_button)
        bar.addWidget(self.copy_button)
        bar.addWidget(self.state)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.text, 1)
        self._note = ""

    # -- following -------------------------------------------------------------------------------
    def show_job(self, job: Job | None) -> None:
        """Follow this job's log (None: none); the same job again keeps what is read."""
        if job is not None and self.job is not None and job.id == self.job.id:
            self.job = job
            if not job.status.is_terminal:
                self._complete = False
            self._follow()
            return
        self.job = job
        self.offset = 0
        self._complete = False
        self._note = ""
        self.text.clear()
        self.state.setText("")
        self._follow()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self._follow()

    def hideEvent(self, event: Any) -> None:
        super().hideEvent(event)
        self._timer.stop()  # an unseen log is not read

    def _follow(self) -> None:
        if self.job is None or self.reader is None or not self.isVisible() or self._complete:
            self._timer.stop()
            return
        if not self._timer.isActive():
            self._timer.start()
            self.read_more()

    def read_more(self) -> None:
        """Ask for what the log gained since the last read (one read at a time)."""
        if self.job is None or self.reader is None or self._reading or self._complete:
            return
        self._reading = True
        job_id = self.job.id
        self.reader(
            job_id=job_id,
            offset=self.offset,
            on_done=lambda log: self._read(job_id, log),
            on_error=lambda error: self._failed(job_id, error),
        )

    def _read(self, job_id: str, log: JobLog) -> None:
        self._reading = False
        if self.job is None or self.job.id != job_id:
            return  # another job was selected meanwhile
        if log.text:
            self._append(log.text)
        self.offset = log.next_offset
        self._note = log.note or ""
        if log.ended and not log.text:
            self._complete = True
            self._timer.stop()
        elif log.text:
            QTimer.singleShot(0, self, self.read_more)  # more may wait behind a full read
        self.state.setText(self._state_text())

    def _failed(self, job_id: str, error: BaseException) -> None:
        self._reading = False
        if self.job is None or self.job.id != job_id:
            return
        if isinstance(error, ClusterLogsUnavailableError | NotFoundError):
            self._complete = True  # nothing to follow; anything else is tried again next second
            self._timer.stop()
        self._note = NO_LOGS if isinstance(error, ClusterLogsUnavailableError) else describe(error)
        self.state.setText(self._state_text())

    def _append(self, text: str) -> None:
        """Add text at the end; the view follows it only while the reader is at the end."""
        text = printable(text, lines=True)  # a cluster's log: its escape sequences shown, not obeyed
        bar = self.text.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 2
        end = QTextCursor(self.text.document())  # not the view's cursor: a selection stays put
        end.movePosition(QTextCursor.MoveOperation.End)
        end.insertText(text)
        if at_end and not self.text.textCursor().hasSelection():
            bar.setValue(bar.maximum())

    def _state_text(self) -> str:
        if self._note:
            return self._note
        if self.job is None:
            return ""
        if self._complete:
            return "End of log"
        return "Following"

    def lines(self) -> list[str]:
        """The log as shown, line by line."""
        text = self.text.toPlainText()
        return text.splitlines() if text else []

    # -- find and copy ---------------------------------------------------------------------------
    def find_next(self, *, backwards: bool = False) -> bool:
        """Select the next match of the search text (wrapping round); False when there is none."""
        needle = self.find_edit.text()
        if not needle:
            return False
        flags = QTextDocument.FindFlag.FindBackward if backwards else QTextDocument.FindFlag(0)
        found = self.text.find(needle, flags)
        if not found:  # wrap to the start (or the end) and try once more
            cursor = self.text.textCursor()
            cursor.movePosition(cursor.MoveOperation.End if backwards else cursor.MoveOperation.Start)
            self.text.setTextCursor(cursor)
            found = self.text.find(needle, flags)
        self.state.setText(self._state_text() if found else f"“{needle}” not found")
        return bool(found)

    def _show_state(self) -> None:
        self.state.setText(self._state_text())

    def copy(self) -> str:
        """Copy the selection, or the whole log when nothing is selected; returns what was copied."""
        selected = self.text.textCursor().selectedText().replace("\u2029", "\n")
        text = selected or self.text.toPlainText()
        QGuiApplication.clipboard().setText(text)
        self.text_copied.emit(text)
        return str(text)
