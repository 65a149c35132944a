"""Starting a new job from an earlier one: clone, retry, `jobs submit --like`.

The new job takes the earlier one's dataset, hyperparameters and GPUs, with whatever the person
changed on top; its name is made afresh unless given. Its expected run time comes from the
user's finished runs on the same dataset, scaled by epochs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.db import job_store
from core.jobs.request import JobOrder
from core.jobs.service import queue_job
from core.money.estimate import RunTimeEstimate, estimate_run_time
from core.records import Job
from core.workspace import Workspace

__all__ = [
    "JobSettings",
    "RunTimeEstimate",
    "create_job_like",
    "estimate_run_time",
    "find_settings",
    "like_order",
]


@dataclass(frozen=True, slots=True)
class JobSettings:
    """What a new job needs to start where another one did (create_job's arguments)."""

    dataset_id: str
    hyperparameters: dict[str, Any]
    gpu_type: str
    gpu_count: int

    @classmethod
    def of(cls, job: Job) -> JobSettings:
        return cls(job.dataset_id, dict(job.hyperparameters), job.gpu_type, job.gpu_count)


def find_settings(ws: Workspace, *, job_id: str) -> JobSettings:
    """The settings of one of the user's jobs."""
    with ws.db.read() as session:
        job = job_store.own_job(session, job_id, user_id=ws.user)
    return JobSettings.of(job)


def like_order(
    ws: Workspace,
    *,
    like_id: str,
    name: str | None = None,
    dataset_id: str | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    gpu_type: str | None = None,
    gpu_count: int | None = None,
    rules: Mapping[str, Any] | None = None,
    retry: bool = False,
) -> JobOrder:
    """The order for a job with `like_id`'s dataset and settings; every argument
    given overrides (a hyperparameter given as None keeps the earlier job's value). Stop rules
    are the new run's own (`rules`), not copied. A `retry` names `like_id` as its parent."""
    like = find_settings(ws, job_id=like_id)
    changed = {key: value for key, value in (hyperparameters or {}).items() if value is not None}
    merged = {**like.hyperparameters, **changed}
    if "lora_rank" in changed and "lora_alpha" not in changed:
        merged.pop("lora_alpha", None)  # alpha follows a changed rank (2 × rank), as a new job's does
    return JobOrder(
        dataset_id=dataset_id or like.dataset_id,
        name=name,
        hyperparameters=merged,
        gpu_type=gpu_type or like.gpu_type,
        gpu_count=gpu_count if gpu_count is not None else like.gpu_count,
        rules=rules,
        parent_job_id=like_id if retry else None,
    )


def create_job_like(ws: Workspace, *, like_id: str, force: bool = False, **overrides: Any) -> Job:
    """Queue a job with `like_id`'s dataset and settings (`like_order`)."""
    return queue_job(ws, like_order(ws, like_id=like_id, **overrides), force=force)
