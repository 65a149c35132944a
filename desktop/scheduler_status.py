"""The status bar's word on the embedded scheduler (off, paused, running every N s), who and
where the workspace is, and the Pause button that the Jobs menu's Pause scheduler mirrors."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QStatusBar, QToolButton

from desktop.session import Session


class SchedulerStatus(QObject):
    """The scheduler's state in `bar`, and pausing it from the button or `pause_action`."""

    def __init__(self, bar: QStatusBar, pause_action: QAction) -> None:
        super().__init__(bar)
        self.session: Session | None = None
        self.pause_action = pause_action
        self.state_label = QLabel("Opening the database…")
        self.where_label = QLabel(objectName="Muted")
        self.pause_button = QToolButton(text="Pause", checkable=True, autoRaise=True)
        self.pause_button.setToolTip("Pause or resume the embedded scheduler")
        self.pause_button.toggled.connect(self.set_paused)
        self.pause_button.setVisible(False)
        pause_action.triggered.connect(self.set_paused)
        bar.addWidget(self.state_label, 1)
        bar.addPermanentWidget(self.where_label)
        bar.addPermanentWidget(self.pause_button)

    def attach(self, session: Session | None) -> None:
        self.session = session
        if session is None:
            self.state_label.setText("Opening the database…")
            return
        settings = session.settings
        self.where_label.setText(
            f"{settings.user} · {_short_url(settings.database_url)} · {settings.cluster}"
        )
        self.show_state()

    def set_paused(self, paused: bool) -> None:
        scheduler = self.session.scheduler if self.session else None
        if scheduler is not None and scheduler.paused != paused:
            scheduler.pause() if paused else scheduler.resume()
        self.show_state()

    def show_state(self) -> None:
        scheduler = self.session.scheduler if self.session else None
        if self.session is None or scheduler is None:
            text = "Scheduler off"
        elif not scheduler.running:
            text = "Scheduler stopped"
        elif scheduler.paused:
            text = "Scheduler paused"
        else:
            text = f"Scheduler running · every {self.session.settings.poll_interval:g} s"
        self.state_label.setText(text)
        paused = bool(scheduler and scheduler.paused)
        self.pause_button.setVisible(scheduler is not None)
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(paused)
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.blockSignals(False)
        self.pause_action.blockSignals(True)
        self.pause_action.setEnabled(scheduler is not None)
        self.pause_action.setChecked(paused)
        self.pause_action.blockSignals(False)


def _short_url(url: str) -> str:
    """The database URL without a password, shortened for the status bar."""
    scheme, _, rest = url.partition("://")
    if "@" in rest:
        rest = rest.split("@", 1)[1]
    text = f"{scheme}://{rest}"
    return text if len(text) <= 48 else f"{text[:20]}…{text[-24:]}"
