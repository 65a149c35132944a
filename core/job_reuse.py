"""Starting a new job from an earlier one: clone, retry, `jobs submit --like`.

The new job takes the earlier one's dataset, hyperparameters and GPUs, with whatever the person
changed on top; its name is made afresh unless given. Its expected run time comes from the
user's finished runs on the same dataset, scaled by epochs.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core import job_store
from core.errors import NotFoundError
from core.jobs import create_job
from core.records import Job
from core.workspace import Workspace


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


@dataclass(frozen=True, slots=True)
class RunTimeEstimate:
    """Expected hours of a run: the median hours per epoch of `runs` finished runs × epochs."""

    hours: float
    runs: int
    hours_per_epoch: float

    def describe(self) -> str:
        runs = "1 finished run" if self.runs == 1 else f"{self.runs} finished runs"
        return f"from {runs} of this dataset ({_duration(self.hours_per_epoch)} per epoch)"


def find_settings(ws: Workspace, *, job_id: str) -> JobSettings:
    """The settings of one of the user's jobs."""
    with ws.db.read() as session:
        job = job_store.find_job(session, job_id, user_id=ws.user)
    if job is None:
        raise NotFoundError(f"no job {job_id!r} (see `loradesk jobs list`)")
    return JobSettings.of(job)


def create_job_like(
    ws: Workspace,
    *,
    like_id: str,
    name: str | None = None,
    dataset_id: str | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    gpu_type: str | None = None,
    gpu_count: int | None = None,
    rules: Mapping[str, Any] | None = None,
    force: bool = False,
    retry: bool = False,
) -> Job:
    """Queue a job with `like_id`'s dataset and settings; every argument given overrides (a
    hyperparameter given as None keeps the earlier job's value). Stop rules are the new run's
    own (`rules`, as for create_job), not copied. A `retry` names `like_id` as its parent."""
    like = find_settings(ws, job_id=like_id)
    changed = {key: value for key, value in (hyperparameters or {}).items() if value is not None}
    merged = {**like.hyperparameters, **changed}
    if "lora_rank" in changed and "lora_alpha" not in changed:
        merged.pop("lora_alpha", None)  # alpha follows a changed rank (2 × rank), as a new job's does
    return create_job(
        ws,
        dataset_id=dataset_id or like.dataset_id,
        name=name,
        hyperparameters=merged,
        gpu_type=gpu_type or like.gpu_type,
        gpu_count=gpu_count if gpu_count is not None else like.gpu_count,
        rules=rules,
        force=force,
        parent_job_id=like_id if retry else None,
    )


def estimate_run_time(ws: Workspace, *, dataset_id: str, epochs: int) -> RunTimeEstimate | None:
    """Hours a run of `epochs` epochs on this dataset may take, from the user's completed runs
    on it (wall time from start to end per epoch, the median of the last twenty); None when
    there are none."""
    with ws.db.read() as session:
        runs = job_store.finished_runs(session, user_id=ws.user, dataset_id=dataset_id)
    per_epoch = [
        (job.completed_at - job.started_at).total_seconds() / 3600 / max(1, job.total_epochs)
        for job in runs
        if job.completed_at is not None and job.started_at is not None and job.completed_at > job.started_at
    ]
    if not per_epoch:
        return None
    median = statistics.median(per_epoch)
    return RunTimeEstimate(hours=median * max(1, epochs), runs=len(per_epoch), hours_per_epoch=median)


def _duration(hours: float) -> str:
    seconds = hours * 3600
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{hours:.1f} h"
