"""Start the desktop app: Qt's event loop, the window at once, the database and scheduler behind it.

Qt's own loop carries the UI thread: the desktop's database and network work runs on worker
threads (`desktop/operations.py`) and the scheduler on an asyncio loop of its own thread
(`desktop/scheduler_thread.py`), so no asyncio loop runs on the UI thread (qasync is not needed).

`run_gui` shows the main window first (so it appears within the start budget), then opens the
workspace off the UI thread. A database that cannot be opened leads to the settings dialog with
the reason. In screenshot mode it renders the window at 1280×800 once the chosen job's charts
are filled, writes the PNG and exits, without starting the scheduler.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QMessageLogContext, QObject, QTimer, QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QMessageBox, QSystemTrayIcon

from core.config import Settings
from core.records import Job
from core.safe_text import printable
from core.trainer_python import needs_setup
from core.workspace import Workspace
from desktop import theme
from desktop.core_events import CoreEvents
from desktop.dialogs.settings_dialog import SettingsDialog
from desktop.first_run import offer_demo, wants_demo
from desktop.garbage import UiThreadGarbageCollector
from desktop.main_window import MainWindow
from desktop.notifications_panel import Notifier
from desktop.operations import Runner, describe
from desktop.quit_prompt import confirm_quit
from desktop.session import Session, open_workspace
from desktop.trainer_offer import (
    failed_for_want_of_a_trainer,
    just_failed,
    offer_setup_for_failed_job,
    open_setup,
)
from desktop.tray import AppTray

log = logging.getLogger(__name__)
SCREENSHOT_SIZE = (1280, 800)
SCREENSHOT_TIMEOUT_MS = 60_000
# Platform-plugin notices that say nothing to a user (the offscreen plugin prints one per window).
_QT_NOISE = ("This plugin does not support",)
_QT_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}


def _qt_message(kind: QtMsgType, _context: QMessageLogContext, text: str) -> None:
    """Qt's messages go through logging (one format, -v for detail), its plugin noise to debug."""
    level = (
        logging.DEBUG if any(noise in text for noise in _QT_NOISE) else _QT_LEVELS.get(kind, logging.WARNING)
    )
    logging.getLogger("qt").log(level, "%s", text)


