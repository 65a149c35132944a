"""What can be done to one job from its row's context menu, the Jobs menu and the monitor:
cancel, clone, retry, compare, open or copy its adapter, copy its id, delete, edit its stop
rules, save its notes and tags, export its points.

Every action acts on a job given by id (the right-clicked row, or the selected one), reads the
jobs from the state and changes them through the session (off the UI thread); what it changed
goes into the state, and what the person should read goes out as `message`. To add an action
to a job, add a `JobAction` to `JOB_ACTIONS` (it gets a QAction named `name` for the Jobs menu,
listed in `desktop.menus.MENUS`, and an entry in the row menu).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, Signal
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QKeySequence, QMouseEvent
from PySide6.QtWidgets import QMenu, QMessageBox, QWidget

from core.adapters.files import adapter_problem
from core.records import Job, JobStatus
from core.scheduler.cancelling import CancelResult
from desktop.adapter_location import adapter_folder_url, adapter_path
from desktop.app_state import AppState, Change
from desktop.cancel_words import cancel_words
from desktop.dialogs.export_dialog import ExportDialog
from desktop.dialogs.new_job import NewJobDialog
from desktop.dialogs.rules_dialog import RulesDialog
from desktop.jobs_view import JobTableView
from desktop.metric_series import MetricSeries
from desktop.monitor import JobMonitor
from desktop.operations import describe


@dataclass(frozen=True)
class JobAction:
    """One action on a job: `text` in the Jobs menu (on the selected job, with `key`),
    `row_text` in the row's context menu, in `section` (separators between sections)."""

    name: str
    text: str
    row_text: str
    key: str | None
    run: Callable[[JobActions, str], object]
    enabled: Callable[[Job], bool]
    section: int
    disabled_tip: str = ""


def _always(_job: Job) -> bool:
    return True


def _terminal(job: Job) -> bool:
    return job.status.is_terminal


def _failed_or_cancelled(job: Job) -> bool:
    """A run that did not finish can be retried; a completed one is cloned."""
    return job.status in (JobStatus.FAILED, JobStatus.CANCELLED)


JOB_ACTIONS: tuple[JobAction, ...] = (
    JobAction("clone_action", "Clone job…", "Clone…", "Ctrl+Shift+D", lambda a, i: a.clone(i), _always, 1),
    JobAction(
        "retry_action",
        "Retry job…",
        "Retry…",
        "Ctrl+R",
        lambda a, i: a.retry(i),
        _failed_or_cancelled,
        1,
        "Only a failed or cancelled job is retried; clone a completed one",
    ),
    JobAction(
        "open_adapter_action",
        "Open adapter folder",
        "Open adapter folder",
        None,
        lambda a, i: a.open_adapter(i),
        lambda job: adapter_folder_url(job.artifact_url) is not None,
        2,
    ),
    JobAction(
        "copy_adapter_action",
        "Copy adapter path",
        "Copy adapter path",
        None,
        lambda a, i: a.copy_adapter(i),
        lambda job: bool(job.artifact_url),
        2,
    ),
    JobAction(
        "try_action",
        "Try adapter",
        "Try adapter",
        "Ctrl+T",
        lambda a, i: a.ask_to_try(i),
        lambda job: adapter_problem(job) is None,
        2,
        "The job has no adapter yet",
    ),
    JobAction(
        "export_adapter_action",
        "Export adapter…",
        "Export adapter…",
        "Ctrl+Shift+E",
        lambda a, i: a.export_adapter(i),
        lambda job: adapter_problem(job) is None,
        2,
        "The job has no adapter yet",
    ),
    JobAction(
        "copy_id_action", "Copy job id", "Copy job id", "Ctrl+Shift+C", lambda a, i: a.copy_id(i), _always, 2
    ),
    JobAction(
        "delete_action",
        "Delete job…",
        "Delete…",
        "Shift+Del",
        lambda a, i: a.delete(i),
        _terminal,
        3,
        "Only completed, failed or cancelled jobs can be deleted",
    ),
)


