"""The job on screen is live (SPEC §2): clicking a running job makes the embedded scheduler poll
it every second, so its chart grows between the scheduler's (here hour-long) cycles."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from core.datasets.catalog import add_dataset
from core.jobs.service import create_job
from core.records import JobStatus
from desktop.main_window import MainWindow
from tests.desktop.windows import open_on_fake_cluster
from tests.fakes.cluster import JobPlan


@pytest.fixture
def workspace(home: Path, database_url: str, fake_cluster):
    ws = open_on_fake_cluster(
        fake_cluster,
        home=str(home),
        database_url=database_url,
        poll_interval=3600,  # one cycle at start, then only the watch polls
    )
    yield ws
    ws.close()


def click_row(widget: MainWindow, job_id: str) -> None:
    index = widget.proxy.index_of(job_id)
    assert index.isValid()
    point = widget.table.visualRect(index.siblingAtColumn(0)).center()
    QTest.mouseClick(widget.table.viewport(), Qt.MouseButton.LeftButton, pos=point)


def drawn(widget: MainWindow) -> int:
    """Points the loss chart draws."""
    x, _y = widget.monitor.loss_chart.raw.getOriginalDataset()
    return 0 if x is None else len(x)


def test_clicking_a_running_job_polls_it_every_second(window, workspace, dataset_file, fake_cluster, qtbot):
    widget, session = window
    dataset = add_dataset(workspace, file=dataset_file, name="pairs")
    watched = create_job(workspace, dataset_id=dataset.id, name="watched", gpu_type="T4")
    other = create_job(workspace, dataset_id=dataset.id, name="other", gpu_type="T4")
    for job in (watched, other):
        fake_cluster.plan_job(job.id, JobPlan(total_steps=500, steps_per_poll=1))
    with qtbot.waitSignal(widget.loaded, timeout=5000):
        widget.attach(session)
    session.start_scheduler()
    # The first cycle submits both and polls each once: one point each.
    qtbot.waitUntil(
        lambda: all(widget.model.job(j.id).status is JobStatus.RUNNING for j in (watched, other)),
        timeout=10_000,
    )
    calls_before = fake_cluster.status_calls

    click_row(widget, watched.id)
    qtbot.waitUntil(lambda: widget.monitor.title.text() == "watched", timeout=5000)
    qtbot.waitUntil(lambda: drawn(widget) >= 4, timeout=20_000)

    # Only the job on screen was polled since: the other one still has its first point alone.
    external_other = widget.model.job(other.id).external_job_id
    assert fake_cluster.jobs[external_other].current_step == 1
    assert fake_cluster.status_calls - calls_before >= 3
    assert widget.monitor.series.last_step == drawn(widget)  # every step drawn once, none skipped
