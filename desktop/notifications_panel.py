"""Notifications: the panel with the unread count and mark-as-read, and where new ones are shown.

A notification can reach the app twice (the scheduler's event, then the watermark poll); the
panel keys them by id, so each is listed and announced once.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import replace

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from core.records import Notification, NotificationType
from core.safe_text import printable
from desktop import formatting as fmt
from desktop import theme
from desktop.app_state import AppState, Deleted
from desktop.banner import Banner

_ICONS = {
    NotificationType.JOB_STARTED: "play",
    NotificationType.JOB_PROGRESS: "refresh",
    NotificationType.JOB_COMPLETED: "check",
    NotificationType.JOB_FAILED: "cancel",
    NotificationType.JOB_CANCELLED: "cancel",
    NotificationType.JOB_WARNING: "bell",
    NotificationType.CLUSTER_AUTH_FAILED: "settings",
}
ID_ROLE = Qt.ItemDataRole.UserRole + 1
NOTE_ROLE = Qt.ItemDataRole.UserRole + 2
MIN_ITEM_HEIGHT = 56
PADDING = 9
WRAP = int(Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap)


class NotificationDelegate(QStyledItemDelegate):
    """Icon, title (bold while unread) and time on top, the message muted beneath; both wrap, so
    a long job name or id is read whole rather than cut off."""

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        note: Notification | None = index.data(NOTE_ROLE)
        style = option.widget.style() if option.widget else None
        if style is not None:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, option.widget)
        if note is None:
            return
        rect = option.rect.adjusted(PADDING, PADDING, -PADDING, -PADDING)
        palette = option.palette
        painter.save()
        index.data(Qt.ItemDataRole.DecorationRole).paint(painter, QRect(rect.left(), rect.top(), 18, 18))
        title, message, when = self._rects(option, note, rect)
        painter.setFont(option.font)
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(when, Qt.AlignmentFlag.AlignRight, fmt.timestamp(note.created_at))
        painter.drawText(message, WRAP, printable(note.message, lines=True))
        painter.setFont(_title_font(option, note))
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        painter.drawText(title, WRAP, printable(note.title))
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        note: Notification | None = index.data(NOTE_ROLE)
        view = option.widget
        width = view.viewport().width() if isinstance(view, QListWidget) else option.rect.width()
        if note is None or width <= 0:
            return QSize(0, MIN_ITEM_HEIGHT)
        rect = QRect(PADDING, PADDING, width - 2 * PADDING, 10_000)
        _title, message, _when = self._rects(option, note, rect)
        return QSize(0, max(MIN_ITEM_HEIGHT, message.bottom() + PADDING))  # as wide as the list

    def _rects(self, option: QStyleOptionViewItem, note: Notification, rect: QRect) -> tuple[QRect, ...]:
        """Where the title, the message and the time go inside `rect`, each as tall as its text."""
        text_left = rect.left() + 28
        plain = QFontMetrics(option.font)
        when_width = plain.horizontalAdvance(fmt.timestamp(note.created_at))
        when = QRect(rect.right() - when_width, rect.top(), when_width, 18)
        title_width = max(40, rect.right() - when_width - 8 - text_left)
        title_box = QFontMetrics(_title_font(option, note)).boundingRect(
            QRect(0, 0, title_width, 10_000), WRAP, printable(note.title)
        )
        title = QRect(text_left, rect.top(), title_width, max(18, title_box.height()))
        message_width = rect.right() - text_left
        message_box = plain.boundingRect(
            QRect(0, 0, message_width, 10_000), WRAP, printable(note.message, lines=True)
        )
        message = QRect(text_left, title.bottom() + 3, message_width, message_box.height())
        return title, message, when


def _group_of(note: Notification) -> str:
    """The entry a notification is listed under: its job's, or its own when it has no job."""
    return note.job_id or note.id


def _title_font(option: QStyleOptionViewItem, note: Notification) -> QFont:
    font = QFont(option.font)
    font.setBold(not note.read)
    return font


