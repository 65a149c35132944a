"""The main window's own actions: the toolbar (New job, Add dataset, Refresh, the search field,
the status filter, Notifications, Settings), the actions found in the menu bar only, and the
dialogs the window's own ones open (new job, add dataset, datasets, shortcuts, about).

`WindowActions` keeps them by the names `desktop.menus.MENUS` uses; the per-job actions
(cancel, clone, retry, delete, adapter) are `desktop.job_actions`'. The actions that need a
workspace stay disabled until the state has one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QDialog, QLineEdit, QMainWindow, QSizePolicy, QToolBar, QWidget

from core.records import Job, JobStatus
from desktop import theme
from desktop.app_state import AppState, Change
from desktop.datasets_view import DatasetsDialog
from desktop.dialogs.add_dataset import AddDatasetDialog
from desktop.dialogs.new_job import NewJobDialog
from desktop.jobs_view import JobTableView
from desktop.menus import ShortcutsDialog, show_about
from desktop.session import Session

STATUS_FILTERS = [
    ("All statuses", None),
    ("Active", {JobStatus.QUEUED, JobStatus.INITIALIZING, JobStatus.RUNNING}),
    *[(status.value.capitalize(), {status}) for status in JobStatus],
]
Slot = Callable[..., object]
OpenedDialog = TypeVar("OpenedDialog", bound=QDialog)
# (name, text, icon, shortcut) on the toolbar, and (name, text, shortcut, tooltip) in the menus only
TOOLBAR: tuple[tuple[str, str, str, object], ...] = (
    ("new_job_action", "New job", "add", QKeySequence.StandardKey.New),
    ("add_dataset_action", "Add dataset", "dataset", QKeySequence("Ctrl+D")),
    ("refresh_action", "Refresh", "refresh", QKeySequence("F5")),
)
TOOLBAR_END: tuple[tuple[str, str, str, object], ...] = (
    ("notifications_action", "Notifications", "bell", QKeySequence("Ctrl+Shift+N")),
    ("settings_action", "Settings", "settings", QKeySequence("Ctrl+,")),
)
MENU_ONLY: tuple[tuple[str, str, object, str], ...] = (
    ("datasets_action", "Datasets…", None, "Your datasets: preview, jobs, delete"),
    ("export_action", "Export metrics as CSV…", QKeySequence("Ctrl+E"), ""),
    ("quit_action", "Quit", QKeySequence("Ctrl+Q"), ""),
    ("pause_action", "Pause scheduler", None, ""),
    (
        "compare_action",
        "Compare selected",
        QKeySequence("Ctrl+M"),
        "Overlay the selected jobs' loss and set their settings side by side",
    ),
    (
        "rules_action",
        "Stop rules…",
        QKeySequence("Ctrl+Shift+G"),
        "Edit the selected job's guardrails: cost and time caps, NaN, plateau",
    ),
    ("shortcuts_action", "Keyboard shortcuts", QKeySequence("F1"), ""),
    ("about_action", "About Loradesk", None, ""),
)
NEED_A_WORKSPACE = ("new_job_action", "add_dataset_action", "datasets_action", "refresh_action")


class WindowActions(QObject):
    """The window's actions by name, the toolbar's search field and status filter, and the
    dialogs its own actions open. `slots` has a slot for each toolbar or menu name these do not
    own (refresh, notifications, settings, export, quit, compare, rules); find and pause are the
    search field's and `desktop.scheduler_status`'.

    Signals:
        message(str): text for the banner (a dataset was added).
        job_created(Job): a job queued here was put in the state and selected (the new-job
            dialog's, or one that `show_created_job` was given).
    """

    message = Signal(str)
    job_created = Signal(object)

    def __init__(
        self, state: AppState, selection: JobTableView, window: QMainWindow, slots: Mapping[str, Slot]
    ) -> None:
        super().__init__(window)
        self.state, self.selection, self.proxy, self.window = state, selection, selection.proxy, window
        own: dict[str, Slot] = {
            "new_job_action": self.new_job,
            "add_dataset_action": self.add_dataset,
            "datasets_action": self.show_datasets,
            "shortcuts_action": self.show_shortcuts,
            "about_action": lambda: show_about(window),
        }
        self._build_toolbar({**slots, **own})
        state.session_changed.connect(self._session_changed)

    def _build_toolbar(self, slots: Mapping[str, Slot]) -> None:
        window, proxy = self.window, self.proxy
        bar = QToolBar("Main", objectName="MainToolBar", movable=False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        window.addToolBar(bar)
        actions: dict[str, QAction] = {}
        for name, text, icon, key in TOOLBAR:
            actions[name] = toolbar_action(window, bar, text, icon, key, slots[name])
        bar.addSeparator()
        search = QLineEdit(placeholderText="Search jobs, notes, #tags (Ctrl+F)", clearButtonEnabled=True)
        search.addAction(theme.icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        search.setMaximumWidth(280)
        self.search_timer = QTimer(window, singleShot=True, interval=150)
        self.search_timer.timeout.connect(lambda: proxy.set_text(search.text()))
        search.textChanged.connect(lambda _text: self.search_timer.start())
        bar.addWidget(search)
        status_filter = QComboBox()
        for label, statuses in STATUS_FILTERS:
            status_filter.addItem(label, statuses)
        status_filter.currentIndexChanged.connect(lambda _i: proxy.set_statuses(status_filter.currentData()))
        bar.addWidget(status_filter)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        bar.addWidget(spacer)
        for name, text, icon, key in TOOLBAR_END:
            actions[name] = toolbar_action(window, bar, text, icon, key, slots[name])
        self.search, self.status_filter = search, status_filter
        find = window_action(window, "Find", QKeySequence.StandardKey.Find, self.focus_search)
        actions["find_action"] = find
        for name, text, key, tip in MENU_ONLY:
            actions[name] = window_action(window, text, key, slots.get(name))
            if tip:
                actions[name].setToolTip(tip)
        actions["quit_action"].setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        actions["pause_action"].setCheckable(True)
        actions["pause_action"].setEnabled(False)
        self.actions = actions
        self._session_changed(None)

    def _session_changed(self, session: Session | None) -> None:
        for name in NEED_A_WORKSPACE:
            self.actions[name].setEnabled(session is not None)

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def show_unread(self, count: int) -> None:
        """The Notifications button counts the unread ones."""
        self.actions["notifications_action"].setText(f"Notifications ({count})" if count else "Notifications")

    # -- what the actions open -------------------------------------------------------------------
    def new_job(self) -> NewJobDialog | None:
        session = self.state.session
        if session is None:
            return None
        # With a job selected the form starts from its dataset and settings.
        like = self.state.job(self.selection.selected_job_id())
        dialog = NewJobDialog(session, self.window, like=like)
        dialog.job_created.connect(self.show_created_job)
        return _opened(dialog)

    def show_created_job(self, job: Job) -> None:
        """A job queued here: in the state, with the search cleared so its row shows, selected."""
        self.state.apply(Change(jobs=(job,)))
        self.proxy.set_text("")
        self.search.clear()
        self.selection.select_job(job.id)
        self.job_created.emit(job)

    def add_dataset(self) -> AddDatasetDialog | None:
        if self.state.session is None:
            return None
        dialog = AddDatasetDialog(self.state.session, self.window)
        dialog.dataset_added.connect(
            lambda ds: self.message.emit(f"Added dataset “{ds.name}” with {ds.total_pairs:,} pairs.")
        )
        return _opened(dialog)

    def show_datasets(self) -> DatasetsDialog | None:
        """File → Datasets…: list, preview and delete datasets."""
        if self.state.session is None:
            return None
        return _opened(DatasetsDialog(self.state.session, self.window))

    def show_shortcuts(self) -> ShortcutsDialog:
        return _opened(ShortcutsDialog(self.window.menuBar(), self.window))


def _opened(dialog: OpenedDialog) -> OpenedDialog:
    """Open a dialog without blocking the event loop; it is deleted once closed."""
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog


def window_action(window: QWidget, text: str, key: object, slot: Slot | None) -> QAction:
    """An action of the window whose shortcut works while its menu is closed."""
    action = QAction(text, window)
    if key is not None:
        action.setShortcut(key)
    if slot is not None:
        action.triggered.connect(slot)
    window.addAction(action)
    return action


def toolbar_action(window: QWidget, bar: QToolBar, text: str, icon: str, key: object, slot: Slot) -> QAction:
    """A toolbar button whose tooltip names its shortcut."""
    action = QAction(theme.icon(icon), text, window)
    if key is not None:
        action.setShortcut(key)
        action.setToolTip(f"{text} ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})")
    action.triggered.connect(slot)
    bar.addAction(action)
    return action
