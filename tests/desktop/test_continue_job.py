"""Continue and retry from the monitor, clicked as a person clicks them: the linked job they make,
what its header says, and the parent's curve drawn before its own."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import insert

from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.db.models import MetricPointRow, utcnow
from core.jobs.service import create_job, find_job, list_jobs
from core.records import Job, JobStatus
from core.workspace import Workspace
from desktop import formatting as fmt
from tests.core.helpers import set_job_columns
from tests.core.test_job_resume import save_checkpoint
from tests.desktop.test_job_actions import attach


@pytest.fixture
def workspace(home: Path):
    ws = Workspace.open(load_settings({"home": str(home), "user": "alice", "cluster": "local"}))
    yield ws
    ws.close()


def failed_run(ws: Workspace, dataset_file: Path, *, checkpoint: int | None) -> Job:
    """A run that died at step 27 of 60, with its points, and a checkpoint if told."""
    dataset = add_dataset(ws, file=dataset_file, name="sums")
    job = create_job(
        ws, dataset_id=dataset.id, name="long run", hyperparameters={"epochs": 2}, gpu_type="cpu"
    )
    set_job_columns(
        ws,
        job.id,
        status="failed",
        external_job_id=job.id,
        current_step=27,
        total_steps=60,
        started_at=utcnow() - timedelta(minutes=5),
        completed_at=utcnow(),
        error_message="the training process ended without reporting a result",
    )
    with ws.db.write() as session:
        rows = [{"job_id": job.id, "step": s, "training_loss": 3.0 - s / 20} for s in range(1, 28)]
        session.execute(insert(MetricPointRow), rows)
    job_dir = ws.settings.home / "jobs" / job.id
    job_dir.mkdir(parents=True)
    (job_dir / "spec.json").write_text("{}", encoding="utf-8")
    if checkpoint is not None:
        save_checkpoint(job_dir, checkpoint)
    return find_job(ws, job_id=job.id)


def drawn_steps(monitor) -> list[int]:
    """The steps of the faint curve of the runs before the job shown."""
    steps = monitor.earlier_run.curve.xData
    return [] if steps is None else [int(s) for s in steps]


def test_continue_from_the_checkpoint_makes_the_linked_job_and_draws_the_parents_curve(
    window, workspace, dataset_file, qtbot
):
    widget, session = window
    parent = failed_run(workspace, dataset_file, checkpoint=20)
    attach(qtbot, widget, session)
    with qtbot.waitSignal(widget.detail_shown, timeout=5000):
        widget.select_job(parent.id)
    monitor = widget.monitor
    button = monitor.continue_button
    qtbot.waitUntil(button.isVisible, timeout=5000)
    assert button.text() == "Continue from step 20"
    assert monitor.clone_button.text() == "Retry…" and button.isEnabled()

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: monitor.job is not None and monitor.job.id != parent.id, timeout=5000)
    child = monitor.job
    assert (child.parent_job_id, child.resume_from_step, child.status) == (parent.id, 20, JobStatus.QUEUED)
    assert find_job(workspace, job_id=child.id).parent_job_id == parent.id
    assert widget.table.selected_job_id() == child.id
    assert f"continues {parent.id[:8]} from step 20" in monitor.subtitle.text()
    assert "step 20 / 60" in monitor.progress_text.text()  # its progress counts from the checkpoint
    assert not button.isVisible()  # a queued job has nothing to continue
    # The parent's curve up to the checkpoint, drawn faintly where the child's will begin.
    qtbot.waitUntil(lambda: len(drawn_steps(monitor)) == 20, timeout=5000)
    assert drawn_steps(monitor) == list(range(1, 21))
    assert monitor.earlier_run.curve.opts["pen"].color().alpha() < 255

    with qtbot.waitSignal(widget.detail_shown, timeout=5000):
        widget.select_job(parent.id)  # back to the parent: no earlier run of its own
    assert drawn_steps(monitor) == []


def test_a_failed_job_without_a_checkpoint_offers_retry_only_and_the_retry_is_linked(
    window, workspace, dataset_file, qtbot
):
    widget, session = window
    parent = failed_run(workspace, dataset_file, checkpoint=None)
    attach(qtbot, widget, session)
    with qtbot.waitSignal(widget.detail_shown, timeout=5000):
        widget.select_job(parent.id)
    monitor = widget.monitor
    qtbot.wait(300)  # the checkpoint question is answered off the UI thread
    assert not monitor.continue_button.isVisible()

    qtbot.mouseClick(monitor.clone_button, Qt.MouseButton.LeftButton)
    dialog = widget.job_actions.dialog
    assert dialog is not None and dialog.ok_button.text() == "Retry job"
    qtbot.waitUntil(lambda: dialog.dataset_combo.count() > 0, timeout=5000)
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(list_jobs(workspace)) == 2, timeout=5000)
    retried = next(job for job in list_jobs(workspace) if job.id != parent.id)
    assert (retried.parent_job_id, retried.resume_from_step) == (parent.id, None)
    qtbot.waitUntil(lambda: monitor.job is not None and monitor.job.id == retried.id, timeout=5000)
    assert f"retried from {parent.id[:8]}" in monitor.subtitle.text()


def test_a_continued_jobs_eta_counts_its_own_steps_only():
    now = utcnow()
    job = Job(
        id="j",
        user_id="u",
        dataset_id="d",
        name="n",
        status=JobStatus.RUNNING,
        progress=55.0,
        current_epoch=1,
        total_epochs=2,
        current_step=55,
        total_steps=100,
        current_metrics={},
        hyperparameters={},
        gpu_type="cpu",
        gpu_count=1,
        hourly_rate=0.0,
        current_cost=0.0,
        final_cost=None,
        external_job_id="j",
        created_at=now,
        started_at=now - timedelta(seconds=50),
        completed_at=None,
        updated_at=now,
        error_message=None,
        artifact_url=None,
        resume_from_step=50,
    )
    # 5 of its 50 steps in 50 s: 450 s to go (not the 41 s that 55 % done would say).
    assert fmt.run_done(job) == pytest.approx(0.1)
    assert fmt.eta_seconds(job, now) == pytest.approx(450, rel=0.01)