class NotificationsPanel(QWidget):
    """The list of notifications, newest first, unread in bold.

    Signals:
        unread_changed(int): the number of unread notifications.
        mark_read_requested(object): ids to mark read in the database (None: all).
        job_activated(str): the user clicked a notification about this job.
    """

    unread_changed = Signal(int)
    mark_read_requested = Signal(object)
    job_activated = Signal(str)

    def __init__(self, state: AppState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._notes: dict[str, Notification] = {}
        if state is not None:
            state.notifications_reset.connect(self.set_notifications)
            state.notifications_added.connect(self.add)
            state.jobs_deleted.connect(self._jobs_deleted)
        self._items: dict[str, QListWidgetItem] = {}
        self.count_label = QLabel(objectName="Muted")
        self.mark_all = QPushButton("Mark all read")
        self.mark_all.clicked.connect(self.mark_all_read)
        self.list = QListWidget()
        self.list.setItemDelegate(NotificationDelegate(self.list))
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)  # heights follow the width
        self.list.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setAlternatingRowColors(True)
        self.list.itemClicked.connect(self._activated)
        header = QHBoxLayout()
        header.addWidget(self.count_label, 1)
        header.addWidget(self.mark_all)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(header)
        layout.addWidget(self.list, 1)
        self._show_count()

    @property
    def unread_count(self) -> int:
        return sum(1 for note in self._notes.values() if not note.read)

    def notifications(self) -> list[Notification]:
        return sorted(self._notes.values(), key=lambda n: fmt.utc(n.created_at), reverse=True)

    def set_notifications(self, notes: Iterable[Notification]) -> None:
        """Replace the list (first load)."""
        self._notes.clear()
        self._items.clear()
        self.list.clear()
        self.add(notes)

    def add(self, notes: Iterable[Notification]) -> list[Notification]:
        """Add notifications; returns those that were not listed yet. A job's notifications share
        one entry, its newest on top; while the pointer is over the list (or it is scrolled) the
        entries under it stay where they are."""
        fresh = [note for note in notes if note.id not in self._notes]
        if not fresh:
            return fresh
        anchor = self._anchor()
        for note in sorted(fresh, key=lambda n: fmt.utc(n.created_at)):
            self._notes[note.id] = note
            key = _group_of(note)
            item = self._items.get(key)
            if item is None:
                item = QListWidgetItem(theme.icon(_ICONS.get(note.type, "bell")), "")
                item.setData(ID_ROLE, key)
                self._items[key] = item
                self.list.insertItem(0, item)
            elif anchor is None and self.list.row(item) > 0:  # newest first, unless it would move
                self.list.insertItem(0, self.list.takeItem(self.list.row(item)))
            item.setIcon(theme.icon(_ICONS.get(note.type, "bell")))
            self._paint(item)
        self._restore(anchor)
        self._show_count()
        return fresh

    def _anchor(self) -> tuple[QListWidgetItem, int] | None:
        """The entry at the top of the view and where it is, when the list must not move."""
        scrolled = self.list.verticalScrollBar().value() > 0
        if not (self.list.underMouse() or scrolled) or self.list.count() == 0:
            return None
        top = self.list.itemAt(0, 0) or self.list.item(0)
        return top, self.list.visualItemRect(top).top()

    def _restore(self, anchor: tuple[QListWidgetItem, int] | None) -> None:
        if anchor is None:
            return
        item, before = anchor
        self.list.doItemsLayout()
        self.list.scrollToItem(item, QListWidget.ScrollHint.PositionAtTop)
        bar = self.list.verticalScrollBar()
        bar.setValue(bar.value() - before)  # the same pixel row as before, not just the same entry

    def group(self, key: str) -> list[Notification]:
        """The notifications of one entry (a job's, or a notification of no job), newest first."""
        found = [note for note in self._notes.values() if _group_of(note) == key]
        return sorted(found, key=lambda n: fmt.utc(n.created_at), reverse=True)

    def _jobs_deleted(self, deleted: Deleted) -> None:
        for job_id in deleted.job_ids:
            self.remove_job(job_id)

    def remove_job(self, job_id: str) -> None:
        """Take a deleted job's notifications off the list."""
        for note_id in [i for i, note in self._notes.items() if note.job_id == job_id]:
            del self._notes[note_id]
        item = self._items.pop(job_id, None)
        if item is not None:
            self.list.takeItem(self.list.row(item))
        self._show_count()

    def mark_all_read(self) -> None:
        ids = [note_id for note_id, note in self._notes.items() if not note.read]
        if ids:
            self.mark_read_locally(ids)
            self.mark_read_requested.emit(None)

    def mark_read(self, ids: list[str]) -> None:
        unread = [i for i in ids if i in self._notes and not self._notes[i].read]
        if unread:
            self.mark_read_locally(unread)
            self.mark_read_requested.emit(unread)

    def mark_read_locally(self, ids: Iterable[str]) -> None:
        for note_id in ids:
            note = self._notes.get(note_id)
            if note is not None and not note.read:
                self._notes[note_id] = replace(note, read=True)
                self._paint(self._items[_group_of(note)])
        self._show_count()

    def _paint(self, item: QListWidgetItem) -> None:
        """The entry as drawn: its newest notification, unread while any of them is, with the
        earlier ones counted beneath and listed in its tooltip."""
        notes = self.group(item.data(ID_ROLE))
        newest = notes[0]
        earlier = len(notes) - 1
        message = newest.message + (f"\n+ {earlier} earlier" if earlier else "")
        shown = replace(newest, message=message, read=all(note.read for note in notes))
        # for accessibility and search; drawn by the delegate
        item.setText(printable(f"{shown.title}\n{shown.message}", lines=True))
        item.setData(NOTE_ROLE, shown)
        item.setToolTip(
            printable("\n".join(f"{fmt.timestamp(n.created_at)}  {n.title}" for n in notes), lines=True)
        )

    def _show_count(self) -> None:
        unread = self.unread_count
        self.count_label.setText(f"{unread} unread" if unread else "All caught up")
        self.mark_all.setEnabled(unread > 0)
        self.unread_changed.emit(unread)

    def _activated(self, item: QListWidgetItem) -> None:
        """A click on an entry: its notifications are read, and its job is selected."""
        notes = self.group(item.data(ID_ROLE))
        if not notes:
            return
        self.mark_read([note.id for note in notes])
        if notes[0].job_id:
            self.job_activated.emit(notes[0].job_id)


