"""An in-window banner: notifications when there is no system tray, and errors worth a glance."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from core.safe_text import printable
from desktop import theme

HIDE_AFTER_MS = 10_000


class Banner(QFrame):
    """One line of text with a close button; hides itself after a while.

    Signals:
        closed(): the user dismissed the banner.
    """

    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Banner")
        # Plain text: a job's name in a message is never read as markup.
        self.label = QLabel(wordWrap=True, textFormat=Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(icon=theme.icon("close"), autoRaise=True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self._timer = QTimer(self, singleShot=True, timeout=self.hide)
        self.hide()

    def show_message(self, text: str, *, kind: str = "info", sticky: bool = False) -> None:
        """Show `text`; kind is "info", "warning" or "error"; sticky banners stay until dismissed."""
        self.label.setText(printable(text, lines=True))
        self.setProperty("kind", kind)
        self.style().unpolish(self)
        self.style().polish(self)
        for child in self.findChildren(QLabel):
            self.style().unpolish(child)
            self.style().polish(child)
        self.show()
        if sticky:
            self._timer.stop()
        else:
            self._timer.start(HIDE_AFTER_MS)

    def text(self) -> str:
        return self.label.text()

    def dismiss(self) -> None:
        self.hide()
        self.closed.emit()
