"""Set up local training: the trainer environment made from the app, with pip's progress.

The setup (`core.trainer_setup`) runs on a worker thread through the Runner; its progress and log
lines come back through queued signals. Cancel stops pip and removes the partial environment, so
nothing is left half-installed; closing the window while it runs is a Cancel.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.config import Settings
from core.trainer_python import env_dir
from core.trainer_setup import NoPythonError, SetupCancelled, SetupOptions, SetupReporter, setup_trainer
from desktop.operations import Runner, describe

TITLE = "Set up local training"
CHOOSE_PYTHON = "Choose Python…"
_LOG_LINES = 5000


class _SignalReporter(SetupReporter):
    """Hands the worker thread's progress to the dialog through its (queued) signals."""

    def __init__(self, dialog: TrainerSetupDialog) -> None:
        self.dialog = dialog

    def progress(self, percent: float, stage: str) -> None:
        self.dialog.progressed.emit(percent, stage)

    def log(self, line: str) -> None:
        self.dialog.logged.emit(line)


class TrainerSetupDialog(QDialog):
    """Signals:
    ready(SetupResult): the trainer environment works; local jobs can run.
    progressed(float, str): percent done and what happens now (from the worker thread).
    logged(str): one line of the setup's log, pip's among it (from the worker thread).
    """

    ready = Signal(object)
    progressed = Signal(float, str)
    logged = Signal(str)

    def __init__(
        self,
        settings: Settings,
        runner: Runner,
        *,
        options: SetupOptions | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.settings = settings
        self.runner = runner
        self.options = options or SetupOptions()
        self.running = False
        self._cancel = threading.Event()
        intro = QLabel(
            "Loradesk trains on this machine with torch, transformers, peft and safetensors. It installs"
            f" them once, with pip, into a Python environment of its own:\n{env_dir(settings.home)}\n"
            "This needs a package index (pip's usual configuration) and 1–3 GB of disk.",
            wordWrap=True,
        )
        intro.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stage = QLabel("Starting…", wordWrap=True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.error = QLabel(objectName="FieldError", wordWrap=True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()
        self.details = QToolButton(text="Details", checkable=True, autoRaise=True)
        self.details.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details.setArrowType(Qt.ArrowType.RightArrow)
        self.details.toggled.connect(self._toggle_details)
        self.log_view = QPlainTextEdit(readOnly=True)
        self.log_view.setMaximumBlockCount(_LOG_LINES)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log_view.hide()
        self.buttons = QDialogButtonBox()
        self.choose_button = self.buttons.addButton(CHOOSE_PYTHON, QDialogButtonBox.ButtonRole.ActionRole)
        self.choose_button.clicked.connect(self._choose_python)
        self.choose_button.hide()
        self.retry_button = self.buttons.addButton("Try again", QDialogButtonBox.ButtonRole.ActionRole)
        self.retry_button.clicked.connect(self.start)
        self.retry_button.hide()
        self.cancel_button: QPushButton = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.clicked.connect(self.cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.stage)
        layout.addWidget(self.bar)
        layout.addWidget(self.error)
        layout.addWidget(self.details, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.log_view, 1)
        layout.addWidget(self.buttons)
        self.progressed.connect(self._show_progress, Qt.ConnectionType.QueuedConnection)
        self.logged.connect(self.log_view.appendPlainText, Qt.ConnectionType.QueuedConnection)
        self.resize(620, self.sizeHint().height())

    # -- running ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Run the setup off the UI thread."""
        self.running = True
        self._cancel = threading.Event()
        self.error.hide()
        self.choose_button.hide()
        self.retry_button.hide()
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        self.bar.setValue(0)
        self.stage.setText("Starting…")
        self.runner.run(
            setup_trainer,
            self.settings.home,
            replace(self.options, how_to_choose=CHOOSE_PYTHON),
            reporter=_SignalReporter(self),
            cancel=self._cancel,
            on_done=self._done,
            on_error=self._failed,
        )

    def cancel(self) -> None:
        """Cancel stops the setup (it removes what it made) and then closes; idle, it just closes."""
        if not self.running:
            self.reject()
            return
        self._cancel.set()
        self.cancel_button.setEnabled(False)
        self.stage.setText("Cancelling: stopping pip and removing the partial environment…")

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.running:
            event.ignore()
            self.cancel()
            return
        super().closeEvent(event)

    def reject(self) -> None:
        if self.running:  # Esc while it runs
            self.cancel()
            return
        super().reject()

    # -- results ---------------------------------------------------------------------------------
    def _show_progress(self, percent: float, stage: str) -> None:
        if self._cancel.is_set():
            return
        self.bar.setValue(round(percent))
        self.stage.setText(stage)

    def _done(self, result: object) -> None:
        self.running = False
        self.bar.setValue(100)
        summary = getattr(result, "summary", lambda: "")()
        self.stage.setText(f"Local training is ready ({summary}).")
        self.cancel_button.setText("Close")
        self.cancel_button.setEnabled(True)
        self.ready.emit(result)

    def _failed(self, error: BaseException) -> None:
        self.running = False
        if isinstance(error, SetupCancelled):
            super().reject()
            return
        self.stage.setText("The setup stopped; nothing was changed.")
        self.error.setText(describe(error))
        self.error.show()
        self.choose_button.setVisible(isinstance(error, NoPythonError))
        self.retry_button.show()
        self.cancel_button.setText("Close")
        self.cancel_button.setEnabled(True)

    # -- details and choices ---------------------------------------------------------------------
    def _toggle_details(self, shown: bool) -> None:
        self.details.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.log_view.setVisible(shown)
        self.resize(self.width(), 520 if shown else self.sizeHint().height())

    def _choose_python(self) -> None:
        dialog = QFileDialog(self, "Choose a Python 3.11 or newer")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(self.use_python)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def use_python(self, path: str) -> None:
        """Build on the Python the person chose, and start again."""
        self.options = replace(self.options, python=path)
        self.start()
