"""The main window: menu bar, toolbar, job table, monitor, notifications drawer, status bar.

It is shown before the database is open (`attach` comes later), so the first window appears at
once. Every change reaches it as a record: events from this process, polls for other processes.
Its toolbar and own actions are built by `window_actions`; what the selection shows below the
table is `selection_details`'s; the per-job actions are `job_actions`'.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.errors import NotFoundError
from core.records import Job, MetricPoint, Notification
from desktop import theme
from desktop.banner import Banner
from desktop.compare_loader import CompareLoader
from desktop.compare_view import CompareView
from desktop.dialogs.add_dataset import AddDatasetDialog
from desktop.dialogs.new_job import NewJobDialog
from desktop.dialogs.rules_dialog import RulesDialog
from desktop.drawer import Drawer
from desktop.job_actions import JobActions
from desktop.jobs_model import JobFilterProxy, JobTableModel
from desktop.jobs_view import JobTableView
from desktop.live_updates import LiveUpdates
from desktop.menus import ShortcutsDialog, build_menu_bar
from desktop.metric_series import MetricSeries
from desktop.monitor import JobMonitor
from desktop.notifications_panel import NotificationsPanel, Notifier
from desktop.operations import describe
from desktop.overlay import Pinned, bottom_toast
from desktop.selection_details import SelectionDetails
from desktop.session import Session
from desktop.window_actions import build_actions

NO_JOBS = (
    "No jobs yet.\n\nAdd a dataset of prompt/completion pairs (Ctrl+D),\n"
    "then start a job on it with New job (Ctrl+N)."
)

FIRST_PAINT_POINTS = 50_000


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
        self.session: Session | None = None
        self.live: LiveUpdates | None = None
        self.notifier: Notifier | None = None
        self.keep_in_tray = False
        self.quitting = False
        # A longer series is first drawn thinned to this many points, then in full (None: never).
        self.first_paint_points: int | None = FIRST_PAINT_POINTS
        self._pending_loads: set[str] = set()
        self._loaded_jobs: list[Job] = []
        self._notes: list[Notification] = []
        self.model = JobTableModel(self)
        self.proxy = JobFilterProxy(self)
        self.table = JobTableView(self.model, self.proxy)
        self.monitor = JobMonitor()
        self.compare = CompareView()
        self.compare_loader = CompareLoader(self.compare, self)
        self.banner = Banner()
        self.panel = NotificationsPanel()
        self._build()
        build_actions(self)  # the toolbar, search, status filter, menu-only actions, Del
        self._build_job_actions()
        build_menu_bar(self)
        self.selection = SelectionDetails(self)
        self.table.job_selected.connect(self.selection.job_selected)
        self.table.jobs_selected.connect(self.selection.jobs_selected)
        self.compare_loader.failed.connect(self.show_load_error)
        self.monitor.cancel_confirmed.connect(self._cancel)
        self.monitor.export_requested.connect(self._export_csv)
        self.monitor.message.connect(lambda text: self.banner.show_message(text))
        self.monitor.rules_edit_requested.connect(self.edit_rules)
        self.monitor.continue_button.message.connect(lambda text: self.banner.show_message(text))
        self.monitor.continue_button.job_created.connect(self.show_created_job)
        self.panel.unread_changed.connect(self._unread_changed)
        self.panel.job_activated.connect(self.select_job)
        self.loaded.connect(lambda: self.table.set_empty_text(NO_JOBS))
        QTimer(self, interval=1000, timeout=self.monitor.tick).start()

    # -- layout ----------------------------------------------------------------------------------
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
        self.state_label = QLabel("Opening the database…")
        self.where_label = QLabel(objectName="Muted")
        self.pause_button = QToolButton(text="Pause", checkable=True, autoRaise=True)
        self.pause_button.setToolTip("Pause or resume the embedded scheduler")
        self.pause_button.toggled.connect(self.set_scheduler_paused)
        self.pause_button.setVisible(False)
        self.statusBar().addWidget(self.state_label, 1)
        self.statusBar().addPermanentWidget(self.where_label)
        self.statusBar().addPermanentWidget(self.pause_button)

    def _build_job_actions(self) -> None:
        """Clone, retry, delete, adapter and id: the Jobs menu, the row menu and the monitor's."""
        self.job_actions = actions = JobActions(self)
        self.clone_action, self.retry_action = actions.clone_action, actions.retry_action
        self.delete_action, self.copy_id_action = actions.delete_action, actions.copy_id_action
        self.open_adapter_action = actions.open_adapter_action
        self.copy_adapter_action = actions.copy_adapter_action
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(actions.show_context_menu)
        self.table.job_selected.connect(lambda _id: actions.update_enabled())
        self.monitor.clone_requested.connect(
            lambda job_id, retry: actions.retry(job_id) if retry else actions.clone(job_id)
        )
        self.monitor.open_adapter_requested.connect(actions.open_adapter)
        self.monitor.copy_adapter_requested.connect(actions.copy_adapter)
        self.monitor.notes_editor.save_requested.connect(self._save_labels)
        actions.update_enabled()

    # -- the workspace ---------------------------------------------------------------------------
    def attach(self, session: Session, *, live: bool = True) -> None:
        """Show this workspace's jobs and follow its changes."""
        self.session = session
        events = session.events
        events.jobs_updated.connect(self.apply_jobs)
        events.metrics_appended.connect(self.apply_metrics)
        events.notification_created.connect(lambda note: self.apply_notifications([note]))
        events.job_deleted.connect(self.remove_deleted_job)
        self.monitor.log_view.reader = session.read_job_log
        self.monitor.samples_view.reader = session.samples_after
        self.monitor.continue_button.session = self.monitor.earlier_run.session = session
        self.live = LiveUpdates(session, self) if live else None
        if self.live is not None:
            self.live.jobs_changed.connect(self.apply_jobs)
            self.live.jobs_deleted.connect(self.remove_jobs_deleted_elsewhere)
            self.live.jobs_listed.connect(self.keep_listed_jobs)
            self.live.metrics_polled.connect(self.monitor.append_columns)
            self.live.notifications_found.connect(self.apply_notifications)
        settings = session.settings
        self.keep_in_tray = settings.keep_in_tray
        self.where_label.setText(
            f"{settings.user} · {_short_url(settings.database_url)} · {settings.cluster}"
        )
        self.show_scheduler_state()
        for action in (self.new_job_action, self.add_dataset_action, self.refresh_action):
            action.setEnabled(True)
        self._load()

    def detach(self) -> Session | None:
        """Stop following the workspace (before the settings reopen another one)."""
        session, self.session = self.session, None
        if self.live is not None:
            self.live.stop()
            self.live.deleteLater()
            self.live = None
        if session is not None:
            for signal in (
                session.events.jobs_updated,
                session.events.metrics_appended,
                session.events.notification_created,
                session.events.job_deleted,
            ):
                signal.disconnect()
        self.monitor.log_view.reader = None
        self.monitor.samples_view.reader = None
        self.monitor.continue_button.session = self.monitor.earlier_run.session = None
        self.table.set_empty_text("")
        self.model.set_jobs([])
        self.monitor.clear()
        self.compare_loader.stop()
        self.compare.show_jobs([])
        self.state_label.setText("Opening the database…")
        return session

    def _load(self) -> None:
        assert self.session is not None
        self._pending_loads = {"jobs", "notifications"}
        self.session.list_jobs(on_done=self._jobs_loaded, on_error=self.show_load_error)
        self.session.list_notifications(on_done=self._notes_loaded, on_error=self.show_load_error)

    def _jobs_loaded(self, jobs: list[Job]) -> None:
        if self.session is None:
            return  # detached while it loaded
        selected = self.table.selected_job_ids()
        self.model.set_jobs(jobs)  # a reset: the selection goes without a signal
        self._loaded_jobs = jobs
        if selected and not self.table.select_jobs(selected):  # reselecting reloads the view
            self.selection.job_selected("")  # the jobs are gone (or filtered out): nothing is selected now
            self.selection.jobs_selected([])
        self._load_done("jobs")

    def _notes_loaded(self, notes: list[Notification]) -> None:
        if self.session is None:
            return
        self.panel.set_notifications(notes)
        self._notes = notes
        self._load_done("notifications")

    def _load_done(self, what: str) -> None:
        self._pending_loads.discard(what)
        if self._pending_loads:
            return
        if self.live is not None and not self.live.active:
            self.live.start(jobs=self._loaded_jobs, notifications=self._notes)
        self._loaded_jobs, self._notes = [], []
        self.loaded.emit()

    def show_load_error(self, error: BaseException) -> None:
        """A load that failed, in the banner; a job deleted meanwhile says nothing here."""
        if isinstance(error, NotFoundError):
            return  # deleted elsewhere while it loaded: the change query removes it and says so
        self.banner.show_message(f"Could not load: {describe(error)}", kind="error", sticky=True)

    def show_error(self, error: BaseException) -> None:
        self.banner.show_message(describe(error), kind="error", sticky=True)

    # -- changes ---------------------------------------------------------------------------------
    def apply_jobs(self, jobs: list[Job]) -> None:
        self.model.apply_jobs(jobs)
        self.job_actions.update_enabled()
        shown = self.monitor.job
        if shown is not None:
            latest = self.model.job(shown.id)
            if latest is not None and latest is not shown:
                self.monitor.update_job(latest)
        for job in jobs:
            if job.id in self.compare.job_ids:
                self.compare_loader.job_changed(job)

    def remove_deleted_job(self, job_id: str) -> None:
        """A job deleted here or elsewhere (its row, its notifications and, if shown, its monitor
        or its place in the compare view go)."""
        self.model.remove_job(job_id)  # a selected row leaving clears the monitor
        self.panel.remove_job(job_id)
        self.job_actions.update_enabled()

    def remove_jobs_deleted_elsewhere(self, job_ids: list[str]) -> None:
        """Jobs another app instance (or `loradesk jobs delete`) deleted; one that was on screen
        says so, rather than vanishing without a word."""
        on_screen = set(self.compare.job_ids) | ({self.monitor.job.id} if self.monitor.job else set())
        names = [job.name for job in map(self.model.job, job_ids) if job is not None and job.id in on_screen]
        for job_id in job_ids:
            self.remove_deleted_job(job_id)
        if names:
            shown = ", ".join(f"“{name}”" for name in names)
            verb = "was" if len(names) == 1 else "were"
            self.banner.show_message(
                f"{shown} {verb} deleted elsewhere (another window, machine or command)."
            )

    def keep_listed_jobs(self, jobs: list[Job], latest: int) -> None:
        """Every job as of change `latest` (a look from further back than deletions are kept):
        the rows it lacks were deleted meanwhile; newer rows (stamped after it) stay."""
        listed = {job.id for job in jobs}
        self.remove_jobs_deleted_elsewhere(
            [job.id for job in self.model.jobs() if job.id not in listed and job.change_seq <= latest]
        )

    def job_deleted_here(self, job: Job) -> None:
        self.remove_deleted_job(job.id)
        self.banner.show_message(f"Deleted “{job.name}” with its metrics, cost record and notifications.")

    def _save_labels(self, job_id: str, notes: str, tags: str) -> None:
        if self.session is None:
            return
        self.session.save_job_labels(
            job_id=job_id,
            notes=notes,
            tags=tags,
            on_done=self._labels_saved,
            on_error=lambda error: self.monitor.notes_editor.save_failed(job_id, describe(error)),
        )

    def _labels_saved(self, job: Job) -> None:
        if self.session is None:
            return
        self.apply_jobs([job])
        self.monitor.notes_editor.saved(job)

    def apply_metrics(self, job_id: str, points: tuple[MetricPoint, ...] | list[MetricPoint]) -> None:
        self.monitor.append_metrics(job_id, points)

    def apply_notifications(self, notes: list[Notification]) -> None:
        for note in self.panel.add(notes):
            if self.notifier is not None:
                self.notifier.announce(note)

    # -- selection -------------------------------------------------------------------------------
    def select_job(self, job_id: str) -> bool:
        return self.table.select_job(job_id)

    def compare_selected(self) -> None:
        """Compare the selected jobs (the compare view already shows while two or more are)."""
        self.selection.compare_selected()

    def compare_with_selected(self, job_id: str) -> None:
        """Compare this job with those selected (the row context menu's "Compare with selected")."""
        wanted = [*self.table.selected_job_ids(), job_id]
        self.table.select_jobs(list(dict.fromkeys(wanted)))
        self.compare_selected()

    # -- actions ---------------------------------------------------------------------------------
    def cancel_selected(self) -> None:
        """Del: cancel the selected job (after confirmation), or say why it can't be."""
        job_id = self.table.selected_job_id()
        job = self.model.job(job_id) if job_id else None
        if job is None or self.monitor.job is None or self.monitor.job.id != job.id:
            return
        if not job.status.is_cancellable:
            self.banner.show_message(
                f"“{job.name}” is {job.status.value}: only queued or running jobs can be cancelled."
            )
        elif job.is_cancelling:
            self.banner.show_message(f"“{job.name}” is already being cancelled.")
        else:
            self.monitor.request_cancel()

    def new_job(self) -> NewJobDialog | None:
        if self.session is None:
            return None
        # With a job selected the form starts from its dataset and settings.
        selected = self.table.selected_job_id()
        dialog = NewJobDialog(self.session, self, like=self.model.job(selected) if selected else None)
        dialog.job_created.connect(self.show_created_job)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def show_created_job(self, job: Job) -> None:
        self.model.apply_jobs([job])
        self.proxy.set_text("")
        self.search.clear()
        self.select_job(job.id)
        self.banner.show_message(f"Queued “{job.name}”; the scheduler submits it now.")

    def add_dataset(self) -> None:
        if self.session is None:
            return
        dialog = AddDatasetDialog(self.session, self)
        dialog.dataset_added.connect(
            lambda ds: self.banner.show_message(f"Added dataset “{ds.name}” with {ds.total_pairs:,} pairs.")
        )
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def refresh(self) -> None:
        if self.session is None:
            return
        if self.session.scheduler is not None:
            self.session.scheduler.wake()
        self.compare.show_jobs([])  # compared jobs load again once the table has them again
        self._load()

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def toggle_notifications(self) -> None:
        self.drawer.toggle()

    def show_shortcuts(self) -> ShortcutsDialog:
        dialog = ShortcutsDialog(self.menuBar(), self)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def edit_rules_of_selected(self) -> RulesDialog | None:
        job = self.monitor.job
        if job is None or job.status.is_terminal:
            return None
        return self.edit_rules(job.id)

    def edit_rules(self, job_id: str) -> RulesDialog | None:
        """The stop rules of the job on screen, editable while it runs."""
        job = self.monitor.job
        if self.session is None or job is None or job.id != job_id:
            return None
        dialog = RulesDialog(self.session, job, self)
        dialog.rules_saved.connect(lambda saved: self.apply_jobs([saved]))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def _unread_changed(self, count: int) -> None:
        self.notifications_action.setText(f"Notifications ({count})" if count else "Notifications")

    def _cancel(self, job_id: str) -> None:
        if self.session is None:
            return
        self.session.cancel_job(
            job_id=job_id, on_done=self._cancelled, on_error=lambda error: self._cancel_failed(job_id, error)
        )

    def _cancelled(self, job: Job) -> None:
        if self.session is None:
            return  # the window let go of its workspace while the cancel ran
        self.apply_jobs([job])
        if job.is_cancelling:
            self.banner.show_message(
                f"Cancel of “{job.name}” requested; the cluster could not be reached, retrying each cycle.",
                kind="warning",
            )

    def _cancel_failed(self, job_id: str, error: BaseException) -> None:
        if self.session is None:
            return
        self.banner.show_message(f"Could not cancel: {describe(error)}", kind="error")
        self.monitor.cancel_failed(job_id)

    def _export_csv(self, series: MetricSeries, path: Path) -> None:
        if self.session is None:
            return
        self.session.runner.run(
            series.write_csv,
            path,
            on_done=lambda rows: self.banner.show_message(f"Wrote {rows:,} points to {path}"),
            on_error=lambda error: self.banner.show_message(
                f"Could not export: {describe(error)}", kind="error"
            ),
        )

    # -- scheduler -------------------------------------------------------------------------------
    def set_scheduler_paused(self, paused: bool) -> None:
        scheduler = self.session.scheduler if self.session else None
        if scheduler is not None and scheduler.paused != paused:
            scheduler.pause() if paused else scheduler.resume()
        self.show_scheduler_state()

    def show_scheduler_state(self) -> None:
        scheduler = self.session.scheduler if self.session else None
        if scheduler is None:
            text = "Scheduler off"
        elif scheduler.paused:
            text = "Scheduler paused"
        else:
            text = f"Scheduler running · every {self.session.settings.poll_interval:g} s"  # type: ignore[union-attr]
        self.state_label.setText(text)
        self.pause_button.setVisible(scheduler is not None)
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(bool(scheduler and scheduler.paused))
        self.pause_button.setText("Resume" if scheduler and scheduler.paused else "Pause")
        self.pause_button.blockSignals(False)
        self.pause_action.blockSignals(True)
        self.pause_action.setEnabled(scheduler is not None)
        self.pause_action.setChecked(bool(scheduler and scheduler.paused))
        self.pause_action.blockSignals(False)

    # -- closing ---------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.quitting and self.keep_in_tray and self.notifier is not None and self.notifier.uses_tray:
            event.ignore()
            self.hide()
            return
        event.accept()
        self.quit_requested.emit()


def _short_url(url: str) -> str:
    """The database URL without a password, shortened for the status bar."""
    scheme, _, rest = url.partition("://")
    if "@" in rest:
        rest = rest.split("@", 1)[1]
    text = f"{scheme}://{rest}"
    return text if len(text) <= 48 else f"{text[:20]}…{text[-24:]}"
