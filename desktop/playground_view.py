"""The Try tab: a prompt, and the base model's and the adapter's answers streamed side by side.

The model runs in a playground process of the trainer's Python (core.adapters.playground_client), so the
app itself never holds torch or the model's memory. The tab opens in the monitor for the job on
screen; closing it (its ×, another job, the app quitting) ends the process.
"""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabBar,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.adapters.files import base_model_of
from core.adapters.playground_client import (
    Decoding,
    Failed,
    Finished,
    PlaygroundProcess,
    Ready,
    SideDone,
    Token,
    open_playground,
)
from core.config import Settings
from core.errors import LoradeskError
from core.records import Job
from core.safe_text import printable

TAB_TITLE = "Try"


class PlaygroundConnection(QObject):
    """One playground process, seen from the UI thread: its events arrive as signals.

    Signals:
        progress(int, int, str): bytes done, bytes in all, stage (fetching the adapter).
        ready(object): the model is loaded (a `Ready`).
        token(int, str, str): request, side ("base" or "adapter"), new text.
        side_done(object): one side's answer ended (a `SideDone`).
        finished(int): both answers to this request ended.
        failed(str): a request was refused, or the playground could not start or stopped.
        ended(): the process is gone.
    """

    progress = Signal(int, int, str)
    ready = Signal(object)
    token = Signal(int, str, str)
    side_done = Signal(object)
    finished = Signal(int)
    failed = Signal(str)
    ended = Signal()

    def __init__(self, settings: Settings, job: Job, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.job = job
        self.process: PlaygroundProcess | None = None
        self._closed = False
        self._lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._run, name="playground-events", daemon=True).start()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def ask(self, prompt: str, decoding: Decoding) -> int | None:
        if self.process is None:
            return None
        try:
            return self.process.ask(prompt, decoding)
        except LoradeskError as exc:
            self.failed.emit(str(exc))
            return None

    def stop(self) -> None:
        if self.process is not None:
            try:
                self.process.stop()
            except LoradeskError:
                pass  # it has ended, which its own events report

    def close(self) -> None:
        """End the process without waiting for it on the UI thread."""
        with self._lock:
            self._closed = True
            process = self.process
        if process is not None:
            threading.Thread(target=process.close, name="playground-close", daemon=True).start()

    def _run(self) -> None:
        try:
            process = open_playground(self.settings, self.job, self.progress.emit)
        except LoradeskError as exc:
            self.failed.emit(str(exc))
            self.ended.emit()
            return
        with self._lock:
            self.process = process
            if self._closed:  # the tab closed while the adapter was being fetched
                process.close()
                return
        for event in process.events():
            if isinstance(event, Token):
                self.token.emit(event.request, event.side, event.text)
            elif isinstance(event, SideDone):
                self.side_done.emit(event)
            elif isinstance(event, Finished):
                self.finished.emit(event.request)
            elif isinstance(event, Ready):
                self.ready.emit(event)
            elif isinstance(event, Failed) and not self._closed:
                self.failed.emit(event.message)
        self.ended.emit()


class PromptBox(QPlainTextEdit):
    """Enter sends the prompt; Shift+Enter starts a new line."""

    submitted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class AnswerPane(QWidget):
    def __init__(self, title: str) -> None:
        super().__init__()
        self.title = QLabel(title, objectName="SectionTitle")
        self.text = QPlainTextEdit(readOnly=True)
        self.footer = QLabel(objectName="Muted")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.footer)

    def append(self, text: str) -> None:
        cursor = self.text.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        cursor.insertText(printable(text, lines=True))
        self.text.setTextCursor(cursor)


