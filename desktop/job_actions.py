"""What can be done to one job from its row's context menu, the Jobs menu and the monitor:
cancel, clone, retry, compare, open or copy its adapter, copy its id, delete.

Every action acts on a job given by id (the right-clicked row, or the selected one); the window
supplies the session and what happens on screen afterwards. The core calls run off the UI thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QKeySequence, QMouseEvent
from PySide6.QtWidgets import QMenu, QMessageBox

from core.records import Job
from desktop.adapter_location import adapter_folder_url, adapter_path
from desktop.dialogs.new_job import NewJobDialog
from desktop.operations import describe

if TYPE_CHECKING:
    from desktop.main_window import MainWindow


class JobActions(QObject):
    """The per-job actions of the window: the Jobs menu's (on the selected job) and the row
    context menu's (on the row under the pointer)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.menu: QMenu | None = None  # the context menu open now, for tests and screenshots
        self.delete_box: QMessageBox | None = None
        self.dialog: NewJobDialog | None = None
        self.clone_action = self._action("Clone job…", "Ctrl+Shift+D", self.clone_selected)
        self.retry_action = self._action("Retry job…", "Ctrl+R", self.retry_selected)
        self.delete_action = self._action("Delete job…", "Shift+Del", self.delete_selected)
        self.open_adapter_action = self._action("Open adapter folder", None, self.open_selected_adapter)
        self.copy_adapter_action = self._action("Copy adapter path", None, self.copy_selected_adapter)
        self.copy_id_action = self._action("Copy job id", "Ctrl+Shift+C", self.copy_selected_id)
        self._selection_before: list[str] = []
        window.table.viewport().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Remember the selection as it was before a right-click selects the row under it, so
        "Compare with selected" compares with what the person had selected."""
        right = isinstance(event, QMouseEvent) and event.button() == Qt.MouseButton.RightButton
        if right and event.type() == QEvent.Type.MouseButtonPress:
            self._selection_before = self.window.table.selected_job_ids()
        return False

    def _action(self, text: str, key: str | None, slot: object) -> QAction:
        action = QAction(text, self.window)
        if key is not None:
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)  # type: ignore[arg-type]
        self.window.addAction(action)
        return action

    def _selected(self) -> Job | None:
        job_id = self.window.table.selected_job_id()
        return self.window.model.job(job_id) if job_id else None

    def update_enabled(self) -> None:
        """The Jobs menu's entries follow the selected job."""
        job = self._selected()
        self.clone_action.setEnabled(job is not None)
        self.retry_action.setEnabled(job is not None and job.status.is_terminal)
        self.delete_action.setEnabled(job is not None and job.status.is_terminal)
        openable = job is not None and adapter_folder_url(job.artifact_url) is not None
        self.open_adapter_action.setEnabled(openable)
        self.copy_adapter_action.setEnabled(job is not None and bool(job.artifact_url))
        self.copy_id_action.setEnabled(job is not None)

    # -- the context menu ------------------------------------------------------------------------
    def show_context_menu(self, position: QPoint) -> QMenu | None:
        """The row under `position` (viewport coordinates): its menu, open (not blocking)."""
        table = self.window.table
        index = table.indexAt(position)
        if not index.isValid():
            return None
        job = self.window.proxy.job_at(index.row())
        if not self._selection_before:  # opened from the keyboard: the selection is as it was
            self._selection_before = self.window.table.selected_job_ids()
        menu = self.build_menu(job)
        self._selection_before = []
        menu.aboutToHide.connect(menu.deleteLater)
        self.menu = menu
        menu.popup(table.viewport().mapToGlobal(position))
        return menu

    def build_menu(self, job: Job) -> QMenu:
        menu = QMenu(self.window.table)
        menu.setObjectName("JobContextMenu")
        cancel = menu.addAction("Cancel job…", lambda: self.cancel(job.id))
        cancel.setEnabled(job.status.is_cancellable and not job.is_cancelling)
        menu.addSeparator()
        clone_entry = menu.addAction("Clone…", lambda: self.clone(job.id))
        retry = menu.addAction("Retry…", lambda: self.retry(job.id))
        retry.setEnabled(job.status.is_terminal)
        others = [i for i in self._selection_before if i != job.id]
        compare = menu.addAction("Compare with selected", lambda: self.compare_with(job.id, others))
        compare.setEnabled(bool(others))
        menu.addSeparator()
        open_folder = menu.addAction("Open adapter folder", lambda: self.open_adapter(job.id))
        open_folder.setEnabled(adapter_folder_url(job.artifact_url) is not None)
        copy_path = menu.addAction("Copy adapter path", lambda: self.copy_adapter(job.id))
        copy_path.setEnabled(bool(job.artifact_url))
        copy_id = menu.addAction("Copy job id", lambda: self.copy_id(job.id))
        menu.addSeparator()
        delete = menu.addAction("Delete…", lambda: self.delete(job.id))
        delete.setEnabled(job.status.is_terminal)
        if not job.status.is_terminal:
            delete.setToolTip("Only completed, failed or cancelled jobs can be deleted")
        menu.setToolTipsVisible(True)
        # The same keys as the Jobs menu's entries (which act on the selected row), shown here.
        for action, key in ((cancel, "Del"), (delete, "Shift+Del")):
            action.setShortcut(QKeySequence(key))
        for action, twin in ((clone_entry, self.clone_action), (retry, self.retry_action)):
            action.setShortcut(twin.shortcut())
        copy_id.setShortcut(self.copy_id_action.shortcut())
        for action in menu.actions():
            action.setShortcutVisibleInContextMenu(True)
        return menu

    # -- the actions -----------------------------------------------------------------------------
    def cancel(self, job_id: str) -> None:
        """Cancel asks first, in the monitor, as Del does: the job is selected to show it."""
        if self.window.select_job(job_id):
            self.window.cancel_selected()

    def compare_with(self, job_id: str, others: list[str]) -> None:
        """Select the jobs that were selected again, and compare this one with them."""
        self.window.table.select_jobs([*others, job_id])
        self.window.compare_selected()

    def clone(self, job_id: str) -> NewJobDialog | None:
        return self._open_dialog(job_id, retry=False)

    def retry(self, job_id: str) -> NewJobDialog | None:
        return self._open_dialog(job_id, retry=True)

    def _open_dialog(self, job_id: str, *, retry: bool) -> NewJobDialog | None:
        job = self.window.model.job(job_id)
        if job is None or self.window.session is None:
            return None
        dialog = NewJobDialog(self.window.session, self.window, like=job, mode="retry" if retry else "clone")
        dialog.job_created.connect(self.window.show_created_job)
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()
        return dialog

    def delete(self, job_id: str) -> QMessageBox | None:
        """Ask, then delete the job with its points, costs and notifications."""
        job = self.window.model.job(job_id)
        if job is None:
            return None
        if not job.status.is_terminal:
            self.window.banner.show_message(
                f"“{job.name}” is {job.status.value}: only completed, failed or cancelled jobs can be "
                "deleted. Cancel it first."
            )
            return None
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Delete job",
            f"Delete “{job.name}”?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self.window,
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
        session = self.window.session
        if result != QMessageBox.StandardButton.Yes or session is None:
            return
        session.delete_job(
            job_id=job_id,
            on_done=self.window.job_deleted_here,
            on_error=lambda error: self.window.banner.show_message(
                f"Could not delete: {describe(error)}", kind="error"
            ),
        )

    def open_adapter(self, job_id: str) -> bool:
        job = self.window.model.job(job_id)
        url = adapter_folder_url(job.artifact_url) if job else None
        return url is not None and QDesktopServices.openUrl(url)

    def copy_adapter(self, job_id: str) -> str | None:
        job = self.window.model.job(job_id)
        path = adapter_path(job.artifact_url) if job else None
        if path:
            QGuiApplication.clipboard().setText(path)
            self.window.banner.show_message(f"Copied {path}")
        return path

    def copy_id(self, job_id: str) -> None:
        QGuiApplication.clipboard().setText(job_id)
        self.window.banner.show_message(f"Copied job id {job_id}")

    # -- on the selected job (the Jobs menu, shortcuts, the monitor) -----------------------------
    def clone_selected(self) -> None:
        if (job := self._selected()) is not None:
            self.clone(job.id)

    def retry_selected(self) -> None:
        if (job := self._selected()) is not None and job.status.is_terminal:
            self.retry(job.id)

    def delete_selected(self) -> None:
        if (job := self._selected()) is not None:
            self.delete(job.id)

    def open_selected_adapter(self) -> None:
        if (job := self._selected()) is not None:
            self.open_adapter(job.id)

    def copy_selected_adapter(self) -> None:
        if (job := self._selected()) is not None:
            self.copy_adapter(job.id)

    def copy_selected_id(self) -> None:
        if (job := self._selected()) is not None:
            self.copy_id(job.id)
