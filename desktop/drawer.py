"""The notifications drawer: slides over the right side of the window, leaving the table as it is."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from desktop import theme
from desktop.overlay import Pinned, right_drawer

DRAWER_WIDTH = 400


class Drawer(QFrame):
    """A titled panel over the right edge of `host`; Esc or the close button hides it.

    Signals:
        visibility_changed(bool): shown or hidden.
    """

    visibility_changed = Signal(bool)

    def __init__(self, title: str, content: QWidget, host: QWidget) -> None:
        super().__init__(host)
        self.setObjectName("Drawer")
        self.setAutoFillBackground(True)
        self.content = content
        heading = QLabel(title, objectName="DrawerTitle")
        close = QToolButton(icon=theme.icon("close"), autoRaise=True)
        close.setToolTip("Close (Esc)")
        close.clicked.connect(self.hide)
        top = QHBoxLayout()
        top.setContentsMargins(12, 8, 6, 0)
        top.addWidget(heading, 1)
        top.addWidget(close)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.setSpacing(0)
        layout.addLayout(top)
        layout.addWidget(content, 1)
        escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.hide)
        escape.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.pin = Pinned(self, host, right_drawer(DRAWER_WIDTH))
        self.hide()

    def toggle(self) -> None:
        self.setVisible(not self.isVisible())

    def setVisible(self, visible: bool) -> None:
        was = self.isVisible()
        super().setVisible(visible)
        if visible:
            self.pin.reposition()
            self.content.setFocus(Qt.FocusReason.OtherFocusReason)
        if was != visible:
            self.visibility_changed.emit(visible)
