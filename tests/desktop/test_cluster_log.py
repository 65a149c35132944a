"""The Log tab of an `http` job, as the app runs it: reads go through the embedded scheduler's
cluster client to the fake cluster's logs endpoint, from where the last read ended."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.datasets.catalog import add_dataset
from core.jobs.service import create_job
from core.records import JobStatus
from tests.desktop.windows import open_on_fake_cluster
from tests.fakes.cluster import JobPlan


@pytest.fixture
def workspace(home: Path, fake_cluster):
    ws = open_on_fake_cluster(fake_cluster, home=str(home))
    yield ws
    ws.close()


def test_the_log_of_a_cluster_job_grows_and_a_cluster_without_logs_says_so(
    window, workspace, dataset_file, fake_cluster, qtbot
):
    widget, session = window
    dataset = add_dataset(workspace, file=dataset_file, name="pairs")
    job = create_job(workspace, dataset_id=dataset.id, name="on the cluster", gpu_type="T4")
    fake_cluster.plan_job(job.id, JobPlan(total_steps=500, steps_per_poll=0))
    with qtbot.waitSignal(widget.loaded, timeout=5000):
        widget.attach(session)
    session.start_scheduler()
    qtbot.waitUntil(lambda: widget.model.job(job.id).status is JobStatus.INITIALIZING, timeout=10_000)
    external = widget.model.job(job.id).external_job_id
    with qtbot.waitSignal(widget.detail_shown, timeout=5000):
        widget.select_job(job.id)

    widget.monitor.tabs.setCurrentWidget(widget.monitor.log_view)
    log = widget.monitor.log_view
    qtbot.waitUntil(lambda: log.lines() == [f"accepted job {job.id}"], timeout=5000)
    fake_cluster.append_log(external, "epoch 1 step 10 loss 1.92\n")
    qtbot.waitUntil(lambda: log.lines()[-1:] == ["epoch 1 step 10 loss 1.92"], timeout=5000)
    assert log.state.text() == "Following"
    first = len(f"accepted job {job.id}\n".encode())  # the second read asked from there on
    assert ("GET", f"/training/logs/{external}?offset={first}") in fake_cluster.recent_requests

    fake_cluster.keep_no_logs()
    widget.table.clearSelection()  # nothing selected, then this job again: read from the start
    with qtbot.waitSignal(widget.detail_shown, timeout=5000):
        widget.select_job(job.id)
    widget.monitor.tabs.setCurrentWidget(widget.monitor.log_view)
    qtbot.waitUntil(lambda: log.state.text() == "This cluster keeps no logs.", timeout=5000)