class PlaygroundView(QWidget):
    """The Try tab of one job: loads the model when made, answers each prompt twice."""

    def __init__(self, settings: Settings, job: Job, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self.request: int | None = None
        self.asked_at = 0.0
        # No parent: its reader thread may still be emitting after the tab is gone.
        self.connection = PlaygroundConnection(settings, job)
        self._build()
        c = self.connection
        c.progress.connect(self._show_progress, Qt.ConnectionType.QueuedConnection)
        c.ready.connect(self._ready, Qt.ConnectionType.QueuedConnection)
        c.token.connect(self._token, Qt.ConnectionType.QueuedConnection)
        c.side_done.connect(self._side_done, Qt.ConnectionType.QueuedConnection)
        c.finished.connect(self._finished, Qt.ConnectionType.QueuedConnection)
        c.failed.connect(self._failed, Qt.ConnectionType.QueuedConnection)
        c.ended.connect(self._ended, Qt.ConnectionType.QueuedConnection)
        self.status.setText(f"Loading the base model with {_adapter_words(job)}…")
        c.start()

    def _build(self) -> None:
        self.status = QLabel(wordWrap=True)
        self.download = QProgressBar(maximum=1000, textVisible=False, visible=False)
        self.prompt = PromptBox(
            placeholderText="A prompt for both models (Enter sends, Shift+Enter: new line)"
        )
        self.prompt.setMaximumHeight(90)
        self.prompt.submitted.connect(self.send)
        defaults = Decoding()
        self.temperature = QDoubleSpinBox(
            minimum=0.0, maximum=2.0, singleStep=0.1, value=defaults.temperature
        )
        self.temperature.setToolTip("0 answers greedily: the same answer every time")
        self.top_p = QDoubleSpinBox(minimum=0.05, maximum=1.0, singleStep=0.05, value=defaults.top_p)
        self.max_tokens = QSpinBox(minimum=1, maximum=4096, singleStep=32, value=defaults.max_new_tokens)
        self.chat_template = QCheckBox("Chat template", enabled=False)
        self.chat_template.setToolTip("Wrap the prompt in the model's chat template, as a user turn")
        self.send_button = QPushButton("Send", enabled=False, default=True)
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop", enabled=False)
        self.stop_button.clicked.connect(self.stop)
        controls = QHBoxLayout()
        for label, field in (
            ("Temperature", self.temperature),
            ("Top-p", self.top_p),
            ("Max new tokens", self.max_tokens),
        ):
            controls.addWidget(QLabel(label))
            controls.addWidget(field)
        controls.addWidget(self.chat_template)
        controls.addStretch(1)
        controls.addWidget(self.send_button)
        controls.addWidget(self.stop_button)
        self.base_pane = AnswerPane(f"Base model ({printable(base_model_of(self.job))})")
        self.adapter_pane = AnswerPane("With the adapter")
        panes = QSplitter(Qt.Orientation.Horizontal)
        panes.addWidget(self.base_pane)
        panes.addWidget(self.adapter_pane)
        panes.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addWidget(self.status)
        layout.addWidget(self.download)
        layout.addWidget(self.prompt)
        layout.addLayout(controls)
        layout.addWidget(panes, 1)

    @property
    def panes(self) -> dict[str, AnswerPane]:
        return {"base": self.base_pane, "adapter": self.adapter_pane}

    def send(self) -> None:
        """Ask both models; an answer still under way is stopped by the new question."""
        prompt = self.prompt.toPlainText()
        if not prompt.strip() or not self.send_button.isEnabled():
            return
        decoding = Decoding(
            temperature=round(self.temperature.value(), 3),
            top_p=round(self.top_p.value(), 3),
            max_new_tokens=self.max_tokens.value(),
            chat_template=self.chat_template.isChecked(),
        )
        for pane in self.panes.values():
            pane.text.clear()
            pane.footer.setText("")
        self.asked_at = time.monotonic()
        self.request = self.connection.ask(prompt, decoding)
        self.stop_button.setEnabled(self.request is not None)

    def stop(self) -> None:
        self.connection.stop()

    def close_playground(self) -> None:
        """End the playground process (the tab is closing)."""
        self.stop_button.setEnabled(False)
        self.send_button.setEnabled(False)
        self.connection.close()

    # -- the playground's events -----------------------------------------------------------------
    def _show_progress(self, done: int, total: int, stage: str) -> None:
        self.download.setVisible(done < total)
        self.download.setValue(round(1000 * done / total) if total else 0)
        self.status.setText(f"{stage.capitalize()}… {100 * done // max(total, 1)} %")

    def _ready(self, ready: Ready) -> None:
        self.download.hide()
        where = "the GPU" if ready.device == "cuda" else "the CPU"
        self.status.setText(
            f"{ready.base_model} and {_adapter_words(self.job)} loaded on {where} in {ready.seconds:.1f} s."
            " Closing this tab frees their memory."
        )
        self.chat_template.setEnabled(True)
        if not ready.chat_template:
            self.chat_template.setToolTip(
                "This base model has no chat template: the prompt takes Loradesk's built-in chat"
                " layout, as chat datasets train with it"
            )
        self.send_button.setEnabled(True)
        self.prompt.setFocus()

    def _token(self, request: int, side: str, text: str) -> None:
        if request == self.request:
            self.panes[side].append(text)

    def _side_done(self, done: SideDone) -> None:
        if done.request != self.request:
            return
        ended = "stopped" if done.stopped else "ended"
        rate = f", {done.tokens / done.seconds:.0f} tokens/s" if done.seconds > 0 and done.tokens else ""
        self.panes[done.side].footer.setText(f"{done.tokens} tokens, {ended}{rate}")

    def _finished(self, request: int) -> None:
        if request == self.request:
            self.stop_button.setEnabled(False)

    def _failed(self, message: str) -> None:
        self.status.setText(printable(message))
        self.status.setObjectName("FieldError")
        self.status.style().polish(self.status)

    def _ended(self) -> None:
        self.send_button.setEnabled(False)
        self.stop_button.setEnabled(False)
        self.download.hide()


class TryTabs(QObject):
    """The monitor's Try tab: opened for the job on screen, closed by its ×, by another job
    taking the screen, or by the window closing; closing ends its playground process."""

    def __init__(self, tabs: QTabWidget) -> None:
        super().__init__(tabs)
        self.tabs = tabs
        self.settings: Settings | None = None
        self.view: PlaygroundView | None = None

    def open(self, job: Job) -> PlaygroundView | None:
        if self.view is not None and self.view.job.id == job.id:
            self.tabs.setCurrentWidget(self.view)
            return self.view
        self.close()
        if self.settings is None:
            return None
        view = PlaygroundView(self.settings, job)
        index = self.tabs.addTab(view, TAB_TITLE)
        close = QToolButton(text="×", autoRaise=True)
        close.setToolTip("Close the playground and free the model's memory")
        close.clicked.connect(self.close)
        self.tabs.tabBar().setTabButton(index, QTabBar.ButtonPosition.RightSide, close)
        self.tabs.setCurrentIndex(index)
        self.view = view
        return view

    def close(self) -> None:
        view, self.view = self.view, None
        if view is None:
            return
        view.close_playground()
        self.tabs.removeTab(self.tabs.indexOf(view))
        view.deleteLater()

    def show_job(self, job: Job | None) -> None:
        """The monitor shows a job (or none): a Try tab of another job closes."""
        if self.view is not None and (job is None or job.id != self.view.job.id):
            self.close()


def _adapter_words(job: Job) -> str:
    return "the partial adapter" if job.artifact_partial else "the adapter"
