"""Real runs that go on from a checkpoint through the scheduler and the `local` backend: a trainer
killed mid-run (kill -9) is continued in place, and a cancelled job is continued as a new one."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import time
from pathlib import Path

import pytest

from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.jobs.resume import continue_job
from core.jobs.service import cancel_job, create_job, get_job
from core.records import JobDetail
from core.scheduler import Scheduler
from core.trainer.checkpoint_files import latest_checkpoint
from core.workspace import Workspace
from tests.e2e.test_local_training import SAMPLE, cycle_until

pytestmark = pytest.mark.trainer

INTERVAL = 5  # steps between checkpoints
RUN = {"epochs": 100, "batch_size": 4, "max_steps": 60, "checkpoint_interval": INTERVAL, "eval_interval": 20}


@pytest.fixture
def local_workspace(home: Path):
    opened: list[Workspace] = []

    def make(**settings: object) -> Workspace:
        options = {"home": str(home), "user": "erin", "cluster": "local", **settings}
        ws = Workspace.open(load_settings(options))
        opened.append(ws)
        return ws

    yield make
    for ws in opened:
        ws.close()


async def run_until_checkpoint(scheduler: Scheduler, ws: Workspace, job_id: str) -> tuple[int, JobDetail]:
    """Cycle until the run has saved a checkpoint and trained past it; (its step, the job)."""
    job_dir = ws.settings.home / "jobs" / job_id
    deadline = time.monotonic() + 180
    while True:
        await scheduler.run_once()
        detail = get_job(ws, job_id=job_id)
        found = latest_checkpoint(job_dir)
        if found is not None and detail.metrics and detail.metrics[-1].step > found[0]:
            return found[0], detail
        assert detail.job.status.value in ("queued", "initializing", "running"), detail.job.error_message
        assert time.monotonic() < deadline, "the run saved no checkpoint"
        await asyncio.sleep(0.1)


def kill_trainer(job_dir: Path) -> None:
    pid = json.loads((job_dir / "process.json").read_text())["pid"]
    os.killpg(pid, signal.SIGKILL)  # as the OOM killer or a power cut would: no exit record


def assert_one_unbroken_curve(steps: list[int], first: int, last: int) -> None:
    assert steps == sorted(set(steps)), "steps repeat or go back"
    assert steps[0] == first and steps[-1] == last
    gaps = [b - a for a, b in itertools.pairwise(steps)]
    assert max(gaps) <= INTERVAL, f"a gap of {max(gaps)} steps"


async def test_a_killed_trainer_is_continued_from_its_checkpoint_with_one_unbroken_curve(local_workspace):
    ws = local_workspace()
    dataset = add_dataset(ws, file=SAMPLE, name="sample")
    job = create_job(ws, dataset_id=dataset.id, hyperparameters=RUN)
    scheduler = Scheduler(ws)
    job_dir = ws.settings.home / "jobs" / job.id
    checkpoint, before = await run_until_checkpoint(scheduler, ws, job.id)
    kill_trainer(job_dir)

    done = await cycle_until(scheduler, ws, job.id, {"completed", "failed"})
    await ws.aclose()
    assert done.job.status.value == "completed", done.job.error_message
    assert done.job.id == job.id and done.job.current_step == 60  # the same job, numbered on
    assert_one_unbroken_curve([p.step for p in done.metrics], 1, 60)
    resumes = json.loads((job_dir / "resumes.json").read_text())["resumes"]
    assert len(resumes) == 1
    resumed_from = resumes[0]["step"]
    assert resumed_from >= checkpoint  # the latest complete one when it died
    log = (job_dir / "stderr.log").read_text()
    assert f"continuing from the checkpoint at step {resumed_from} (1 of 2)" in log
    warnings = [n.message for n in done.notifications if n.type.value == "job_warning"]
    assert len(warnings) == 1 and f"continues from its checkpoint at step {resumed_from}" in warnings[0]
    # The points before the death are the dead run's own; the rest come from the continued run.
    assert [p.training_loss for p in done.metrics[: len(before.metrics)]] == [
        p.training_loss for p in before.metrics
    ]


async def test_a_trainer_killed_past_its_resumes_fails_the_job(local_workspace):
    ws = local_workspace(max_resumes=0)
    dataset = add_dataset(ws, file=SAMPLE, name="sample")
    job = create_job(ws, dataset_id=dataset.id, hyperparameters=RUN)
    scheduler = Scheduler(ws)
    await run_until_checkpoint(scheduler, ws, job.id)
    kill_trainer(ws.settings.home / "jobs" / job.id)
    failed = await cycle_until(scheduler, ws, job.id, {"completed", "failed"})
    await ws.aclose()
    assert failed.job.status.value == "failed"
    assert "ended without reporting a result" in (failed.job.error_message or "")


async def test_a_cancelled_job_is_continued_as_a_linked_job_numbered_on(local_workspace):
    ws = local_workspace()
    dataset = add_dataset(ws, file=SAMPLE, name="sample")
    parent = create_job(ws, dataset_id=dataset.id, hyperparameters=RUN)
    scheduler = Scheduler(ws)
    await run_until_checkpoint(scheduler, ws, parent.id)
    await cancel_job(ws, job_id=parent.id)
    # The trainer saves before it exits; a stop that outlasts the cancel's wait (a busy machine)
    # is finished by the next cycles, as in the app.
    cancelled = await cycle_until(scheduler, ws, parent.id, {"cancelled", "completed", "failed"})
    assert cancelled.job.status.value == "cancelled", cancelled.job.error_message
    # The stopped trainer saved a checkpoint at the step it stopped on.
    stopped_at = latest_checkpoint(ws.settings.home / "jobs" / parent.id)
    assert stopped_at is not None

    child = await continue_job(ws, job_id=parent.id)
    assert (child.parent_job_id, child.resume_from_step) == (parent.id, stopped_at[0])
    done = await cycle_until(scheduler, ws, child.id, {"completed", "failed"})
    parent_points = get_job(ws, job_id=parent.id).metrics
    await ws.aclose()
    assert done.job.status.value == "completed", done.job.error_message
    assert done.job.current_step == 60 and done.job.progress == 100
    child_steps = [p.step for p in done.metrics]
    assert child_steps[0] == stopped_at[0] + 1  # numbered on from the checkpoint
    # Drawn together, the parent's points up to the checkpoint and the child's make one curve.
    joined = [p.step for p in parent_points if p.step <= stopped_at[0]] + child_steps
    assert_one_unbroken_curve(joined, 1, 60)
