"""The window's layout as a person meets it: the empty first start, the drawer, the banner, menus."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAction, QFont, QFontMetrics
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QToolBar

from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.jobs.service import create_job
from core.workspace import Workspace
from desktop.core_events import CoreEvents
from desktop.main_window import MainWindow
from desktop.menus import ShortcutsDialog
from desktop.operations import Runner
from desktop.session import Session
from tests.desktop.factories import make_job, make_notification
from tests.desktop.windows import show_main_window


@pytest.fixture
def workspace(home: Path, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'loradesk.db'}"
    ws = Workspace.open(load_settings({"home": str(home), "database_url": url, "user": "alice"}))
    yield ws
    ws.close()


@pytest.fixture
def window(qtbot):
    widget = show_main_window(qtbot)
    qtbot.waitExposed(widget)
    return widget


def click_row(qtbot, widget: MainWindow, row: int) -> None:
    table = widget.table
    rect = table.visualRect(table.model().index(row, 0))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_first_start_says_what_to_do_and_gives_the_table_the_room(window, workspace, dataset_file, qtbot):
    runner, events = Runner(), CoreEvents()
    session = Session(workspace, runner, events)
    try:
        with qtbot.waitSignal(window.loaded, timeout=5000):
            window.attach(session, live=False)
        assert "No jobs yet" in window.table.empty_state()
        assert "New job (Ctrl+N)" in window.table.empty_state()
        assert "(Ctrl+D)" in window.table.empty_state()
        assert not window.monitor.isVisible()  # no empty monitor below an empty table
        full_height = window.table.height()

        dataset = add_dataset(workspace, file=dataset_file, name="pairs")
        create_job(workspace, dataset_id=dataset.id, name="first run", gpu_type="cpu")
        with qtbot.waitSignal(window.loaded, timeout=5000):
            QTest.keyClick(window, Qt.Key.Key_F5)
        assert window.table.empty_state() == ""
        assert not window.monitor.isVisible()  # nothing selected yet: still the table's room

        with qtbot.waitSignal(window.detail_shown, timeout=5000):
            click_row(qtbot, window, 0)
        assert window.monitor.isVisible()
        assert window.monitor.title.text() == "first run"
        assert window.table.height() < full_height

        # Ctrl-click on the selected row: nothing is selected, and the table has the room again.
        row = window.table.visualRect(window.proxy.index(0, 0)).center()
        QTest.mouseClick(
            window.table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, row
        )
        qtbot.waitUntil(lambda: not window.monitor.isVisible())
        assert window.table.selected_job_ids() == []
        qtbot.waitUntil(lambda: window.table.height() == full_height)

        window.search.setText("no such job")
        qtbot.waitUntil(lambda: window.proxy.rowCount() == 0)
        assert window.table.empty_state() == "No job matches the search or the status filter."
    finally:
        window.detach()
        runner.shutdown()


def test_a_row_selected_far_down_stays_in_sight_when_the_monitor_opens(window, qtbot):
    window.model.set_jobs([make_job(n) for n in range(14)])
    assert not window.monitor.isVisible()
    table = window.table
    full_height = table.height()
    last = window.proxy.job_at(window.proxy.rowCount() - 1)
    window.select_job(last.id)  # as `--job ID` or a notification's double-click does
    qtbot.waitUntil(lambda: window.monitor.isVisible() and table.height() < full_height / 2)
    assert table.viewport().rect().contains(table.visualRect(table.currentIndex()))


def test_notifications_drawer_leaves_the_table_alone(window, qtbot):
    long_name = "cli: batch 3f2a9c1e-77b0-4d5e-9a51-0c4d2e8f6a13 sweep lr 3e-4 rank 16"
    window.model.set_jobs([make_job(n, name=f"{long_name} #{n}") for n in range(4)])
    before = (window.table.geometry(), window.table.columnWidth(0))
    title = f"{long_name} #2 is 75% done"
    message = "step 900 of 1,200 · ETA 6m 10s · job 3f2a9c1e-77b0-4d5e-9a51-0c4d2e8f6a13"
    window.panel.set_notifications([make_notification(1, title=title, message=message)])

    toolbar = window.findChild(QToolBar, "MainToolBar")
    QTest.mouseClick(
        toolbar.widgetForAction(window.named_actions["notifications_action"]), Qt.MouseButton.LeftButton
    )
    assert window.drawer.isVisible()
    assert (window.table.geometry(), window.table.columnWidth(0)) == before
    assert not window.table.horizontalScrollBar().isVisible()
    drawer = window.drawer.geometry()
    central = window.centralWidget().rect()
    assert drawer.right() == central.right() and drawer.height() == central.height()

    # The title and message are drawn whole, wrapped: the row is as tall as both need.
    lst = window.panel.list
    item_rect = lst.visualItemRect(lst.item(0))
    text_width = item_rect.width() - 2 * 9 - 28
    bold = QFont(lst.font())
    bold.setBold(True)
    flags = int(Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap)
    title_lines = QFontMetrics(bold).boundingRect(0, 0, text_width - 60, 10_000, flags, title).height()
    message_lines = QFontMetrics(lst.font()).boundingRect(0, 0, text_width, 10_000, flags, message).height()
    assert title_lines > QFontMetrics(bold).height()  # it did need wrapping at this width
    assert item_rect.height() >= title_lines + message_lines

    QTest.keyClick(window.panel.list, Qt.Key.Key_Escape)
    assert not window.drawer.isVisible()
    assert (window.table.geometry(), window.table.columnWidth(0)) == before


def test_banner_floats_over_the_window_without_moving_rows(window, qtbot):
    window.model.set_jobs([make_job(n) for n in range(12)])
    table = window.table
    point = QPoint(40, 100)
    row_before, geometry_before = table.indexAt(point).row(), table.geometry()
    window.banner.show_message("Queued “run 3”; the scheduler submits it now.")
    assert window.banner.isVisible()
    assert table.geometry() == geometry_before
    assert table.indexAt(point).row() == row_before
    banner = window.banner.geometry()
    central = window.centralWidget().rect()
    assert central.contains(banner)
    assert banner.bottom() > central.height() * 0.8  # at the bottom, away from the table's rows
    label = window.banner.label
    assert label.height() >= label.heightForWidth(label.width())  # its text is not clipped


def test_menu_bar_holds_every_action_with_its_shortcut(window, qtbot):
    bar = window.menuBar()
    assert [a.text().replace("&", "") for a in bar.actions()] == ["File", "Jobs", "View", "Help"]
    in_menus = {action for top in bar.actions() for action in top.menu().actions()}
    for action in window.findChildren(QAction):
        if not action.shortcut().isEmpty() and action.parent() is window:
            assert action in in_menus, action.text()  # every shortcut can be found by reading
    toolbar = window.findChild(QToolBar, "MainToolBar")
    for action in toolbar.actions():
        if action.text():
            assert action in in_menus, action.text()

    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    with qtbot.waitSignal(window.quit_requested, timeout=1000):
        QTest.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)


def test_help_lists_the_shortcuts(window, qtbot):
    window.panel.set_notifications([make_notification(1)])  # the action reads "Notifications (1)"
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    QTest.keyClick(window, Qt.Key.Key_F1)
    dialog = window.findChild(ShortcutsDialog)
    assert dialog is not None and dialog.isVisible()
    rows = dialog.rows()
    for expected in [
        ("File", "New job", "Ctrl+N"),
        ("File", "Add dataset", "Ctrl+D"),
        ("File", "Quit", "Ctrl+Q"),
        ("Jobs", "Cancel job", "Del"),
        ("Jobs", "Export metrics as CSV", "Ctrl+E"),
        ("View", "Refresh", "F5"),
        ("View", "Notifications", "Ctrl+Shift+N"),
        ("View", "Find", "Ctrl+F"),
        ("Help", "Keyboard shortcuts", "F1"),
    ]:
        assert expected in rows
