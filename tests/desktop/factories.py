"""Job, metric-point, sample and notification records for desktop tests."""

from __future__ import annotations

import math
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from core.records import Job, JobStatus, MetricPoint, Notification, NotificationType, Sample

BASE = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def make_job(n: int = 0, **changes: Any) -> Job:
    status = JobStatus(changes.pop("status", JobStatus.RUNNING))
    started = None if status == JobStatus.QUEUED else BASE + timedelta(minutes=n)
    job = Job(
        id=changes.pop("id", f"job-{n:06d}"),
        user_id="tester",
        dataset_id="ds-1",
        name=f"run {n}",
        status=status,
        progress=40.0,
        current_epoch=1,
        total_epochs=3,
        current_step=400,
        total_steps=1000,
        current_metrics={"training_loss": 1.0 / (n + 1), "throughput": 1500.0 + n},
        hyperparameters={"epochs": 3, "learning_rate": 2e-4, "lora_rank": 8},
        gpu_type="A100-80GB",
        gpu_count=1,
        hourly_rate=3.7,
        current_cost=1.25,
        final_cost=None,
        external_job_id=None,
        created_at=BASE + timedelta(minutes=n),
        started_at=started,
        completed_at=None,
        updated_at=BASE + timedelta(minutes=n),
        error_message=None,
        artifact_url=None,
    )
    return replace(job, **changes)


def bump(job: Job, **changes: Any) -> Job:
    """The next snapshot of a job: changed fields and a later updated_at."""
    return replace(job, updated_at=job.updated_at + timedelta(seconds=1), **changes)


def make_points(job_id: str, steps: range, *, gpu: bool = True, grad_norm: bool = True) -> list[MetricPoint]:
    return [
        MetricPoint(
            job_id=job_id,
            step=step,
            epoch=step // 100,
            training_loss=2.0 * math.exp(-step / 300) + 0.2,
            validation_loss=(2.1 * math.exp(-step / 300) + 0.25) if step % 50 == 0 else None,
            learning_rate=2e-4,
            throughput=1800.0 + (step % 7) * 10,
            gpu_utilization=(80.0 + step % 10) if gpu else None,
            gpu_memory_used=(30.0 if gpu else None),
            grad_norm=(1.0 + 1.0 / max(step, 1) if grad_norm else None),
            recorded_at=BASE + timedelta(seconds=step),
        )
        for step in steps
    ]


def make_sample(job_id: str, step: int, prompt_index: int = 0, **changes: Any) -> Sample:
    """The answer to sample prompt `prompt_index` at the evaluation of `step`."""
    sample = Sample(
        job_id=job_id,
        step=step,
        prompt_index=prompt_index,
        prompt=f"prompt {prompt_index}",
        expected=f"expected {prompt_index}",
        output=f"answer {prompt_index} at step {step}",
        recorded_at=BASE + timedelta(seconds=step),
    )
    return replace(sample, **changes)


def make_notification(n: int = 0, **changes: Any) -> Notification:
    note = Notification(
        id=changes.pop("id", str(uuid.uuid4())),
        user_id="tester",
        job_id="job-000000",
        type=NotificationType.JOB_COMPLETED,
        title=f"Job run {n} completed",
        message=f"run {n} finished after 3 epochs; final cost $1.25",
        priority="normal",
        read=False,
        created_at=BASE + timedelta(minutes=n),
    )
    return replace(note, **changes)
