"""Issue 21, item 11, in the running app with default settings: a milestone goes to the drawer
but is not announced; a finished job is; a click on a drawer entry selects its job."""

from __future__ import annotations

from PySide6.QtCore import Qt

from core.config import load_settings
from core.notifications import add_notification
from core.records import NotificationType
from core.workspace import Workspace
from tests.desktop.test_quit_and_about import app  # noqa: F401 (the fixture: the app, one job running)


def notify(app, type: NotificationType, title: str) -> None:  # noqa: F811
    """A scheduler elsewhere writes a notification about the running job."""
    ws = Workspace.open(load_settings({"home": str(app.settings.home), "user": "quinn"}))
    try:
        (job,) = app.window.model.jobs()
        with ws.db.write() as session:
            add_notification(session, user_id="quinn", type=type, title=title, message="", job_id=job.id)
    finally:
        ws.close()


def entries(app) -> list[str]:  # noqa: F811
    panel = app.window.panel
    return [panel.list.item(i).text().splitlines()[0] for i in range(panel.list.count())]


def test_milestones_go_to_the_drawer_unannounced_and_a_click_there_selects_the_job(app, qtbot):  # noqa: F811
    window = app.window
    assert not window.notifier.uses_tray  # offscreen: the banner is what announces
    notify(app, NotificationType.JOB_PROGRESS, "long run is 50% done")
    qtbot.waitUntil(lambda: entries(app) == ["long run is 50% done"], timeout=10_000)
    assert window.named_actions["notifications_action"].text() == "Notifications (1)"
    assert not window.banner.isVisible()  # a milestone is not announced by default

    notify(app, NotificationType.JOB_COMPLETED, "long run completed")
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=10_000)
    assert "long run completed" in window.banner.text()
    assert entries(app) == ["long run completed"]  # one entry per job, its newest on top

    assert window.table.selected_job_id() is None
    qtbot.keyClick(
        window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    qtbot.waitUntil(window.drawer.isVisible)
    panel = window.panel
    qtbot.mouseClick(
        panel.list.viewport(),
        Qt.MouseButton.LeftButton,
        pos=panel.list.visualItemRect(panel.list.item(0)).center(),
    )
    (job,) = window.model.jobs()
    qtbot.waitUntil(lambda: window.table.selected_job_id() == job.id, timeout=5000)
