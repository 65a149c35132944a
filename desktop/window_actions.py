"""The main window's own actions: the toolbar (New job, Add dataset, Refresh, the search field,
the status filter, Notifications, Settings) and the actions found in the menu bar only.

`build_actions` returns them by the names `desktop.menus.MENUS` uses; the per-job actions
(cancel, clone, retry, delete, adapter) are `desktop.job_actions`'. The actions that need a
workspace stay disabled until the window is attached to one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QLineEdit, QMainWindow, QSizePolicy, QToolBar, QWidget

from core.records import JobStatus
from desktop import theme
from desktop.jobs_model import JobFilterProxy

STATUS_FILTERS = [
    ("All statuses", None),
    ("Active", {JobStatus.QUEUED, JobStatus.INITIALIZING, JobStatus.RUNNING}),
    *[(status.value.capitalize(), {status}) for status in JobStatus],
]
Slot = Callable[..., object]
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


@dataclass
class WindowActions:
    """The window's actions by name, and the toolbar's search field and status filter."""

    actions: dict[str, QAction]
    search: QLineEdit
    status_filter: QComboBox
    search_timer: QTimer

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()


def build_actions(window: QMainWindow, proxy: JobFilterProxy, slots: Mapping[str, Slot]) -> WindowActions:
    """The toolbar and the menu-bar-only actions; `slots` has a slot for each name (but find and
    pause, which `desktop.scheduler_status` takes)."""
    bar = QToolBar("Main", objectName="MainToolBar", movable=False)
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    window.addToolBar(bar)
    actions = {
        name: toolbar_action(window, bar, text, icon, key, slots[name]) for name, text, icon, key in TOOLBAR
    }
    bar.addSeparator()
    search = QLineEdit(placeholderText="Search jobs, notes, #tags (Ctrl+F)", clearButtonEnabled=True)
    search.addAction(theme.icon("search"), QLineEdit.ActionPosition.LeadingPosition)
    search.setMaximumWidth(280)
    search_timer = QTimer(window, singleShot=True, interval=150)
    search_timer.timeout.connect(lambda: proxy.set_text(search.text()))
    search.textChanged.connect(lambda _text: search_timer.start())
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
    built = WindowActions(actions, search, status_filter, search_timer)
    actions["find_action"] = window_action(window, "Find", QKeySequence.StandardKey.Find, built.focus_search)
    for name, text, key, tip in MENU_ONLY:
        actions[name] = window_action(window, text, key, slots.get(name))
        if tip:
            actions[name].setToolTip(tip)
    actions["quit_action"].setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
    actions["pause_action"].setCheckable(True)
    actions["pause_action"].setEnabled(False)
    for name in NEED_A_WORKSPACE:
        actions[name].setEnabled(False)
    return built


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
