"""Real LoRA runs on this machine through the scheduler and the `local` backend (SQLite)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.jobs.samples import job_samples
from core.jobs.service import cancel_job, create_job, get_job
from core.records import JobDetail
from core.scheduler import Scheduler
from core.storage.folder import file_url_path
from core.workspace import Workspace

pytestmark = pytest.mark.trainer

SAMPLE = Path(__file__).resolve().parents[2] / "resources" / "sample-dataset.jsonl"


@pytest.fixture
def local_workspace(home: Path):
    opened: list[Workspace] = []

    def make() -> Workspace:
        ws = Workspace.open(load_settings({"home": str(home), "user": "erin", "cluster": "local"}))
        opened.append(ws)
        return ws

    yield make
    for ws in opened:  # each test closes its backend on its own event loop
        ws.close()


def queue_sample_job(ws: Workspace, **hyperparameters: object) -> str:
    dataset = add_dataset(ws, file=SAMPLE, name="sample")
    job = create_job(
        ws, dataset_id=dataset.id, hyperparameters={"epochs": 1, "batch_size": 8, **hyperparameters}
    )
    return job.id


async def cycle_until(
    scheduler: Scheduler, ws: Workspace, job_id: str, statuses: set[str], timeout: float = 180
) -> JobDetail:
    """Run scheduler cycles until the job reaches one of `statuses` (the trainer runs in real time)."""
    deadline = time.monotonic() + timeout
    while True:
        await scheduler.run_once()
        detail = get_job(ws, job_id=job_id)
        if detail.job.status.value in statuses:
            return detail
        assert time.monotonic() < deadline, f"job stuck in {detail.job.status.value}"
        await asyncio.sleep(0.3)


async def test_local_job_runs_to_completion(local_workspace):
    ws = local_workspace()
    job_id = queue_sample_job(ws, max_steps=12, eval_interval=4)
    scheduler = Scheduler(ws)
    running = await cycle_until(scheduler, ws, job_id, {"running", "completed"})
    assert running.job.external_job_id == job_id
    detail = await cycle_until(scheduler, ws, job_id, {"completed", "failed"})
    await ws.aclose()

    assert detail.job.status.value == "completed", detail.job.error_message
    assert [p.step for p in detail.metrics] == list(range(1, 13))
    assert all(p.training_loss is not None and p.throughput for p in detail.metrics)
    assert all(p.grad_norm is not None and p.grad_norm > 0 for p in detail.metrics)  # file → database
    assert [p.learning_rate for p in detail.metrics][1] > 0
    assert any(p.validation_loss is not None for p in detail.metrics)
    assert all(p.gpu_utilization is None for p in detail.metrics)  # no GPU here: null, not zero
    adapter = file_url_path(detail.job.artifact_url)
    assert (adapter / "adapter_model.safetensors").is_file()
    assert detail.job.final_cost == 0  # the `cpu` rate
    assert len(detail.cost_records) == 1
    # The trainer answered its sample prompts (the first 4 validation ones) at the first and the
    # last evaluation at least, and the scheduler stored them from the job's metrics file.
    answered = job_samples(ws, job_id=job_id)
    assert answered.steps[0] == 4 and answered.steps[-1] == 12
    assert [s.prompt_index for s in answered.at(12)] == [0, 1, 2, 3]
    assert all(s.prompt.startswith("Spell ") and s.expected for s in answered.at(12))


async def test_local_job_cancelled_mid_run(local_workspace):
    ws = local_workspace()
    job_id = queue_sample_job(ws, max_steps=400)
    scheduler = Scheduler(ws)
    detail = await cycle_until(scheduler, ws, job_id, {"running"})
    while not get_job(ws, job_id=job_id).metrics:
        await scheduler.run_once()
        await asyncio.sleep(0.2)

    await cancel_job(ws, job_id=job_id)
    # The trainer saves before it exits; a stop that outlasts the cancel's wait (a busy machine)
    # is finished by the next cycles, as in the app.
    cancelled = (await cycle_until(scheduler, ws, job_id, {"cancelled", "completed", "failed"})).job
    await ws.aclose()
    assert cancelled.status.value == "cancelled", cancelled.error_message
    adapter_dir = ws.settings.home / "jobs" / job_id / "adapter"
    assert (adapter_dir / "adapter_model.safetensors").is_file(), "SIGTERM saves the adapter"
    # ... and the job records it, marked partial, instead of leaving it orphaned in its folder.
    stored = get_job(ws, job_id=job_id).job
    assert stored.artifact_url == adapter_dir.as_uri() and stored.artifact_partial
    assert detail.job.current_step < 400


async def test_restarted_scheduler_reattaches_and_finishes(local_workspace):
    first = local_workspace()
    job_id = queue_sample_job(first, max_steps=20)
    await cycle_until(Scheduler(first), first, job_id, {"running"})
    await first.aclose()  # the app closes; the trainer keeps running on its own

    second = local_workspace()  # a new app: new scheduler, new backend instance
    detail = await cycle_until(Scheduler(second), second, job_id, {"completed", "failed"})
    await second.aclose()
    assert detail.job.status.value == "completed", detail.job.error_message
    assert [p.step for p in detail.metrics] == list(range(1, 21))


async def test_second_local_job_waits_for_the_slot(local_workspace):
    ws = local_workspace()
    first = queue_sample_job(ws, max_steps=10)
    second = create_job(
        ws,
        dataset_id=get_job(ws, job_id=first).job.dataset_id,
        hyperparameters={"epochs": 1, "max_steps": 5},
    ).id
    scheduler = Scheduler(ws)
    await cycle_until(scheduler, ws, first, {"running", "completed"})
    assert get_job(ws, job_id=second).job.status.value == "queued"
    detail = await cycle_until(scheduler, ws, second, {"completed", "failed"})
    await ws.aclose()
    assert detail.job.status.value == "completed", detail.job.error_message
    assert get_job(ws, job_id=first).job.status.value == "completed"


APP_SECRETS = {
    "LORADESK_CLUSTER_TOKEN": "token-S3CRET",
    "LORADESK_DATABASE_PASSWORD": "db-S3CRET",
    "LORADESK_NEW_USER_PASSWORD": "new-user-S3CRET",
    "PGPASSWORD": "libpq-S3CRET",
    "AWS_SECRET_ACCESS_KEY": "aws-S3CRET",
}


def trainer_environment(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


async def test_the_trainer_holds_no_app_secret_and_its_job_folder_is_private(local_workspace, monkeypatch):
    """Issue 23, item 12: the trainer's environment (cold, and the warm standby's) carries none of
    the app's secrets, and what the job folder holds is readable by the user alone."""
    for name, value in APP_SECRETS.items():
        monkeypatch.setenv(name, value)
    ws = local_workspace()
    job_id = queue_sample_job(ws, max_steps=4, eval_interval=2)
    scheduler = Scheduler(ws)
    await scheduler.run_once()  # submitted: a cold trainer is importing torch now
    job_dir = ws.settings.home / "jobs" / job_id
    cold = json.loads((job_dir / "process.json").read_text())["pid"]
    environments = [trainer_environment(cold)]
    detail = await cycle_until(scheduler, ws, job_id, {"completed", "failed"})
    await ws.backend().keep_warm()  # the standby that takes the next job
    standby = ws.backend().standby.pid
    assert standby is not None
    environments.append(trainer_environment(standby))
    await ws.aclose()

    assert detail.job.status.value == "completed", detail.job.error_message
    for environment in environments:
        assert environment["PYTHONUNBUFFERED"] == "1"  # what it needs still reaches it
        assert not [name for name in environment if name in APP_SECRETS or name.startswith("LORADESK_")]
        assert not [v for v in environment.values() if "S3CRET" in v]
    assert job_dir.stat().st_mode & 0o777 == 0o700
    written = [p for p in job_dir.rglob("*")]
    assert {"spec.json", "metrics.jsonl", "stdout.log", "adapter_model.safetensors"} <= {
        p.name for p in written
    }
    loose = {
        str(p.relative_to(job_dir)): oct(p.stat().st_mode & 0o777)
        for p in written
        if p.stat().st_mode & 0o077
    }
    assert loose == {}