class Notifier(QObject):
    """Announces new notifications: a tray message when a tray exists, the banner otherwise.

    Only the types in `announced` (the `notify` setting) are announced; the panel lists them all.
    With a state, it announces the notifications the state takes in for the first time.
    """

    def __init__(
        self,
        banner: Banner,
        tray: QSystemTrayIcon | None,
        *,
        state: AppState | None = None,
        tray_available: Callable[[], bool] = QSystemTrayIcon.isSystemTrayAvailable,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.banner = banner
        self.tray = tray
        self._tray_available = tray_available
        self.announced: frozenset[str] = frozenset(NotificationType)
        if state is not None:
            state.notifications_added.connect(self.announce_all)

    @property
    def uses_tray(self) -> bool:
        return self.tray is not None and self._tray_available()

    def announce_all(self, notes: list[Notification]) -> None:
        for note in notes:
            self.announce(note)

    def announce(self, note: Notification) -> None:
        if note.type not in self.announced:
            return
        if self.uses_tray:
            assert self.tray is not None
            icon = QSystemTrayIcon.MessageIcon
            level = icon.Warning if note.priority == "high" else icon.Information
            self.tray.showMessage(printable(note.title), printable(note.message, lines=True), level, 8000)
        else:
            kind = (
                "error"
                if note.type == NotificationType.JOB_FAILED
                else ("warning" if note.priority == "high" else "info")
            )
            text = f"<b>{html.escape(note.title)}</b> — {html.escape(note.message)}"
            self.banner.show_message(text, kind=kind)
