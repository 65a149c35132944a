"""A job deleted in one app instance leaves the other's table, monitor, compare view and
notifications drawer without a Refresh: two windows, two sessions, one database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox
from sqlalchemy import insert

from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.db.models import NotificationRow, new_id, utcnow
from core.jobs.service import create_job, delete_job
from core.jobs.tombstones import KEEP
from core.records import Job
from core.workspace import Workspace
from desktop.core_events import CoreEvents
from desktop.jobs_model import Column
from desktop.main_window import MainWindow
from desktop.operations import Runner
from desktop.session import Session
from tests.core.helpers import set_job_columns
from tests.desktop.test_compare import ctrl_click_row
from tests.desktop.test_job_actions import attach, choose, right_click
from tests.desktop.test_live_monitor import click_row


@pytest.fixture
def windows(qtbot, home: Path, database_url: str):
    """Two app instances on one database (each its own workspace, session and window)."""
    opened = []
    for x in (0, 700):
        ws = Workspace.open(
            load_settings(
                {"home": str(home), "database_url": database_url, "user": "alice", "cluster": "local"}
            )
        )
        runner = Runner()
        widget = MainWindow()
        # It lets go of its workspace before pytest-qt closes and deletes it (ahead of this teardown).
        qtbot.addWidget(widget, before_close_func=lambda window: window.detach())
        widget.setGeometry(x, 0, 1100, 700)
        widget.show()
        opened.append((widget, Session(ws, runner, CoreEvents()), runner, ws))
    yield [(widget, session) for widget, session, _, _ in opened]
    for _widget, _session, runner, ws in opened:
        qtbot.waitUntil(lambda runner=runner: runner.in_flight == 0, timeout=5000)
        runner.shutdown()
        ws.close()


def finished_jobs(ws: Workspace, dataset_file: Path) -> dict[str, Job]:
    dataset = add_dataset(ws, file=dataset_file, name="sums")
    jobs = {
        n: create_job(ws, dataset_id=dataset.id, name=n, gpu_type="cpu") for n in ("first", "second", "third")
    }
    done = utcnow() - timedelta(minutes=5)
    for job in jobs.values():
        set_job_columns(ws, job.id, status="completed", completed_at=done, final_cost=0.0)
    with ws.db.write() as session:
        session.execute(
            insert(NotificationRow).values(
                id=new_id(),
                user_id=ws.user,
                job_id=jobs["second"].id,
                type="job_completed",
                title="second completed",
                message="done",
            )
        )
    return jobs


def names_shown(widget: MainWindow) -> list[str]:
    proxy = widget.proxy
    return sorted(proxy.index(row, Column.NAME).data() for row in range(proxy.rowCount()))


def delete_in(qtbot, widget: MainWindow, job_id: str) -> None:
    choose(right_click(qtbot, widget, job_id), "Delete…")
    widget.job_actions.delete_box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: widget.model.job(job_id) is None, timeout=5000)


def test_a_job_deleted_in_one_window_leaves_the_other_with_its_monitor_and_notifications(
    windows, dataset_file, qtbot
):
    (here, here_session), (there, there_session) = windows
    jobs = finished_jobs(here_session.ws, dataset_file)
    attach(qtbot, here, here_session)
    attach(qtbot, there, there_session)
    gone = jobs["second"].id
    click_row(there, gone)  # the other instance has it on screen
    qtbot.waitUntil(lambda: there.monitor.title.text() == "second", timeout=5000)
    assert [n.title for n in there.panel.notifications()] == ["second completed"]

    delete_in(qtbot, here, gone)

    qtbot.waitUntil(lambda: there.proxy.rowCount() == 2, timeout=3000)  # no F5 pressed
    assert names_shown(there) == ["first", "third"]
    assert there.monitor.job is None and there.table.selected_job_ids() == []
    assert there.panel.notifications() == [] and there.panel.unread_count == 0
    assert there.banner.text() == "“second” was deleted elsewhere (another window, machine or command)."


def test_a_compared_job_deleted_elsewhere_leaves_the_compare_view(windows, dataset_file, qtbot):
    (here, here_session), (there, there_session) = windows
    jobs = finished_jobs(here_session.ws, dataset_file)
    attach(qtbot, here, here_session)
    attach(qtbot, there, there_session)
    click_row(there, jobs["first"].id)
    ctrl_click_row(there, jobs["third"].id)
    qtbot.waitUntil(lambda: there.details.currentWidget() is there.compare, timeout=5000)
    assert sorted(there.compare.job_ids) == sorted([jobs["first"].id, jobs["third"].id])

    delete_in(qtbot, here, jobs["third"].id)

    qtbot.waitUntil(lambda: there.model.job(jobs["third"].id) is None, timeout=3000)
    assert names_shown(there) == ["first", "second"]
    qtbot.waitUntil(lambda: there.details.currentWidget() is there.monitor, timeout=3000)
    assert there.compare.job_ids == [] and there.monitor.title.text() == "first"
    assert there.banner.text().startswith("“third” was deleted elsewhere")


def test_a_window_that_slept_past_the_kept_deletions_still_drops_the_rows(
    windows, dataset_file, qtbot, monkeypatch
):
    """Its look comes from before a pruned tombstone: it gets every job and drops those missing."""
    (_, here_session), (there, there_session) = windows
    jobs = finished_jobs(here_session.ws, dataset_file)
    attach(qtbot, there, there_session)
    click_row(there, jobs["first"].id)
    qtbot.waitUntil(lambda: there.monitor.title.text() == "first", timeout=5000)
    assert there.updates is not None and there.updates.live is not None
    live = there.updates.live
    live.stop()  # the laptop sleeps

    delete_job(here_session.ws, job_id=jobs["first"].id)
    monkeypatch.setattr("core.jobs.service.utcnow", lambda: utcnow() + KEEP + timedelta(days=1))
    delete_job(here_session.ws, job_id=jobs["second"].id)  # a week on: prunes the first's tombstone

    live.start(jobs=there.model.jobs(), notifications=[])  # it wakes, from where it was
    qtbot.waitUntil(lambda: there.proxy.rowCount() == 1, timeout=3000)
    assert names_shown(there) == ["third"]
    assert there.monitor.job is None and there.panel.notifications() == []
    assert there.banner.text().startswith("“first” was deleted elsewhere")
