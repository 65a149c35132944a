"""Cancelling a local job whose trainer takes a while to save its adapter: that is stopping as
asked, not a cluster out of reach."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from core.cluster.local import LocalCluster
from core.jobs.service import cancel_job_explained, get_job
from core.records import JobStatus
from core.scheduler import Scheduler
from tests.core.helpers import notification_types, queue_jobs

# Plays the trainer: five steps, then waits; on SIGTERM it "saves" for a second, then exits as
# cancelled with its adapter, as core.trainer does.
SLOW_SAVER = r"""
import json, os, signal, sys, time
from pathlib import Path
spec = json.loads(Path(sys.argv[-1]).read_text())
out = Path(spec["output_dir"])
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
(out / "status.json").write_text(json.dumps({"total_steps": 100, "total_epochs": 1}))
with (out / "metrics.jsonl").open("w") as metrics:
    for step in range(1, 6):
        metrics.write(json.dumps({"step": step, "epoch": 1, "training_loss": 3.0 - step / 10}) + "\n")
        metrics.flush()
deadline = time.time() + 120  # a failed test leaves no process behind for long
while not stop and time.time() < deadline:
    time.sleep(0.05)
time.sleep(1.0)
adapter = out / "adapter"
adapter.mkdir()
(adapter / "adapter_config.json").write_text("{}")
(out / "exit.json").write_text(json.dumps({"status": "cancelled", "artifact_dir": str(adapter)}))
"""


async def until_running(scheduler: Scheduler, ws, job_id: str) -> None:
    """Cycles until the trainer process has started and reported its first steps."""
    for _ in range(600):
        await scheduler.run_once()
        if get_job(ws, job_id=job_id).job.status is JobStatus.RUNNING:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the trainer never started")


@pytest.fixture
def slow_saver(tmp_path: Path) -> Path:
    program = tmp_path / "slow_saver.py"
    program.write_text(SLOW_SAVER)
    python = tmp_path / "python-slow-saver"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} {program} "$@"\n')
    python.chmod(0o755)
    return python


async def test_a_local_job_saving_its_adapter_is_cancelling_not_unreachable(
    make_workspace, dataset_file, slow_saver
):
    ws = make_workspace()
    local = LocalCluster(ws.settings.with_changes(trainer_python=str(slow_saver)), cancel_wait=0.2)
    ws.use_backend(local)
    (job,) = queue_jobs(ws, dataset_file, gpu_type="cpu")
    scheduler = Scheduler(ws)
    await until_running(scheduler, ws, job.id)

    result = await cancel_job_explained(ws, job_id=job.id)

    assert result.said == "cancelling: the trainer is saving its adapter"
    assert result.waiting and result.job.is_cancelling
    for _ in range(50):  # the next cycles ask again until the save is done
        await scheduler.run_once()
        detail = get_job(ws, job_id=job.id)
        if detail.job.status.is_terminal:
            break
        await asyncio.sleep(0.1)
    assert detail.job.status is JobStatus.CANCELLED
    assert detail.job.artifact_partial and detail.job.artifact_url.endswith("/adapter")
    assert [p.step for p in detail.metrics] == [1, 2, 3, 4, 5]
    assert notification_types(ws, job.id).count("job_cancelled") == 1
