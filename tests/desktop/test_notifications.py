"""Notifications: the panel's unread count and mark-as-read; tray message or banner."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QSystemTrayIcon

from core.config import load_settings
from core.records import NotificationType
from desktop.banner import Banner
from desktop.notifications_panel import NOTE_ROLE, NotificationsPanel, Notifier
from tests.desktop.factories import make_notification


@pytest.fixture
def panel(qtbot):
    widget = NotificationsPanel()
    qtbot.addWidget(widget)
    return widget


def test_unread_count_and_dedupe(panel, qtbot):
    panel.set_notifications([make_notification(1, read=True), make_notification(2)])
    assert panel.unread_count == 1
    note = make_notification(3)
    with qtbot.waitSignal(panel.unread_changed) as signal:
        assert panel.add([note]) == [note]
    assert signal.args == [2]
    assert panel.add([note]) == []  # the event, then the poll: listed once
    assert panel.list.count() == 3
    assert panel.list.item(0).text().startswith(note.title)  # newest first
    assert panel.count_label.text() == "2 unread"


def test_mark_all_read(panel, qtbot):
    panel.set_notifications([make_notification(n) for n in range(3)])
    with qtbot.waitSignal(panel.mark_read_requested) as signal:
        panel.mark_all.click()
    assert signal.args == [None]
    assert panel.unread_count == 0
    assert not panel.mark_all.isEnabled()
    assert all(panel.list.item(i).data(NOTE_ROLE).read for i in range(3))


def test_double_click_marks_one_read_and_opens_its_job(panel, qtbot):
    note = make_notification(1, job_id="job-42")
    panel.set_notifications([note, make_notification(2)])
    item = next(panel.list.item(i) for i in range(2) if panel.list.item(i).text().startswith(note.title))
    with qtbot.waitSignal(panel.mark_read_requested) as marked, qtbot.waitSignal(panel.job_activated) as job:
        panel.list.itemDoubleClicked.emit(item)
    assert marked.args == [[note.id]]
    assert job.args == ["job-42"]
    assert panel.unread_count == 1


class RecordingTray(QSystemTrayIcon):
    def __init__(self):
        super().__init__()
        self.messages = []

    def showMessage(self, title, message, icon=None, msecs=10000):
        self.messages.append((title, message, icon))


def test_tray_message_when_a_tray_exists(qtbot):
    banner = Banner()
    qtbot.addWidget(banner)
    tray = RecordingTray()
    notifier = Notifier(banner, tray, tray_available=lambda: True)
    note = make_notification(1, type=NotificationType.JOB_FAILED, priority="high", title="Job x failed")
    notifier.announce(note)
    assert tray.messages == [("Job x failed", note.message, QSystemTrayIcon.MessageIcon.Warning)]
    assert banner.isHidden()


def test_banner_when_there_is_no_tray(qtbot):
    banner = Banner()
    qtbot.addWidget(banner)
    tray = RecordingTray()
    notifier = Notifier(banner, tray, tray_available=lambda: False)
    notifier.announce(make_notification(1, title="Job <b> done"))
    assert tray.messages == []
    assert not banner.isHidden()
    assert "Job &lt;b&gt; done" in banner.text()  # titles are text, not markup
    banner.dismiss()
    assert banner.isHidden()


def test_only_the_chosen_types_are_announced(qtbot):
    banner = Banner()
    qtbot.addWidget(banner)
    tray = RecordingTray()
    notifier = Notifier(banner, tray, tray_available=lambda: True)
    notifier.announced = frozenset(load_settings({"notify": "job_completed,job_failed"}, environ={}).notify)
    notifier.announce(make_notification(1, type=NotificationType.JOB_PROGRESS, title="run 1 is 50% done"))
    notifier.announce(make_notification(2, type=NotificationType.JOB_STARTED, title="run 2 started"))
    notifier.announce(make_notification(3, type=NotificationType.JOB_FAILED, title="run 3 failed"))
    assert [title for title, _message, _icon in tray.messages] == ["run 3 failed"]
