"""The main window's own actions: the toolbar (New job, Add dataset, Refresh, the search field,
the status filter, Notifications, Settings), the actions found in the menu bar only, and Del.

Each becomes an attribute of the window under the name `desktop.menus.MENUS` gives it; the
per-job actions (clone, retry, delete, adapter) are `desktop.job_actions`'. The actions that
need a workspace stay disabled until the window is attached to one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QLineEdit, QSizePolicy, QToolBar, QWidget

from core.records import JobStatus
from desktop import theme
from desktop.menus import show_about

if TYPE_CHECKING:
    from desktop.main_window import MainWindow

STATUS_FILTERS = [
    ("All statuses", None),
    ("Active", {JobStatus.QUEUED, JobStatus.INITIALIZING, JobStatus.RUNNING}),
    *[(status.value.capitalize(), {status}) for status in JobStatus],
]


def build_actions(window: MainWindow) -> None:
    """The toolbar, the menu-bar-only actions and Del, as attributes of `window`."""
    bar = QToolBar("Main", objectName="MainToolBar", movable=False)
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    window.addToolBar(bar)
    window.new_job_action = toolbar_action(
        window, bar, "New job", "add", QKeySequence.StandardKey.New, lambda: window.new_job()
    )
    window.add_dataset_action = toolbar_action(
        window, bar, "Add dataset", "dataset", QKeySequence("Ctrl+D"), window.add_dataset
    )
    window.refresh_action = toolbar_action(
        window, bar, "Refresh", "refresh", QKeySequence("F5"), window.refresh
    )
    bar.addSeparator()
    search = QLineEdit(placeholderText="Search jobs, notes, #tags (Ctrl+F)", clearButtonEnabled=True)
    search.addAction(theme.icon("search"), QLineEdit.ActionPosition.LeadingPosition)
    search.setMaximumWidth(280)
    window.search = search
    window.search_timer = QTimer(window, singleShot=True, interval=150)
    window.search_timer.timeout.connect(lambda: window.proxy.set_text(search.text()))
    search.textChanged.connect(lambda _text: window.search_timer.start())
    bar.addWidget(search)
    status_filter = QComboBox()
    for label, statuses in STATUS_FILTERS:
        status_filter.addItem(label, statuses)
    status_filter.currentIndexChanged.connect(
        lambda _i: window.proxy.set_statuses(status_filter.currentData())
    )
    window.status_filter = status_filter
    bar.addWidget(status_filter)
    spacer = QWidget()
    spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    bar.addWidget(spacer)
    window.notifications_action = toolbar_action(
        window, bar, "Notifications", "bell", QKeySequence("Ctrl+Shift+N"), window.toggle_notifications
    )
    window.settings_action = toolbar_action(
        window, bar, "Settings", "settings", QKeySequence("Ctrl+,"), window.settings_requested.emit
    )
    build_menu_actions(window)
    window.cancel_action = QAction("Cancel job", window, shortcut=QKeySequence(Qt.Key.Key_Delete))
    window.cancel_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    window.cancel_action.triggered.connect(window.cancel_selected)
    for widget in (window.table, window.monitor):  # not in the search field, where Del edits text
        widget.addAction(window.cancel_action)
    for action in (window.new_job_action, window.add_dataset_action, window.refresh_action):
        action.setEnabled(False)


def build_menu_actions(window: MainWindow) -> None:
    """Actions found in the menu bar only (the toolbar's are shared with it)."""
    window.find_action = window_action(window, "Find", QKeySequence.StandardKey.Find, window.focus_search)
    window.export_action = window_action(
        window, "Export metrics as CSV…", QKeySequence("Ctrl+E"), window.monitor.choose_csv
    )
    window.quit_action = window_action(window, "Quit", QKeySequence("Ctrl+Q"), window.quit_requested.emit)
    window.quit_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
    window.pause_action = window_action(window, "Pause scheduler", None, window.set_scheduler_paused)
    window.pause_action.setCheckable(True)
    window.pause_action.setEnabled(False)
    window.compare_action = window_action(
        window, "Compare selected", QKeySequence("Ctrl+M"), window.compare_selected
    )
    window.compare_action.setToolTip("Overlay the selected jobs' loss and set their settings side by side")
    window.rules_action = window_action(
        window, "Stop rules…", QKeySequence("Ctrl+Shift+G"), lambda: window.edit_rules_of_selected()
    )
    window.rules_action.setToolTip("Edit the selected job's guardrails: cost and time caps, NaN, plateau")
    window.shortcuts_action = window_action(
        window, "Keyboard shortcuts", QKeySequence("F1"), window.show_shortcuts
    )
    window.about_action = window_action(window, "About Loradesk", None, lambda: show_about(window))


def window_action(window: MainWindow, text: str, key: object, slot: object) -> QAction:
    """An action of the window whose shortcut works while its menu is closed."""
    action = QAction(text, window)
    if key is not None:
        action.setShortcut(key)  # type: ignore[arg-type]
    action.triggered.connect(slot)  # type: ignore[arg-type]
    window.addAction(action)
    return action


def toolbar_action(
    window: MainWindow, bar: QToolBar, text: str, icon: str, key: object, slot: object
) -> QAction:
    """A toolbar button whose tooltip names its shortcut."""
    action = QAction(theme.icon(icon), text, window)
    if key is not None:
        action.setShortcut(key)  # type: ignore[arg-type]
        action.setToolTip(f"{text} ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})")
    action.triggered.connect(slot)  # type: ignore[arg-type]
    bar.addAction(action)
    return action
