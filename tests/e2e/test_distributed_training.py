"""Data-parallel training on one machine: a job with gpu_count 2 runs as two trainer processes
under torchrun (gloo on this CPU-only machine), through the scheduler and the `local` backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.jobs.service import create_job
from core.scheduler import Scheduler
from core.storage.folder import file_url_path
from core.workspace import Workspace
from tests.e2e.test_local_training import SAMPLE, cycle_until

pytestmark = pytest.mark.trainer


@pytest.fixture
def local_workspace(home: Path):
    ws = Workspace.open(load_settings({"home": str(home), "user": "erin", "cluster": "local"}))
    yield ws
    ws.close()


async def test_a_two_process_cpu_job_trains_data_parallel_and_reports_once(local_workspace):
    ws = local_workspace
    dataset = add_dataset(ws, file=SAMPLE, name="sample")
    # 180 training examples in batches of 6 a process: 15 steps an epoch with two processes.
    hp = {"epochs": 2, "batch_size": 6, "eval_interval": 10, "checkpoint_interval": 1000}
    job = create_job(ws, dataset_id=dataset.id, hyperparameters=hp, gpu_type="cpu", gpu_count=2)
    detail = await cycle_until(Scheduler(ws), ws, job.id, {"completed", "failed"}, timeout=300)
    await ws.aclose()

    assert detail.job.status.value == "completed", detail.job.error_message
    job_dir = ws.settings.home / "jobs" / job.id
    assert json.loads((job_dir / "process.json").read_text())["processes"] == 2
    log = (job_dir / "stdout.log").read_text()
    assert log.count("loradesk-trainer: training ") == 2  # two trainers started
    assert detail.job.total_steps == 30  # an epoch is half as many steps with two processes
    # One process reports: each step once in the run's own file, not twice.
    lines = [json.loads(line) for line in (job_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [line["step"] for line in lines if "step" in line]
    assert steps == list(range(1, 31))
    assert [p.step for p in detail.metrics] == steps
    losses = [p.training_loss for p in detail.metrics]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5  # it learns
    adapter = file_url_path(detail.job.artifact_url or "")
    assert sorted(p.name for p in adapter.iterdir()) == [
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    assert json.loads((job_dir / "exit.json").read_text())["status"] == "completed"
