"""The main window: menu bar, toolbar, job table, monitor, notifications drawer, status bar.

Layout only. What the desktop knows is one `AppState`, fed by `Updates` (the one route from the
scheduler's events and the database's changes); the table, monitor, compare view and drawer
subscribe to it. The toolbar and the dialogs it opens are `window_actions`', the per-job actions
`job_actions`', what the selection shows below the table `selection_details`'. It is shown before
the database is open (`attach` comes later), so the first window appears at once.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMainWindow, QSplitter, QStackedWidget, QVBoxLayout, QWidget

from desktop import theme
from desktop.app_state import AppState
from desktop.banner import Banner
from desktop.compare_view import CompareView
from desktop.drawer import Drawer
from desktop.job_actions import JobActions
from desktop.jobs_model import JobFilterProxy, JobTableModel
from desktop.jobs_view import JobTableView
from desktop.menus import build_menu_bar
from desktop.monitor import JobMonitor
from desktop.notifications_panel import NotificationsPanel, Notifier
from desktop.operations import describe
from desktop.overlay import Pinned, bottom_toast
from desktop.queued_notice import QueuedNotice
from desktop.scheduler_status import SchedulerStatus
from desktop.selection_details import SelectionDetails, is_quiet
from desktop.session import Session
from desktop.updates import Updates
from desktop.window_actions import WindowActions

NO_JOBS = (
    "No jobs yet.\n\nAdd a dataset of prompt/completion pairs (Ctrl+D),\n"
    "then start a job on it with New job (Ctrl+N)."
)


class MainWindow(QMainWindow):
    """Signals:
    loaded(): the first jobs and notifications are on screen.
    detail_shown(str): the selected job's points are loaded and drawn.
    settings_requested(): the user asked for the settings dialog.
    quit_requested(): the window was closed for good (not hidden to the tray).
    """

    loaded = Signal()
    detail_shown = Signal(str)
    settings_requested = Signal()
    quit_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Loradesk")
        self.setWindowIcon(theme.app_icon())
        self.state = AppState(self)
        self.updates: Updates | None = None
        self.notifier: Notifier | None = None
        self.keep_in_tray = False
        self.quitting = False
        self.model = JobTableModel(self, state=self.state)
        self.proxy = JobFilterProxy(self)
        self.table = JobTableView(self.model, self.proxy)
        self.monitor = JobMonitor(self.state)
        self.compare = CompareView()
        self.banner = Banner()
        self.panel = NotificationsPanel(self.state)
        self._build()
        self.queued_notice = QueuedNotice(self.state, self.banner)
        self.selection = SelectionDetails(
            self.state, self.table, self.monitor, self.compare, self.details, self
        )
        self.job_actions = JobActions(self.state, self.table, self)
        self.toolbar = WindowActions(
            self.state,
            self.table,
            self,
            {
                "refresh_action": self.refresh,
                "notifications_action": self.drawer.toggle,
                "settings_action": self.settings_requested.emit,
                "export_action": self.monitor.choose_csv,
                "quit_action": self.quit_requested.emit,
                "compare_action": self.selection.compare_selected,
                "rules_action": self.job_actions.edit_rules_of_selected,
            },
        )
        self.search, self.status_filter = self.toolbar.search, self.toolbar.status_filter
        self.named_actions = {**self.toolbar.actions, **self.job_actions.actions}
        build_menu_bar(self, self.named_actions)
        self.status = SchedulerStatus(self.statusBar(), self.named_actions["pause_action"])
        self.state_label, self.pause_button = self.status.state_label, self.status.pause_button
        self._connect()
        QTimer(self, interval=1000, timeout=self.monitor.tick).start()

    def _build(self) -> None:
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        # Below the table: the monitor of the one selected job, or the compare view of several.
        self.details = QStackedWidget()
        self.details.addWidget(self.monitor)
        self.details.addWidget(self.compare)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 5)
        splitter.setSizes([230, 520])  # six rows of jobs above the monitor at 1280×800
        splitter.setChildrenCollapsible(False)
        self.table.setMinimumHeight(120)
        self.splitter = splitter
        self.details.hide()  # until a job is selected the table has the room
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 0, 8, 4)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(central)
        # Both float over the table and monitor: showing them moves and narrows nothing.
        Pinned(self.banner, central, bottom_toast(760))
        self.drawer = Drawer("Notifications", self.panel, central)

    def _connect(self) -> None:
        actions, toolbar, say = self.job_actions, self.toolbar, self.banner.show_message
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(actions.show_context_menu)
        actions.serve(self.monitor)
        actions.compare_asked.connect(self.selection.compare_with)
        actions.job_created.connect(toolbar.show_created_job)
        toolbar.job_created.connect(self.queued_notice.show_created)
        actions.message.connect(lambda text, kind: say(text, kind=kind))
        for source in (toolbar, self.monitor, self.monitor.continue_button, self.selection):
            source.message.connect(lambda text: say(text))
        self.selection.detail_shown.connect(self.detail_shown)
        self.selection.failed.connect(self.show_load_error)
        self.state.session_changed.connect(self.status.attach)
        self.panel.unread_changed.connect(toolbar.show_unread)
        self.panel.job_activated.connect(self.select_job)
        self.loaded.connect(lambda: self.table.set_empty_text(NO_JOBS))

    # -- the workspace ---------------------------------------------------------------------------
    @property
    def session(self) -> Session | None:
        return self.state.session

    def attach(self, session: Session, *, live: bool = True) -> None:
        """Show this workspace's jobs and follow its changes."""
        # Not the window's child: it outlives the window's widgets until `detach` stops it.
        self.updates = Updates(self.state, session, live=live)
        self.updates.loaded.connect(self.loaded)
        self.updates.failed.connect(self.show_load_error)
        self.keep_in_tray = session.settings.keep_in_tray
        self.state.set_session(session)
        self.updates.load()

    def detach(self) -> Session | None:
        """Stop following the workspace (before the settings reopen another one)."""
        session = self.state.session
        if self.updates is not None:
            self.updates.stop()
            self.updates.deleteLater()
            self.updates = None
        self.table.set_empty_text("")
        self.state.set_session(None)  # the state empties; the parts that read through it let go
        return session

    def refresh(self) -> None:
        """F5: every job and notification again, and the scheduler's next cycle now."""
        if self.updates is not None:
            self.selection.reload_compared()
            self.updates.refresh()

    def select_job(self, job_id: str) -> bool:
        return self.table.select_job(job_id)

    def show_load_error(self, error: BaseException) -> None:
        """A load that failed, in the banner; a job deleted meanwhile says nothing here."""
        if not is_quiet(error):
            self.banner.show_message(f"Could not load: {describe(error)}", kind="error", sticky=True)

    def show_error(self, error: BaseException) -> None:
        self.banner.show_message(describe(error), kind="error", sticky=True)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.quitting and self.keep_in_tray and self.notifier is not None and self.notifier.uses_tray:
            event.ignore()
            self.hide()
            return
        event.accept()
        self.monitor.try_tabs.close()  # the playground's model memory goes with the window
        self.quit_requested.emit()
