"""The main window: menu bar, toolbar, job table, monitor, notifications drawer, status bar.

Layout only. What the desktop knows is one `AppState`, fed by `Updates` (the one route from the
scheduler's events and the database's changes); the table, monitor, compare view and drawer
subscribe to it. The toolbar is `window_actions`', the per-job actions `job_actions`', what the
selection shows below the table `selection_details`'. It is shown before the database is open
(`attach` comes later), so the first window appears at once.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMainWindow, QSplitter, QStackedWidget, QVBoxLayout, QWidget

from core.records import Job, Notification
from desktop import theme
from desktop.app_state import AppState, Change, Deleted
from desktop.banner import Banner
from desktop.compare_view import CompareView
from desktop.datasets_view import DatasetsDialog
from desktop.dialogs.add_dataset import AddDatasetDialog
from desktop.dialogs.new_job import NewJobDialog
from desktop.drawer import Drawer
from desktop.job_actions import JobActions
from desktop.jobs_model import JobFilterProxy, JobTableModel
from desktop.jobs_view import JobTableView
from desktop.menus import ShortcutsDialog, build_menu_bar, show_about
from desktop.monitor import JobMonitor
from desktop.notifications_panel import NotificationsPanel, Notifier
from desktop.operations import describe
from desktop.overlay import Pinned, bottom_toast
from desktop.queued_notice import QueuedNotice
from desktop.scheduler_status import SchedulerStatus
from desktop.selection_details import SelectionDetails, is_quiet
from desktop.session import Session
from desktop.updates import Updates
from desktop.window_actions import NEED_A_WORKSPACE, build_actions

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
        self.job_actions = JobActions(self.state, self.table, self)
        self.selection = SelectionDetails(
            self.state, self.table, self.monitor, self.compare, self.details, self
        )
        toolbar = build_actions(self, self.proxy, self._slots())
        self.named_actions = {**toolbar.actions, **self.job_actions.actions}
        self.toolbar, self.search, self.status_filter = toolbar, toolbar.search, toolbar.status_filter
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

    def _slots(self) -> dict[str, Callable[..., object]]:
        return {
            "new_job_action": self.new_job,
            "add_dataset_action": self.add_dataset,
            "datasets_action": self.show_datasets,
            "refresh_action": self.refresh,
            "notifications_action": self.drawer.toggle,
            "settings_action": self.settings_requested.emit,
            "export_action": self.monitor.choose_csv,
            "quit_action": self.quit_requested.emit,
            "compare_action": self.selection.compare_selected,
            "rules_action": self.job_actions.edit_rules_of_selected,
            "shortcuts_action": self.show_shortcuts,
            "about_action": lambda: show_about(self),
        }

    def _connect(self) -> None:
        actions, monitor, say = self.job_actions, self.monitor, self.banner.show_message
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(actions.show_context_menu)
        monitor.addAction(self.named_actions["cancel_action"])
        actions.message.connect(lambda text, kind: say(text, kind=kind))
        actions.job_created.connect(self.show_created_job)
        actions.cancel_asked.connect(monitor.request_cancel)
        actions.compare_asked.connect(self.selection.compare_with)
        actions.try_asked.connect(self.try_adapter)
        monitor.cancel_confirmed.connect(
            lambda job_id: actions.cancel_confirmed(job_id, failed=monitor.cancel_failed)
        )
        monitor.clone_requested.connect(
            lambda job_id, retry: actions.retry(job_id) if retry else actions.clone(job_id)
        )
        monitor.open_adapter_requested.connect(actions.open_adapter)
        monitor.copy_adapter_requested.connect(actions.copy_adapter)
        monitor.export_adapter_requested.connect(actions.export_adapter)
        monitor.rules_edit_requested.connect(actions.edit_rules)
        monitor.export_requested.connect(actions.export_csv)
        monitor.message.connect(lambda text: say(text))
        monitor.continue_button.message.connect(lambda text: say(text))
        monitor.continue_button.job_created.connect(self.show_created_job)
        editor = monitor.notes_editor
        editor.save_requested.connect(
            lambda job_id, notes, tags: actions.save_labels(
                job_id, notes, tags, saved=editor.saved, failed=lambda why: editor.save_failed(job_id, why)
            )
        )
        self.selection.detail_shown.connect(self.detail_shown)
        self.selection.message.connect(lambda text: say(text))
        self.selection.failed.connect(self.show_load_error)
        self.state.jobs_deleted.connect(self._jobs_deleted)
        self.state.notifications_added.connect(self._announce)
        self.panel.unread_changed.connect(self._unread_changed)
        self.panel.job_activated.connect(self.select_job)
        self.loaded.connect(lambda: self.table.set_empty_text(NO_JOBS))

    # -- the workspace ---------------------------------------------------------------------------
    @property
    def session(self) -> Session | None:
        return self.state.session

    def attach(self, session: Session, *, live: bool = True) -> None:
        """Show this workspace's jobs and follow its changes."""
        self.state.session = session
        # Not the window's child: it outlives the window's widgets until `detach` stops it.
        self.updates = Updates(self.state, session, live=live)
        self.updates.loaded.connect(self.loaded)
        self.updates.failed.connect(self.show_load_error)
        self.monitor.log_view.reader = session.read_job_log
        self.monitor.samples_view.reader = session.samples_after
        self.monitor.try_tabs.settings = session.settings
        self.monitor.continue_button.session = self.monitor.earlier_run.session = session
        self.keep_in_tray = session.settings.keep_in_tray
        self.status.attach(session)
        for name in NEED_A_WORKSPACE:
            self.named_actions[name].setEnabled(True)
        self.updates.load()

    def detach(self) -> Session | None:
        """Stop following the workspace (before the settings reopen another one)."""
        session, self.state.session = self.state.session, None
        if self.updates is not None:
            self.updates.stop()
            self.updates.deleteLater()
            self.updates = None
        self.monitor.log_view.reader = None
        self.monitor.samples_view.reader = None
        self.monitor.try_tabs.close()
        self.monitor.try_tabs.settings = None
        self.monitor.continue_button.session = self.monitor.earlier_run.session = None
        self.table.set_empty_text("")
        self.state.select([])
        self.state.apply(Change(all_jobs=True))
        self.selection.stop()
        self.status.attach(None)
        return session

    def show_load_error(self, error: BaseException) -> None:
        """A load that failed, in the banner; a job deleted meanwhile says nothing here."""
        if not is_quiet(error):
            self.banner.show_message(f"Could not load: {describe(error)}", kind="error", sticky=True)

    def show_error(self, error: BaseException) -> None:
        self.banner.show_message(describe(error), kind="error", sticky=True)

    def _jobs_deleted(self, deleted: Deleted) -> None:
        """A job on screen that went elsewhere says so, rather than vanishing without a word."""
        if deleted.elsewhere and deleted.shown:
            shown = ", ".join(f"“{job.name}”" for job in deleted.shown)
            verb = "was" if len(deleted.shown) == 1 else "were"
            self.banner.show_message(
                f"{shown} {verb} deleted elsewhere (another window, machine or command)."
            )

    def _announce(self, notes: list[Notification]) -> None:
        for note in notes:
            if self.notifier is not None:
                self.notifier.announce(note)

    def _unread_changed(self, count: int) -> None:
        self.named_actions["notifications_action"].setText(
            f"Notifications ({count})" if count else "Notifications"
        )

    # -- the toolbar's -----------------------------------------------------------------------------
    def select_job(self, job_id: str) -> bool:
        return self.table.select_job(job_id)

    def new_job(self) -> NewJobDialog | None:
        if self.session is None:
            return None
        # With a job selected the form starts from its dataset and settings.
        dialog = NewJobDialog(self.session, self, like=self.state.job(self.table.selected_job_id()))
        dialog.job_created.connect(self.show_created_job)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def show_created_job(self, job: Job) -> None:
        self.state.apply(Change(jobs=(job,)))
        self.proxy.set_text("")
        self.search.clear()
        self.select_job(job.id)
        settings = self.session.settings if self.session is not None else None
        slots = settings.local_max_jobs if settings is not None and settings.cluster == "local" else None
        self.queued_notice.show(job, slots=slots)

    def add_dataset(self) -> None:
        if self.session is None:
            return
        dialog = AddDatasetDialog(self.session, self)
        dialog.dataset_added.connect(
            lambda ds: self.banner.show_message(f"Added dataset “{ds.name}” with {ds.total_pairs:,} pairs.")
        )
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def show_datasets(self) -> DatasetsDialog | None:
        """File → Datasets…: list, preview and delete datasets."""
        if self.session is None:
            return None
        dialog = DatasetsDialog(self.session, self)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def refresh(self) -> None:
        if self.session is None or self.updates is None:
            return
        if self.session.scheduler is not None:
            self.session.scheduler.wake()
        self.compare.show_jobs([])  # compared jobs load again once the table has them again
        self.updates.load()

    def try_adapter(self, job_id: str) -> None:
        """The Try tab, in the monitor of the job: it is selected to show it."""
        job = self.state.job(job_id)
        if job is not None and self.select_job(job_id):
            self.monitor.try_tabs.open(job)

    def show_shortcuts(self) -> ShortcutsDialog:
        dialog = ShortcutsDialog(self.menuBar(), self)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.quitting and self.keep_in_tray and self.notifier is not None and self.notifier.uses_tray:
            event.ignore()
            self.hide()
            return
        event.accept()
        self.monitor.try_tabs.close()  # the playground's model memory goes with the window
        self.quit_requested.emit()
