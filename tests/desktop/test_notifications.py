"""Notifications: the panel's unread count and mark-as-read; tray message or banner."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
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
    panel.set_notifications([make_notification(1, read=True, job_id="a"), make_notification(2, job_id="b")])
    assert panel.unread_count == 1
    note = make_notification(3, job_id="c")
    with qtbot.waitSignal(panel.unread_changed) as signal:
        assert panel.add([note]) == [note]
    assert signal.args == [2]
    assert panel.add([note]) == []  # the event, then the poll: listed once
    assert panel.list.count() == 3
    assert panel.list.item(0).text().startswith(note.title)  # newest first
    assert panel.count_label.text() == "2 unread"


def test_mark_all_read(panel, qtbot):
    panel.set_notifications([make_notification(n, job_id=f"job-{n}") for n in range(3)])
    with qtbot.waitSignal(panel.mark_read_requested) as signal:
        panel.mark_all.click()
    assert signal.args == [None]
    assert panel.unread_count == 0
    assert not panel.mark_all.isEnabled()
    assert all(panel.list.item(i).data(NOTE_ROLE).read for i in range(3))


def test_a_click_marks_the_entry_read_and_selects_its_job(panel, qtbot):
    note = make_notification(1, job_id="job-42")
    panel.set_notifications([note, make_notification(2)])
    panel.show()
    item = next(panel.list.item(i) for i in range(2) if panel.list.item(i).text().startswith(note.title))
    with qtbot.waitSignal(panel.mark_read_requested) as marked, qtbot.waitSignal(panel.job_activated) as job:
        qtbot.mouseClick(
            panel.list.viewport(), Qt.MouseButton.LeftButton, pos=panel.list.visualItemRect(item).center()
        )
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


def test_a_jobs_notifications_share_one_entry_newest_on_top(panel, qtbot):
    started = make_notification(1, job_id="job-7", type=NotificationType.JOB_STARTED, title="run 7 started")
    quarter = make_notification(
        2, job_id="job-7", type=NotificationType.JOB_PROGRESS, title="run 7 is 25% done"
    )
    other = make_notification(3, job_id="job-8", title="run 8 completed")
    panel.set_notifications([started, quarter, other])
    assert panel.list.count() == 2
    entry = next(panel.list.item(i) for i in range(2) if panel.list.item(i).data(NOTE_ROLE).job_id == "job-7")
    shown = entry.data(NOTE_ROLE)
    assert shown.title == "run 7 is 25% done" and shown.message.endswith("\n+ 1 earlier")
    assert "run 7 started" in entry.toolTip() and "run 7 is 25% done" in entry.toolTip()
    half = make_notification(4, job_id="job-7", type=NotificationType.JOB_PROGRESS, title="run 7 is 50% done")
    panel.add([half])
    assert panel.list.count() == 2 and panel.list.item(0).data(NOTE_ROLE).title == "run 7 is 50% done"
    assert panel.unread_count == 4


def test_the_list_does_not_move_under_the_pointer_while_new_ones_arrive(panel, qtbot):
    panel.resize(360, 300)
    panel.show()
    qtbot.waitExposed(panel)
    panel.set_notifications([make_notification(n, job_id=f"job-{n}") for n in range(12)])
    bar = panel.list.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)  # laid out: more entries than fit
    bar.setValue(bar.maximum() // 2)  # the person scrolled to read further down
    top = panel.list.itemAt(5, 5)
    before = panel.list.visualItemRect(top).top()
    panel.add([make_notification(n, job_id=f"new-{n}") for n in range(20, 23)])
    assert panel.list.itemAt(5, 5) is top
    assert panel.list.visualItemRect(top).top() == before
