"""A dialog body as tall as its content, up to what the screen has room for, scrolling beyond:
the new-job dialog with *Advanced settings* open fits a 1280×800 laptop with its buttons in sight."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QWidget

# Left for the window's title bar, the dialog's error line and buttons, and the desktop's panels.
SCREEN_MARGIN = 170


class FittingScroll(QScrollArea):
    def __init__(self, body: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.body = body
        self.setWidget(body)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()  # the body grew or shrank (a section shown): so does the hint
        return False

    def sizeHint(self) -> QSize:
        body = self.body.sizeHint()
        room = self.screen().availableGeometry().height() - SCREEN_MARGIN
        bar = self.verticalScrollBar().sizeHint().width() if body.height() > room else 0
        return QSize(body.width() + bar, min(body.height(), room))

    def minimumSizeHint(self) -> QSize:
        body = self.body.minimumSizeHint()
        return QSize(body.width() + self.verticalScrollBar().sizeHint().width(), min(body.height(), 240))
