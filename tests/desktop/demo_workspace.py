"""A workspace with a realistic history, made through the real services, scheduler and fake cluster.

Used by the screenshot test and to make the README's screenshot:

    python -m tests.desktop.demo_workspace /tmp/demo-home    # prints the job id to show

Jobs end in every state: completed, failed (one mid-run, one refused by the cluster before
training), cancelled, two running, one on the CPU (no GPU), one queued. Start times are moved back
a few hours (demo data only) so elapsed time, ETA and cost read like a real day.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from core.cluster.http import HttpCluster
from core.config import Settings, load_settings
from core.datasets.catalog import add_dataset
from core.db.models import JobRow, utcnow
from core.jobs.service import cancel_job, create_job
from core.scheduler import Scheduler
from core.workspace import Workspace
from tests.fakes.cluster import FakeCluster, JobPlan

TOKEN = "demo-token"


@dataclass(frozen=True)
class DemoJob:
    name: str
    total_steps: int
    steps_per_poll: int
    gpu_type: str
    gpu_count: int
    hours_ago: float
    outcome: str = "completed"
    cancel_after: int | None = None  # cycles


DEMO_JOBS = (
    DemoJob("llama3-8b support-chat r16", 1200, 200, "A100-80GB", 2, 9.0),
    DemoJob("mistral-7b sql r8 lr3e-4", 900, 150, "L40S", 1, 7.5, outcome="failed"),
    DemoJob("qwen2-7b summarise r8", 1500, 100, "A10G", 1, 6.0, cancel_after=5),
    DemoJob("llama3-8b support-chat r32", 3000, 110, "A100-80GB", 4, 3.2),
    DemoJob("phi3-mini tool-use r8", 2400, 60, "L4", 1, 1.1),
    DemoJob("tinyllama smoke test (CPU)", 2400, 60, "cpu", 1, 0.4),
)
REFUSED_JOB = "llama3-70b support-chat r8"  # refused by the cluster: failed before training
REFUSED = "base model needs 80 GB of GPU memory; an L4 has 24 GB"
FEATURED = 3  # the job the screenshot shows: running, most of its points in


def noisy_losses(total: int, seed: int) -> dict[int, float]:
    rng = random.Random(seed)
    return {
        step: round(2.4 * math.exp(-3.2 * step / total) + 0.35 + rng.gauss(0, 0.06) * (1.2 - step / total), 5)
        for step in range(1, total + 1)
    }


def demo_settings(home: Path, cluster_url: str) -> Settings:
    return load_settings(
        {"home": str(home), "cluster": "http", "cluster_url": cluster_url, "user": "alice"}, environ={}
    )


def write_dataset(home: Path, pairs: int = 2400) -> Path:
    path = home / "support-chat.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for n in range(pairs):
            handle.write(
                json.dumps({"prompt": f"Customer question {n}?", "completion": f"Answer {n}."}) + "\n"
            )
    return path


def backdate(ws: Workspace, job_id: str, hours: float) -> None:
    moment = utcnow() - timedelta(hours=hours)
    with ws.db.write() as session:
        session.execute(
            update(JobRow)
            .where(JobRow.id == job_id)
            .values(created_at=moment - timedelta(minutes=3), started_at=moment)
        )


async def _run(ws: Workspace, fake: FakeCluster, cycles: int) -> list[str]:
    ws.use_backend(HttpCluster(fake.url, TOKEN))
    dataset = add_dataset(ws, file=write_dataset(ws.settings.home), name="support-chat-v3")
    ids = []
    for n, demo in enumerate(DEMO_JOBS):
        job = create_job(
            ws,
            dataset_id=dataset.id,
            name=demo.name,
            hyperparameters={"epochs": 3, "lora_rank": 16},
            gpu_type=demo.gpu_type,
            gpu_count=demo.gpu_count,
        )
        fake.plan_job(
            job.id,
            JobPlan(
                total_steps=demo.total_steps,
                total_epochs=3,
                steps_per_poll=demo.steps_per_poll,
                outcome=demo.outcome,
                error_message="CUDA out of memory at step 640 (batch 8, seq 4096)",
                losses=noisy_losses(demo.total_steps, n),
            ),
        )
        ids.append(job.id)
    scheduler = Scheduler(ws)
    await scheduler.run_once()  # submits them all
    for job_id, demo in zip(ids, DEMO_JOBS, strict=True):
        backdate(ws, job_id, demo.hours_ago)
    for cycle in range(1, cycles + 1):
        for job_id, demo in zip(ids, DEMO_JOBS, strict=True):
            if demo.cancel_after == cycle:
                await cancel_job(ws, job_id=job_id)
        await scheduler.run_once()
    create_job(ws, dataset_id=dataset.id, name=REFUSED_JOB, gpu_type="L4", gpu_count=1)
    fake.reject_submissions(422, REFUSED, times=1)
    await scheduler.run_once()  # fails before training: no metric points at all
    create_job(ws, dataset_id=dataset.id, name="gemma2-9b support-chat r16", gpu_type="H100", gpu_count=8)
    await ws.aclose()
    return ids


def build_demo(home: Path, *, cycles: int = 18) -> tuple[Settings, str]:
    """Fill `home` with the demo history; returns its settings and the featured job's id."""
    home.mkdir(parents=True, exist_ok=True)
    with FakeCluster(token=TOKEN) as fake:
        settings = demo_settings(home, fake.url)
        ws = Workspace.open(settings)
        try:
            ids = asyncio.run(_run(ws, fake, cycles))
        finally:
            ws.close()
    return settings, ids[FEATURED]


if __name__ == "__main__":
    _, featured = build_demo(Path(sys.argv[1]))
    print(featured)
