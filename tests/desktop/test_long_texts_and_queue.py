"""Long names and stop reasons shorten with "…" and a tooltip, and never widen the window; the
queued banner says what the job waits for and goes once it starts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from sqlalchemy import update

from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.db.changes import change_stamp
from core.db.models import JobRow, utcnow
from core.jobs.service import create_job
from core.records import JobStatus
from core.workspace import Workspace
from desktop.app_state import Change
from desktop.dialogs.new_job import NewJobDialog
from desktop.queued_notice import queued_words
from tests.core.helpers import set_job_columns
from tests.desktop.factories import bump, make_job
from tests.desktop.test_job_actions import attach
from tests.desktop.windows import show_main_window

LONG_REASON = "cost reached $12.01 of $12.00 " + "and then some more words about why it stopped " * 8


def test_a_long_stop_reason_and_name_do_not_widen_the_window(qtbot):
    window = show_main_window(qtbot)
    name = "llama3-8b support-chat " + "with a very long descriptive suffix " * 5
    job = make_job(
        1,
        name=name.strip(),
        status=JobStatus.CANCELLED,
        final_cost=12.01,
        max_cost=12.0,
        stop_reason=LONG_REASON,
    )
    window.state.apply(Change(jobs=(job,), all_jobs=True))
    window.select_job(job.id)  # with no workspace the window shows it in the monitor as below
    window.monitor.show_job(job)
    qtbot.waitUntil(lambda: window.monitor.isVisible() and window.monitor.title.text() == job.name)
    QApplication.processEvents()
    assert window.width() == 1280
    reason = window.monitor.rules.reason
    assert reason.isVisible() and reason.is_elided() and reason.shown_text().endswith("…")
    assert reason.toolTip() == f"Stopped: {LONG_REASON}"
    title = window.monitor.title
    assert title.text() == job.name and title.is_elided() and title.toolTip() == job.name
    assert title.shown_text().startswith("llama3-8b support-chat with") and title.shown_text().endswith("…")
    assert reason.shown_text().startswith("Stopped: cost reached $12.01 of $12.00")


def test_the_queued_banner_says_what_it_waits_for_and_goes_when_it_starts(qtbot):
    window = show_main_window(qtbot)
    running = make_job(1, status=JobStatus.RUNNING)
    window.state.apply(Change(jobs=(running,), all_jobs=True))
    queued = make_job(2, status=JobStatus.QUEUED, name="second run")
    window.state.apply(Change(jobs=(queued,)))
    window.queued_notice.show(queued, slots=1)
    assert window.banner.isVisible()
    assert window.banner.text() == "Queued “second run”: waiting for a free slot (1 ahead)."

    window.state.apply(Change(jobs=(bump(queued, status=JobStatus.INITIALIZING),)))
    assert not window.banner.isVisible()


def test_queued_words():
    first = make_job(1, status=JobStatus.QUEUED, name="a")
    assert queued_words(first, [first], slots=1) == "Queued “a”; the scheduler starts it now."
    assert queued_words(first, [first], slots=None) == "Queued “a”; the scheduler submits it now."
    later = replace(make_job(2, status=JobStatus.QUEUED, name="b"))
    assert queued_words(later, [first, later], slots=2) == "Queued “b”: waiting for a free slot (1 ahead)."


@pytest.fixture
def workspace(home: Path):
    ws = Workspace.open(load_settings({"home": str(home), "user": "alice", "cluster": "local"}))
    yield ws
    ws.close()


def test_a_job_created_behind_a_running_one_says_it_waits_and_the_words_go_when_it_starts(
    window, workspace, dataset_file, qtbot
):
    widget, session = window
    dataset = add_dataset(workspace, file=dataset_file, name="sums")
    first = create_job(workspace, dataset_id=dataset.id, name="first run", gpu_type="cpu")
    set_job_columns(workspace, first.id, status="running", external_job_id="local-1")
    attach(qtbot, widget, session)

    qtbot.keyClick(widget, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # New job
    dialog = widget.findChild(NewJobDialog)
    qtbot.waitUntil(lambda: dialog is not None and dialog.isVisible() and dialog.dataset_combo.count() == 1)
    dialog.name_edit.setText("second run")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)

    banner = widget.banner
    qtbot.waitUntil(lambda: banner.isVisible() and "second run" in banner.text(), timeout=5000)
    assert banner.text() == "Queued “second run”: waiting for a free slot (1 ahead)."  # not "now"
    second = next(job for job in widget.model.jobs() if job.name == "second run")
    with workspace.db.write() as db:  # a scheduler starts it, as the app sees any change
        db.execute(
            update(JobRow)
            .where(JobRow.id == second.id)
            .values(status="initializing", change_seq=change_stamp(db), updated_at=utcnow())
        )
    qtbot.waitUntil(lambda: not banner.isVisible(), timeout=5000)