class JobActions(QObject):
    """The per-job actions: the Jobs menu's (on the selected job) and the row context menu's
    (on the row under the pointer). `actions` holds the Jobs menu's QActions by name.

    Signals:
        message(str, str): text for the banner, and its kind ("info", "warning", "error").
        job_created(Job): a clone, retry or continued run was queued.
        cancel_asked(): the selected job may be cancelled: ask the person (the monitor does).
        compare_asked(list[str]): compare these jobs.
        try_asked(str): open the Try tab of this job id (the monitor has it).
    """

    message = Signal(str, str)
    job_created = Signal(object)
    cancel_asked = Signal()
    compare_asked = Signal(list)
    try_asked = Signal(str)

    def __init__(self, state: AppState, selection: JobTableView, host: QWidget) -> None:
        super().__init__(host)
        self.state, self.selection, self.host = state, selection, host
        self.menu: QMenu | None = None  # the context menu open now, for tests and screenshots
        self.delete_box: QMessageBox | None = None
        self.dialog: NewJobDialog | None = None
        self.export_dialog: ExportDialog | None = None
        self.actions: dict[str, QAction] = {spec.name: self._action(spec) for spec in JOB_ACTIONS}
        # Del on the table (and on the monitor, which the window adds it to); not in the search
        # field, where Del edits text.
        cancel = QAction("Cancel job", host, shortcut=QKeySequence(Qt.Key.Key_Delete))
        cancel.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        cancel.triggered.connect(self.cancel_selected)
        selection.addAction(cancel)
        self.actions["cancel_action"] = cancel
        self._selection_before: list[str] = []
        selection.viewport().installEventFilter(self)
        selection.job_selected.connect(lambda _id: self.update_enabled())
        state.jobs_changed.connect(lambda _jobs: self.update_enabled())
        state.jobs_deleted.connect(lambda _deleted: self.update_enabled())
        self.update_enabled()

    def serve(self, monitor: JobMonitor) -> None:
        """Do what the monitor's buttons and tabs ask of its job, and ask through the monitor
        what it confirms (cancel) or shows (the Try tab)."""
        monitor.addAction(self.actions["cancel_action"])  # Del there too
        self.cancel_asked.connect(monitor.request_cancel)
        self.try_asked.connect(lambda job_id: self._try_in(monitor, job_id))
        monitor.cancel_confirmed.connect(
            lambda job_id: self.cancel_confirmed(job_id, failed=monitor.cancel_failed)
        )
        monitor.clone_requested.connect(
            lambda job_id, retry: self.retry(job_id) if retry else self.clone(job_id)
        )
        monitor.open_adapter_requested.connect(self.open_adapter)
        monitor.copy_adapter_requested.connect(self.copy_adapter)
        monitor.export_adapter_requested.connect(self.export_adapter)
        monitor.rules_edit_requested.connect(self.edit_rules)
        monitor.export_requested.connect(self.export_csv)
        monitor.continue_button.job_created.connect(self.job_created)
        editor = monitor.notes_editor
        editor.save_requested.connect(
            lambda job_id, notes, tags: self.save_labels(
                job_id, notes, tags, saved=editor.saved, failed=lambda why: editor.save_failed(job_id, why)
            )
        )

    def _try_in(self, monitor: JobMonitor, job_id: str) -> None:
        """The Try tab is the monitor's: the job is selected to show it."""
        job = self.state.job(job_id)
        if job is not None and self.selection.select_job(job_id):
            monitor.try_tabs.open(job)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Remember the selection as it was before a right-click selects the row under it, so
        "Compare with selected" compares with what the person had selected."""
        right = isinstance(event, QMouseEvent) and event.button() == Qt.MouseButton.RightButton
        if right and event.type() == QEvent.Type.MouseButtonPress:
            self._selection_before = self.selection.selected_job_ids()
        return False

    def _action(self, spec: JobAction) -> QAction:
        action = QAction(spec.text, self.host)
        if spec.key is not None:
            action.setShortcut(QKeySequence(spec.key))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda: self._on_selected(spec))
        self.host.addAction(action)
        return action

    def _on_selected(self, spec: JobAction) -> None:
        if (job := self._selected()) is not None and spec.enabled(job):
            spec.run(self, job.id)

    def _selected(self) -> Job | None:
        return self.state.job(self.selection.selected_job_id())

    def _say(self, text: str, kind: str = "info") -> None:
        self.message.emit(text, kind)

    def update_enabled(self) -> None:
        """The Jobs menu's entries follow the selected job."""
        job = self._selected()
        for spec in JOB_ACTIONS:
            self.actions[spec.name].setEnabled(job is not None and spec.enabled(job))

    # -- the context menu ------------------------------------------------------------------------
    def show_context_menu(self, position: QPoint) -> QMenu | None:
        """The row under `position` (viewport coordinates): its menu, open (not blocking)."""
        index = self.selection.indexAt(position)
        if not index.isValid():
            return None
        job = self.selection.job_at(index)
        if not self._selection_before:  # opened from the keyboard: the selection is as it was
            self._selection_before = self.selection.selected_job_ids()
        menu = self.build_menu(job)
        self._selection_before = []
        menu.aboutToHide.connect(menu.deleteLater)
        self.menu = menu
        menu.popup(self.selection.viewport().mapToGlobal(position))
        return menu

    def build_menu(self, job: Job) -> QMenu:
        menu = QMenu(self.selection)
        menu.setObjectName("JobContextMenu")
        cancel = menu.addAction("Cancel job…", lambda: self.cancel(job.id))
        cancel.setEnabled(job.status.is_cancellable and not job.is_cancelling)
        cancel.setShortcut(QKeySequence("Del"))
        others = [i for i in self._selection_before if i != job.id]
        section = 0
        for spec in JOB_ACTIONS:
            if spec.section != section:
                if section == 1:  # compare closes the first section
                    compare = menu.addAction(
                        "Compare with selected", lambda: self.compare_with(job.id, others)
                    )
                    compare.setEnabled(bool(others))
                menu.addSeparator()
                section = spec.section
            entry = menu.addAction(spec.row_text, functools.partial(spec.run, self, job.id))
            entry.setEnabled(spec.enabled(job))
            if spec.disabled_tip and not spec.enabled(job):
                entry.setToolTip(spec.disabled_tip)
            entry.setShortcut(self.actions[spec.name].shortcut())  # the Jobs menu's key, shown here
        menu.setToolTipsVisible(True)
        for action in menu.actions():
            action.setShortcutVisibleInContextMenu(True)
        return menu

    # -- the actions -----------------------------------------------------------------------------
    def cancel(self, job_id: str) -> None:
        """Cancel asks first, in the monitor, as Del does: the job is selected to show it."""
        if self.selection.select_job(job_id):
            self.cancel_selected()

    def cancel_selected(self) -> None:
        """Del: cancel the selected job (after confirmation), or say why it can't be."""
        job = self._selected()
        if job is None:
            return
        if not job.status.is_cancellable:
            self._say(f"“{job.name}” is {job.status.value}: only queued or running jobs can be cancelled.")
        elif job.is_cancelling:
            self._say(f"“{job.name}” is already being cancelled.")
        else:
            self.cancel_asked.emit()

    def cancel_confirmed(self, job_id: str, *, failed: Callable[[str], None] = lambda _id: None) -> None:
        """The person confirmed: ask the core to cancel (`failed` hears if it could not)."""
        session = self.state.session
        if session is None:
            return

        def refused(error: BaseException) -> None:
            if self.state.session is not None:
                self._say(f"Could not cancel: {describe(error)}", "error")
                failed(job_id)

        session.cancel_job(job_id=job_id, on_done=self.cancel_answered, on_error=refused)

    def cancel_answered(self, result: CancelResult) -> None:
        """The core's answer to a cancel: the job as it now is, and what a wait is for."""
        if self.state.session is None:
            return  # the window let go of its workspace while the cancel ran
        self.state.apply(Change(jobs=(result.job,)))
        said = cancel_words(result)
        if said is not None:
            self._say(*said)

    def compare_with(self, job_id: str, others: list[str]) -> None:
        """Select the jobs that were selected again, and compare this one with them."""
        self.compare_asked.emit([*others, job_id])

    def clone(self, job_id: str) -> NewJobDialog | None:
        return self._open_dialog(job_id, retry=False)

    def retry(self, job_id: str) -> NewJobDialog | None:
        return self._open_dialog(job_id, retry=True)

    def _open_dialog(self, job_id: str, *, retry: bool) -> NewJobDialog | None:
        job = self.state.job(job_id)
        if job is None or self.state.session is None:
            return None
        dialog = NewJobDialog(self.state.session, self.host, like=job, mode="retry" if retry else "clone")
        dialog.job_created.connect(self.job_created)
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()
        return dialog

    def delete(self, job_id: str) -> QMessageBox | None:
        """Ask, then delete the job with its points, costs and notifications."""
        job = self.state.job(job_id)
        if job is None:
            return None
        if not job.status.is_terminal:
            self._say(
                f"“{job.name}” is {job.status.value}: only completed, failed or cancelled jobs can be "
                "deleted. Cancel it first."
            )
            return None
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Delete job",
            f"Delete “{job.name}”?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self.host,
        )
        box.setInformativeText(
            "Its metric points, cost record and notifications are deleted with it; this cannot be "
            "undone. Files it left (its adapter) stay where they are."
        )
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.button(QMessageBox.StandardButton.Yes).setText("Delete")
        box.button(QMessageBox.StandardButton.No).setText("Keep")
        box.finished.connect(lambda result: self._delete_answered(job_id, result))
        self.delete_box = box
        box.open()
        return box

    def _delete_answered(self, job_id: str, result: int) -> None:
        box, self.delete_box = self.delete_box, None
        if box is not None:
            box.deleteLater()
        session = self.state.session
        if result != QMessageBox.StandardButton.Yes or session is None:
            return
        # The deleted row's neighbour below (above, for the last) takes its place in the selection,
        # whichever comes first: this answer or the deletion's event.
        row = self.selection.row_of(job_id) if self.selection.selected_job_id() == job_id else None
        session.delete_job(
            job_id=job_id,
            on_done=lambda job: self._deleted(job, reselect=row),
            on_error=lambda error: self._say(f"Could not delete: {describe(error)}", "error"),
        )

    def _deleted(self, job: Job, *, reselect: int | None = None) -> None:
        self.state.apply(Change(deleted=(job.id,)))
        if reselect is not None and self.selection.selected_job_id() is None:
            self.selection.select_row(reselect)
        self._say(f"Deleted “{job.name}” with its metrics, cost record and notifications.")

    def open_adapter(self, job_id: str) -> bool:
        job = self.state.job(job_id)
        url = adapter_folder_url(job.artifact_url) if job else None
        return url is not None and QDesktopServices.openUrl(url)

    def copy_adapter(self, job_id: str) -> str | None:
        job = self.state.job(job_id)
        path = adapter_path(job.artifact_url) if job else None
        if path:
            QGuiApplication.clipboard().setText(path)
            self._say(f"Copied {path}")
        return path

    def export_adapter(self, job_id: str) -> ExportDialog | None:
        job = self.state.job(job_id)
        if job is None or self.state.session is None:
            return None
        dialog = ExportDialog(self.state.session.settings, job, self.host)
        dialog.exported.connect(lambda result: self._say(f"Exported to {result.folder}"))
        dialog.finished.connect(dialog.deleteLater)
        self.export_dialog = dialog
        dialog.open()
        return dialog

    def ask_to_try(self, job_id: str) -> None:
        self.try_asked.emit(job_id)

    def copy_id(self, job_id: str) -> None:
        QGuiApplication.clipboard().setText(job_id)
        self._say(f"Copied job id {job_id}")

    def edit_rules(self, job_id: str) -> RulesDialog | None:
        """The stop rules of the job on screen, editable while it runs."""
        job = self.state.job(job_id)
        if self.state.session is None or job is None or job.id != self.state.series_job:
            return None
        dialog = RulesDialog(self.state.session, job, self.host)
        dialog.rules_saved.connect(lambda saved: self.state.apply(Change(jobs=(saved,))))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def edit_rules_of_selected(self) -> RulesDialog | None:
        job = self.state.job(self.state.series_job)
        if job is None or job.status.is_terminal:
            return None
        return self.edit_rules(job.id)

    def save_labels(
        self,
        job_id: str,
        notes: str,
        tags: str,
        *,
        saved: Callable[[Job], None],
        failed: Callable[[str], None],
    ) -> None:
        """Save the job's notes and tags; `saved` gets the job as stored, `failed` the reason."""
        session = self.state.session
        if session is None:
            return

        def done(job: Job) -> None:
            if self.state.session is not None:
                self.state.apply(Change(jobs=(job,)))
                saved(job)

        session.save_job_labels(
            job_id=job_id,
            notes=notes,
            tags=tags,
            on_done=done,
            on_error=lambda error: failed(describe(error)),
        )

    def export_csv(self, series: MetricSeries, path: Path) -> None:
        """Write the points to a CSV file off the UI thread."""
        if self.state.session is None:
            return
        self.state.session.runner.run(
            series.write_csv,
            path,
            on_done=lambda rows: self._say(f"Wrote {rows:,} points to {path}"),
            on_error=lambda error: self._say(f"Could not export: {describe(error)}", "error"),
        )