class DesktopApp(QObject):
    """Owns the window, the session and the tray for the app's lifetime."""

    def __init__(
        self,
        app: QApplication,
        settings: Settings,
        *,
        screenshot: Path | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(app)
        self.garbage = UiThreadGarbageCollector(self)  # first: no widget may die off the UI thread
        self.app = app
        self.settings = settings
        self.screenshot = screenshot
        self.job_id = job_id
        self.exit_code = 0
        self.runner = Runner(self)
        self.events = CoreEvents(self)
        self.session: Session | None = None
        self._after_open: Callable[[], None] | None = None  # once the workspace is open again
        self._setup_offered = False  # for a failed job: once per run of the app
        # The next wait before opening a database that could not be reached (0: none failed).
        self._database_wait = 0.0
        self._database_retry = QTimer(self, singleShot=True)
        self._database_retry.timeout.connect(lambda: self.open(self.settings))
        self.window = MainWindow()
        self.tray = self._make_tray()
        self.window.notifier = Notifier(self.window.banner, self.tray, state=self.window.state, parent=self)
        self.window.settings_requested.connect(self.edit_settings)
        self.window.quit_requested.connect(self.ask_quit)
        self.quit_box: QMessageBox | None = None
        self.runner.failed.connect(lambda text: self.window.banner.show_message(text, kind="error"))
        self.events.jobs_updated.connect(self._offer_setup_for_failed_jobs)
        self.events.scheduler_stopped.connect(self._scheduler_stopped)

    def _scheduler_stopped(self, reason: str) -> None:
        """The embedded scheduler stopped by itself (the database moved past this build): say why
        in the window, and show it off in the status bar."""
        self.window.banner.show_message(printable(reason), kind="error", sticky=True)
        self.window.status.show_state()

    def _make_tray(self) -> AppTray | None:
        if self.screenshot is not None or not QSystemTrayIcon.isSystemTrayAvailable():
            return None
        tray = AppTray(self)
        tray.show_requested.connect(self.show_window)
        tray.pause_toggled.connect(self.window.status.set_paused)
        tray.quit_requested.connect(self.ask_quit)
        self.window.pause_button.toggled.connect(tray.set_paused)
        tray.show()
        return tray

    def start(self) -> None:
        if self.screenshot is not None:
            self.window.resize(*SCREENSHOT_SIZE)
            QTimer.singleShot(
                SCREENSHOT_TIMEOUT_MS, lambda: self._fail("timed out waiting for the job's data")
            )
        else:
            self.window.resize(1280, 800)
        self.window.show()
        self.open(self.settings)

    def open(self, settings: Settings) -> None:
        self._database_retry.stop()  # a retry pending is this open
        self.settings = settings
        self.window.state_label.setText("Opening the database…")
        open_workspace(self.runner, settings, on_done=self._opened, on_error=self._open_failed)

    def _opened(self, ws: Workspace) -> None:
        if self._database_wait:  # it answers again: the waiting banner has had its say
            self._database_wait = 0.0
            self.window.banner.dismiss()
        self.settings = ws.settings  # in team mode the user is the database role
        self.session = Session(ws, self.runner, self.events)
        if self.window.notifier is not None:
            self.window.notifier.announced = frozenset(ws.settings.notify)
        if self.screenshot is None:
            self.session.start_scheduler()
            self.window.loaded.connect(self._offer_demo)
            if self.job_id is not None:
                self.window.loaded.connect(self._select_asked_job)
        else:
            self.window.loaded.connect(self._select_for_screenshot)
        self.window.attach(self.session, live=self.screenshot is None)
        if self.tray is not None:
            self.tray.set_paused(False)
        then, self._after_open = self._after_open, None
        if then is not None:
            then()

    def _offer_demo(self) -> None:
        self.window.loaded.disconnect(self._offer_demo)
        if self.session is not None and wants_demo(self.settings, jobs_shown=self.window.model.rowCount()):
            setup = (lambda: self.set_up_training(then_demo=True)) if needs_setup(self.settings) else None
            offer_demo(
                self.window,
                self.session,
                on_answered=self._demo_answered,
                on_created=self.window.toolbar.show_created_job,
                on_error=self.window.show_error,
                set_up_first=setup,
            )

    # -- local training --------------------------------------------------------------------------
    def set_up_training(self, *, then_demo: bool = False) -> None:
        """The setup dialog; once the trainer works, the workspace is opened anew (the local
        backend picks its trainer Python when it is made), then the demo starts if asked."""

        def ready(_result: object) -> None:
            self.reopen(self.settings, then=self._start_demo if then_demo else None)

        open_setup(self.window, self.settings, self.runner, on_ready=ready)

    def _start_demo(self) -> None:
        if self.session is not None:
            self.session.start_demo_job(
                on_done=self.window.toolbar.show_created_job, on_error=self.window.show_error
            )

    def _offer_setup_for_failed_jobs(self, jobs: list[Job]) -> None:
        if self._setup_offered or self.screenshot is not None:
            return
        job = failed_for_want_of_a_trainer(jobs)
        # A Trainer Python of the settings that lacks torch is no less a reason: the job says so.
        if job is not None and (needs_setup(self.settings) or just_failed(job)):
            self._setup_offered = True
            offer_setup_for_failed_job(self.window, job, on_setup=self.set_up_training)

    def _select_asked_job(self) -> None:
        """`loradesk gui --job ID`: select that job once the table is filled."""
        self.window.loaded.disconnect(self._select_asked_job)
        if self.job_id is not None and not self.window.select_job(self.job_id):
            self.window.banner.show_message(
                f"No job {self.job_id!r} for user {self.settings.user}.", kind="error", sticky=True
            )

    def _demo_answered(self, settings: Settings) -> None:
        self.settings = settings

    def _open_failed(self, error: BaseException) -> None:
        reason = describe(error)
        if getattr(error, "unreachable", False) and self.screenshot is None:
            self._wait_for_database(reason)
            return
        log.error("could not open the database: %s", reason)
        if self.screenshot is not None:
            self._fail(f"could not open the database: {reason}")
            return
        self.window.state_label.setText("No database")
        dialog = SettingsDialog(self.settings, self.runner, reason=reason, parent=self.window)
        dialog.saved.connect(self.open)
        dialog.rejected.connect(lambda: self.quit(1) if self.session is None else None)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def _wait_for_database(self, reason: str) -> None:
        """The database's server is down or restarting: say so once, in the window, and open
        again with back-off (1 s, doubling to 30 s) until it answers; Settings stays at hand."""
        if self._database_wait == 0:
            log.warning("%s; waiting for it (retrying with back-off)", reason)
            self.window.banner.show_message(
                f"{reason}. Waiting for the database; Loradesk keeps trying.", kind="warning", sticky=True
            )
        self.window.state_label.setText("Waiting for the database…")
        wait = self._database_wait or 1.0
        self._database_wait = min(wait * 2, 30.0)
        self._database_retry.start(int(wait * 1000))

    def edit_settings(self) -> None:
        connected_as = self.session.connected_as if self.session is not None else None
        dialog = SettingsDialog(self.settings, self.runner, connected_as=connected_as, parent=self.window)
        dialog.saved.connect(self.reopen_keeping_selection)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def reopen_keeping_selection(self, settings: Settings) -> None:
        """Saved settings open the workspace anew; the jobs selected before are selected again
        once the table has them (when the database is the same one)."""
        selected = self.window.table.selected_job_ids()

        def select_again() -> None:
            self.window.loaded.disconnect(select_again)
            if selected:
                self.window.table.select_jobs(selected)

        def then() -> None:
            self.window.loaded.connect(select_again)

        self.reopen(settings, then=then)

    def reopen(self, settings: Settings, *, then: Callable[[], None] | None = None) -> None:
        """Close the workspace (off the UI thread: the scheduler may be mid-cycle) and open anew;
        `then` runs once it is open."""
        self._after_open = then
        session = self.window.detach()
        self.session = None
        if session is None:
            self.open(settings)
            return
        self.runner.run(
            session.close, on_done=lambda _r: self.open(settings), on_error=lambda _e: self.open(settings)
        )

    def show_window(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()

    # -- screenshot ------------------------------------------------------------------------------
    def _select_for_screenshot(self) -> None:
        if self.job_id is None:
            if self.window.proxy.rowCount() == 0:
                QTimer.singleShot(300, self._grab)  # nothing to select: the empty window it is
                return
            self.window.table.selectRow(0)
        elif not self.window.select_job(self.job_id):
            self._fail(f"no job {self.job_id!r} for user {self.settings.user}")
            return
        self.window.detail_shown.connect(lambda _id: QTimer.singleShot(300, self._grab))

    def _grab(self) -> None:
        assert self.screenshot is not None
        self.screenshot.parent.mkdir(parents=True, exist_ok=True)
        if not self.window.grab().save(str(self.screenshot), "PNG"):
            self._fail(f"could not write {self.screenshot}")
            return
        self.quit(0)

    def _fail(self, message: str) -> None:
        if self.exit_code == 0 and not self.window.quitting:
            print(f"loradesk: {message}", file=sys.stderr)
            self.quit(1)

    # -- leaving ---------------------------------------------------------------------------------
    def ask_quit(self) -> None:
        """Ctrl+Q, the tray's Quit: with jobs still training, say they keep training first."""
        if self.window.quitting or self.quit_box is not None:
            return
        self.quit_box = confirm_quit(self.window, self.window.model.jobs(), self.quit)
        if self.quit_box is not None:
            self.quit_box.finished.connect(lambda _result: setattr(self, "quit_box", None))

    def quit(self, code: int = 0) -> None:
        if self.window.quitting:
            return
        self.shutdown(code)
        self.app.quit()

    def shutdown(self, code: int = 0) -> None:
        """Hide everything, stop the scheduler and close the database (the event loop goes on)."""
        self.exit_code = code
        self.window.quitting = True
        self.window.hide()
        if self.tray is not None:
            self.tray.hide()
        self.window.detach()  # stops the polls before the session goes
        session, self.session = self.session, None
        if session is not None:
            session.close()
        self.runner.shutdown()


def run_gui(settings: Settings, *, screenshot: Path | None = None, job_id: str | None = None) -> int:
    """Run the desktop app until it quits; returns the exit code."""
    if screenshot is not None and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    qInstallMessageHandler(_qt_message)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Loradesk")
    app.setOrganizationName("Loradesk")
    app.setDesktopFileName("loradesk")
    app.setWindowIcon(theme.app_icon())
    app.setQuitOnLastWindowClosed(False)  # the tray may keep the app; DesktopApp.quit ends it
    theme.install(app)
    desktop = DesktopApp(app, settings, screenshot=Path(screenshot) if screenshot else None, job_id=job_id)
    QTimer.singleShot(0, desktop.start)
    app.exec()
    return desktop.exit_code
