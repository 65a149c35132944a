"""Widgets that float over the window instead of taking room in its layout.

The notifications drawer and the banner sit on top of the table and monitor: opening or showing
them never moves a row under the user's pointer, and never narrows the table.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QRect
from PySide6.QtWidgets import QWidget

Placement = Callable[[QRect, QWidget], QRect]
_OWN_CHANGES = (QEvent.Type.Show, QEvent.Type.LayoutRequest)  # shown, or its text changed size


class Pinned(QObject):
    """Keeps `widget` (a child of `host`) where `place(host rect, widget)` says, as the host resizes."""

    def __init__(self, widget: QWidget, host: QWidget, place: Placement) -> None:
        super().__init__(widget)
        self.widget, self.host, self.place = widget, host, place
        widget.setParent(host)
        host.installEventFilter(self)
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        host_resized = watched is self.host and kind == QEvent.Type.Resize
        if host_resized or (watched is self.widget and kind in _OWN_CHANGES):
            self.reposition()
        return False

    def reposition(self) -> None:
        self.widget.setGeometry(self.place(self.host.rect(), self.widget))
        self.widget.raise_()


def right_drawer(width: int, *, margin: int = 0) -> Placement:
    """Full height along the right edge, `width` wide (at most 90 % of the host)."""

    def place(host: QRect, _widget: QWidget) -> QRect:
        w = min(width, int(host.width() * 0.9))
        return QRect(host.right() - w - margin + 1, host.top() + margin, w, host.height() - 2 * margin)

    return place


def bottom_toast(max_width: int, *, margin: int = 12) -> Placement:
    """Centred near the bottom edge, as tall as its text needs."""

    def place(host: QRect, widget: QWidget) -> QRect:
        w = min(max_width, host.width() - 2 * margin)
        layout = widget.layout()
        h = widget.heightForWidth(w) if widget.hasHeightForWidth() else -1
        if h < 0:
            h = layout.totalHeightForWidth(w) if layout is not None and layout.hasHeightForWidth() else -1
        if h < 0:
            h = widget.sizeHint().height()
        return QRect(host.left() + (host.width() - w) // 2, host.bottom() - h - margin + 1, w, h)

    return place
