"""A scripted run of the desktop app against the fake GPU cluster (a real HTTP server).

The app starts as a user starts it (window first, workspace opened off the UI thread, embedded
scheduler on its own thread); the test adds a dataset, creates a job in the New job dialog, and
watches the job go queued → running → completed on screen. At the end the charts must hold every
point the cluster sent, with the cluster's values.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import numpy as np
import pytest

from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.records import JobStatus
from desktop.app import DesktopApp
from desktop.dialogs.new_job import NewJobDialog
from tests.conftest import TOKEN
from tests.fakes.cluster import FakeCluster, JobPlan

STEPS = 60


@pytest.fixture
def desktop_app(qapp, home: Path, database_url: str, fake_cluster: FakeCluster, monkeypatch):
    monkeypatch.setenv("LORADESK_CLUSTER_TOKEN", TOKEN)
    settings = load_settings(
        {
            "home": str(home),
            "database_url": database_url,
            "user": "dora",
            "cluster": "http",
            "cluster_url": fake_cluster.url,
            "poll_interval": 0.2,
        }
    )
    app = DesktopApp(qapp, settings)
    yield app
    app.shutdown()
    app.window.close()
    app.deleteLater()


def test_a_job_runs_to_completion_on_screen(desktop_app, fake_cluster, dataset_file, qtbot):
    window = desktop_app.window
    with qtbot.waitSignal(window.loaded, timeout=10_000):
        desktop_app.start()
    session = desktop_app.session
    assert session is not None and session.scheduler is not None and session.scheduler.running
    add_dataset(session.ws, file=dataset_file, name="pairs")

    # the scheduler submits at once, so the plan must be in place before the job exists
    fake_cluster.default_plan = JobPlan(total_steps=STEPS, total_epochs=2, steps_per_poll=10)
    seen: list[JobStatus] = []
    window.pause_button.click()  # hold the scheduler so the queued job is seen queued
    assert session.scheduler.paused and window.state_label.text() == "Scheduler paused"
    window.toolbar.new_job()
    dialog = window.findChild(NewJobDialog)
    qtbot.waitUntil(lambda: dialog.dataset_combo.count() == 1, timeout=5000)
    dialog.name_edit.setText("e2e run")
    with qtbot.waitSignal(dialog.job_created, timeout=5000) as created:
        dialog.ok_button.click()
    job_id = created.args[0].id

    def record(*_args: object) -> None:
        job = window.model.job(job_id)
        if job is not None and (not seen or seen[-1] != job.status):
            seen.append(job.status)

    record()
    window.model.dataChanged.connect(record)
    assert seen == [JobStatus.QUEUED]
    window.pause_button.click()  # resume
    assert not session.scheduler.paused
    qtbot.waitUntil(lambda: window.model.job(job_id).status == JobStatus.COMPLETED, timeout=30_000)

    assert seen[0] == JobStatus.QUEUED
    assert JobStatus.RUNNING in seen
    assert seen[-1] == JobStatus.COMPLETED
    assert seen.index(JobStatus.QUEUED) < seen.index(JobStatus.RUNNING) < seen.index(JobStatus.COMPLETED)

    monitor = window.monitor
    assert monitor.job is not None and monitor.job.id == job_id
    qtbot.waitUntil(lambda: len(monitor.series) == STEPS, timeout=5000)
    qtbot.waitUntil(lambda: len(monitor.loss_chart.raw.getOriginalDataset()[0]) == STEPS, timeout=5000)
    fake_job = next(job for job in fake_cluster.jobs.values() if job.job_id == job_id)
    sent = [fake_job.metrics_at(step) for step in range(1, STEPS + 1)]
    x, y = monitor.loss_chart.raw.getOriginalDataset()
    assert list(x) == list(range(1, STEPS + 1))
    np.testing.assert_allclose(y, [point["training_loss"] for point in sent])
    gx, gy = monitor.gpu_chart.curve.getOriginalDataset()
    assert list(gx) == list(x)
    np.testing.assert_allclose(gy, [point["gpu_utilization"] for point in sent])
    tx, ty = monitor.throughput_chart.curve.getOriginalDataset()
    assert list(tx) == list(x)
    np.testing.assert_allclose(ty, [point["throughput"] for point in sent])
    assert monitor.badge.text() == "Completed"
    assert monitor.progress.value() == 1000
    assert not monitor.cancel_button.isEnabled()
    assert window.panel.unread_count >= 2  # started and completed, at least
