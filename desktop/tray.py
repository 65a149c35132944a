"""The system-tray icon and its menu: show the window, pause or resume the scheduler, quit."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from desktop import theme


class AppTray(QSystemTrayIcon):
    """Signals:
    show_requested(): bring the main window back.
    pause_toggled(bool): True to pause the embedded scheduler, False to resume it.
    quit_requested(): leave the app (the window's close only hides it to the tray).
    """

    show_requested = Signal()
    pause_toggled = Signal(bool)
    quit_requested = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(theme.app_icon(), parent)
        self.setToolTip("Loradesk")
        self.menu = QMenu()
        self.show_action = self.menu.addAction("Show Loradesk", self.show_requested.emit)
        self.pause_action = QAction("Pause scheduler", self.menu, checkable=True)
        self.pause_action.toggled.connect(self._pause_toggled)
        self.menu.addAction(self.pause_action)
        self.menu.addSeparator()
        self.quit_action = self.menu.addAction("Quit", self.quit_requested.emit)
        self.setContextMenu(self.menu)
        self.activated.connect(self._activated)

    def set_paused(self, paused: bool) -> None:
        """Reflect the scheduler's state without asking for a change."""
        self.pause_action.blockSignals(True)
        self.pause_action.setChecked(paused)
        self.pause_action.setText("Resume scheduler" if paused else "Pause scheduler")
        self.pause_action.blockSignals(False)

    def _pause_toggled(self, paused: bool) -> None:
        self.pause_action.setText("Resume scheduler" if paused else "Pause scheduler")
        self.pause_toggled.emit(paused)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.show_requested.emit()
