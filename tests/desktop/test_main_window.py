"""The main window on a real workspace: load, select, cancel through the core, other processes."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox

from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.jobs.service import cancel_job, create_job
from core.records import JobStatus
from core.workspace import Workspace
from desktop.main_window import MainWindow


@pytest.fixture
def workspace(home: Path, database_url: str):
    ws = Workspace.open(load_settings({"home": str(home), "database_url": database_url, "user": "alice"}))
    yield ws
    ws.close()


def queue(ws: Workspace, dataset_file: Path, count: int) -> list:
    dataset = add_dataset(ws, file=dataset_file, name="pairs")
    return [create_job(ws, dataset_id=dataset.id, name=f"job {n}", gpu_type="cpu") for n in range(count)]


def test_loads_the_users_jobs_and_shows_the_selected_one(window, workspace, dataset_file, qtbot):
    widget, session = window
    jobs = queue(workspace, dataset_file, 3)
    with qtbot.waitSignal(widget.loaded, timeout=5000):
        widget.attach(session)
    assert widget.model.rowCount() == 3
    with qtbot.waitSignal(widget.detail_shown, timeout=5000) as shown:
        assert widget.select_job(jobs[1].id)
    assert shown.args == [jobs[1].id]
    assert widget.monitor.title.text() == "job 1"
    assert widget.monitor.cancel_button.isEnabled()


def test_cancel_confirmed_in_the_monitor_cancels_through_the_core(window, workspace, dataset_file, qtbot):
    widget, session = window
    job = queue(workspace, dataset_file, 1)[0]
    with qtbot.waitSignal(widget.loaded, timeout=5000):
        widget.attach(session)
    with qtbot.waitSignal(widget.detail_shown, timeout=5000):
        widget.select_job(job.id)
    widget.table.setFocus()
    widget.named_actions["cancel_action"].trigger()  # Del
    qtbot.waitUntil(lambda: widget.monitor._cancel_box is not None and widget.monitor._cancel_box.isVisible())
    widget.monitor._cancel_box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: widget.model.job(job.id).status == JobStatus.CANCELLED, timeout=5000)
    assert widget.monitor.badge.text() == "Cancelled"
    assert not widget.monitor.cancel_button.isEnabled()
    assert widget.model.index(widget.model.row_of(job.id), 1).data() == "Cancelled"


def test_refused_cancel_shows_the_reason(window, workspace, dataset_file, qtbot):
    widget, session = window
    job = queue(workspace, dataset_file, 1)[0]
    with qtbot.waitSignal(widget.loaded, timeout=5000):
        widget.attach(session)
    import asyncio

    asyncio.run(cancel_job(workspace, job_id=job.id))  # meanwhile, elsewhere
    widget.job_actions.cancel_confirmed(job.id)
    qtbot.waitUntil(lambda: widget.banner.isVisible(), timeout=5000)
    assert "Could not cancel" in widget.banner.text()


def test_changes_by_another_process_appear_within_two_seconds(window, workspace, dataset_file, qtbot):
    widget, session = window
    queue(workspace, dataset_file, 1)
    with qtbot.waitSignal(widget.loaded, timeout=5000):
        widget.attach(session)
    other = Workspace.open(workspace.settings)  # its events never reach this window
    try:
        dataset = add_dataset(other, file=dataset_file, name="theirs")
        theirs = create_job(other, dataset_id=dataset.id, name="from elsewhere", gpu_type="cpu")
        qtbot.waitUntil(lambda: widget.model.job(theirs.id) is not None, timeout=2000)
        asyncio_cancel(other, theirs.id)
        qtbot.waitUntil(lambda: widget.model.job(theirs.id).status == JobStatus.CANCELLED, timeout=2000)
        qtbot.waitUntil(lambda: widget.panel.unread_count >= 1, timeout=2000)
    finally:
        other.close()


def asyncio_cancel(ws: Workspace, job_id: str) -> None:
    import asyncio

    asyncio.run(cancel_job(ws, job_id=job_id))


def test_search_and_status_filter(window, workspace, dataset_file, qtbot):
    widget, session = window
    jobs = queue(workspace, dataset_file, 3)
    asyncio_cancel(workspace, jobs[0].id)
    with qtbot.waitSignal(widget.loaded, timeout=5000):
        widget.attach(session)
    widget.status_filter.setCurrentText("Cancelled")
    assert widget.proxy.rowCount() == 1
    widget.status_filter.setCurrentText("All statuses")
    widget.toolbar.focus_search()
    qtbot.keyClicks(widget.search, "job 2")
    qtbot.waitUntil(lambda: widget.proxy.rowCount() == 1)
    assert widget.proxy.index(0, 0).data() == "job 2"


def test_no_database_work_on_the_ui_thread(window, workspace, dataset_file, qtbot, monkeypatch):
    widget, session = window
    jobs = queue(workspace, dataset_file, 2)
    on_ui_thread = []
    for name in ("read", "write"):
        original = getattr(workspace.db, name)

        def watched(*args, _original=original, **kwargs):
            on_ui_thread.append(threading.current_thread() is threading.main_thread())
            return _original(*args, **kwargs)

        monkeypatch.setattr(workspace.db, name, watched)
    with qtbot.waitSignal(widget.loaded, timeout=5000):
        widget.attach(session)
    with qtbot.waitSignal(widget.detail_shown, timeout=5000):
        widget.select_job(jobs[0].id)
    widget.job_actions.cancel_confirmed(jobs[0].id)
    qtbot.waitUntil(lambda: widget.model.job(jobs[0].id).status == JobStatus.CANCELLED, timeout=5000)
    with qtbot.waitSignal(widget.loaded, timeout=5000):
        widget.refresh()
    calls = len(on_ui_thread)
    qtbot.waitUntil(lambda: len(on_ui_thread) >= calls + 3, timeout=3000)  # a round of the polls
    assert on_ui_thread and not any(on_ui_thread)


def test_keyboard_shortcuts(qtbot):
    widget = MainWindow()
    qtbot.addWidget(widget)
    shortcuts = {
        action.text(): action.shortcut().toString()
        for action in widget.findChildren(QAction)
        if not action.shortcut().isEmpty()
    }
    assert shortcuts["New job"] == "Ctrl+N"
    assert shortcuts["Refresh"] == "F5"
    assert shortcuts["Find"] == "Ctrl+F"
    assert shortcuts["Cancel job"] == "Del"
    widget.show()
    widget.activateWindow()
    qtbot.waitUntil(widget.isActiveWindow)
    widget.table.setFocus()
    qtbot.keyClick(widget.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(widget.search.hasFocus)
