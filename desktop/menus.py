"""The menu bar (File, Jobs, View, Help) over the window's actions, and the shortcuts list.

Every action the toolbar, the table or the monitor offers is in a menu with its shortcut, so a
person can find it by reading; Help lists the shortcuts in one place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMainWindow,
    QMenu,
    QMenuBar,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.app_resources import app_version

# (menu title, action names (window_actions' and job_actions'); None draws a separator)
MENUS: tuple[tuple[str, tuple[str | None, ...]], ...] = (
    (
        "&File",
        (
            "new_job_action",
            "add_dataset_action",
            "datasets_action",
            None,
            "settings_action",
            None,
            "quit_action",
        ),
    ),
    (
        "&Jobs",
        (
            "cancel_action",
            "rules_action",
            "compare_action",
            "clone_action",
            "retry_action",
            "delete_action",
            None,
            "open_adapter_action",
            "copy_adapter_action",
            "try_action",
            "export_adapter_action",
            "copy_id_action",
            "export_action",
            None,
            "pause_action",
        ),
    ),
    ("&View", ("notifications_action", "find_action", "refresh_action")),
    ("&Help", ("shortcuts_action", "about_action")),
)


def build_menu_bar(window: QMainWindow, actions: Mapping[str, QAction]) -> QMenuBar:
    """Fill the window's menu bar from its actions (named in MENUS)."""
    bar = window.menuBar()
    for title, names in MENUS:
        menu = bar.addMenu(title)
        for name in names:
            if name is None:
                menu.addSeparator()
            else:
                menu.addAction(actions[name])
    return bar


def shortcut_text(action: QAction) -> str:
    return action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)


def action_name(action: QAction) -> str:
    """The action's words without mnemonic, ellipsis or a live count ("Notifications (3)")."""
    return re.sub(r" \(\d+\)$", "", action.text().replace("&", "").rstrip("…"))


def menu_actions(bar: QMenuBar) -> list[tuple[str, QAction]]:
    """(menu title, action) for every action in the bar's menus, in menu order."""
    found: list[tuple[str, QAction]] = []
    for top in bar.actions():
        menu = top.menu()
        if isinstance(menu, QMenu):
            title = top.text().replace("&", "")
            found.extend((title, action) for action in menu.actions() if not action.isSeparator())
    return found


class ShortcutsDialog(QDialog):
    """Every menu action that has a shortcut: the menu, the action and its keys."""

    def __init__(self, bar: QMenuBar, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = [
            (menu, action_name(action), shortcut_text(action))
            for menu, action in menu_actions(bar)
            if not action.shortcut().isEmpty()
        ]
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Menu", "Action", "Shortcut"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setShowGrid(False)
        for row, values in enumerate(rows):
            for column, text in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(440, 120 + 30 * len(rows))

    def rows(self) -> list[tuple[str, ...]]:
        """What the dialog lists, as a person reads it."""
        return [
            tuple(_text(self.table.item(row, column)) for column in range(3))
            for row in range(self.table.rowCount())
        ]


def _text(item: QTableWidgetItem | None) -> str:
    return item.text() if item is not None else ""


def show_about(parent: QWidget) -> QMessageBox:
    box = QMessageBox(
        QMessageBox.Icon.Information,
        "About Loradesk",
        f"Loradesk {app_version()}\n\nLoradesk watches and steers LoRA fine-tuning jobs: a job table, "
        "a live monitor of the selected job, notifications, and an embedded scheduler.",
        QMessageBox.StandardButton.Close,
        parent,
    )
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.finished.connect(box.deleteLater)
    box.open()
    return box
