"""Text from a cluster or another person reaches the window's labels with control and bidi
characters escaped (issue 23, item 9): the job table, the monitor's title, the log, notifications
and the banner, which never reads a message as markup."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop.banner import Banner
from desktop.jobs_model import Column, JobTableModel
from desktop.log_view import LogView
from desktop.notifications_panel import NotificationsPanel
from tests.desktop.factories import make_job, make_notification

RAW = ("\x1b", "\x07", "\x00", "\u202e")
HOSTILE = "a\x1b]0;title\x07b\x00 \u202etxt.exe"


def _clean(text: str) -> bool:
    return not any(c in text for c in RAW)


def test_the_job_table_shows_names_tags_and_errors_escaped(qtbot):
    model = JobTableModel()
    model.set_jobs([make_job(1, name="run\u202eevil", tags=["x\x1b[2Jy"], error_message=HOSTILE)])
    name = model.index(0, Column.NAME)
    assert model.data(name) == "run\\u202eevil"
    assert _clean(model.data(name, Qt.ItemDataRole.ToolTipRole))
    assert "#x\\x1b[2Jy" in model.data(name, Qt.ItemDataRole.ToolTipRole)
    status_tip = model.data(model.index(0, Column.STATUS), Qt.ItemDataRole.ToolTipRole)
    assert status_tip == "a\\x1b]0;title\\x07b\\x00 \\u202etxt.exe"


def test_the_log_view_shows_a_clusters_escape_sequences_as_text(qtbot):
    view = LogView()
    qtbot.addWidget(view)
    view._append(f"step 1\n{HOSTILE}\n")
    shown = view.text.toPlainText()
    assert _clean(shown) and "\\x1b]0;title\\x07" in shown and shown.startswith("step 1\n")


def test_notifications_and_the_banner_show_plain_escaped_text(qtbot):
    panel = NotificationsPanel()
    qtbot.addWidget(panel)
    panel.set_notifications([make_notification(1, title="done \u202ereversed", message=HOSTILE)])
    item = panel.list.item(0)
    assert _clean(item.text()) and _clean(item.toolTip()) and "\\u202ereversed" in item.text()
    banner = Banner()
    qtbot.addWidget(banner)
    banner.show_message(f"<b>bold?</b> {HOSTILE}")
    assert banner.label.textFormat() == Qt.TextFormat.PlainText
    assert banner.text() == "<b>bold?</b> a\\x1b]0;title\\x07b\\x00 \\u202etxt.exe"
