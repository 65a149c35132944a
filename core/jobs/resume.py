"""Continuing a failed or cancelled job from its last checkpoint: `jobs submit --resume`, and
*Continue from step N* in the app.

The continued job is a new job linked to its parent (`parent_job_id`) that starts from the
parent's checkpoint (adapter, optimizer, scheduler and RNG state) and numbers its steps on from the
checkpoint's (`resume_from_step`), so its progress and its curve carry on where the parent's left
off. Only the backend knows where a run's checkpoints are: the `local` one in the job's folder,
the `ray` one in storage; a cluster of SPEC §4 keeps none that Loradesk can name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from core.db import job_store
from core.errors import InvalidRequestError
from core.formats.hyperparameters import setting_value
from core.jobs.metric_columns import MetricColumns, read_metric_columns
from core.jobs.request import JobOrder
from core.jobs.service import find_job, queue_job
from core.records import Job, JobStatus
from core.workspace import Workspace

CONTINUABLE = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})
# What shapes the adapter a checkpoint holds: a continued run must keep them.
FIXED_BY_CHECKPOINT = ("base_model", "lora_rank", "target_modules")
_FROM_STEP = re.compile(r" \(from step \d+\)$")


async def find_checkpoint(ws: Workspace, *, job: Job) -> int | None:
    """The step of the job's last checkpoint, or None when it has none (or its cluster keeps
    none). Reads files or storage: call it off the UI thread."""
    if job.external_job_id is None:
        return None
    latest = getattr(ws.backend(), "latest_checkpoint", None)
    if latest is None:
        return None
    step = await latest(job.external_job_id)
    return int(step) if step is not None else None


async def continuable_step(ws: Workspace, *, job_id: str) -> int | None:
    """The step a failed or cancelled job can be continued from; None for any other job."""
    job = find_job(ws, job_id=job_id)
    if job.status not in CONTINUABLE:
        return None
    return await find_checkpoint(ws, job=job)


async def continue_job(
    ws: Workspace,
    *,
    job_id: str,
    name: str | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    gpu_type: str | None = None,
    gpu_count: int | None = None,
    rules: Mapping[str, Any] | None = None,
    force: bool = False,
) -> Job:
    """Queue a job that continues `job_id` (failed or cancelled) from its last checkpoint, with
    its dataset and settings; arguments given override them, except what shapes the adapter.
    Stop rules are the new run's own, as for create_job."""
    parent = find_job(ws, job_id=job_id)
    if parent.status not in CONTINUABLE:
        state = "cancelling" if parent.is_cancelling else parent.status.value
        raise InvalidRequestError(
            f"job {parent.name!r} is {state}; only a failed or cancelled job can be continued"
        )
    step = await find_checkpoint(ws, job=parent)
    if step is None:
        raise InvalidRequestError(
            f"job {parent.name!r} has no checkpoint to continue from"
            " (a run saves one every checkpoint_interval steps and when it is cancelled)"
        )
    changed = {key: value for key, value in (hyperparameters or {}).items() if value is not None}
    for key in FIXED_BY_CHECKPOINT:
        trained = setting_value(parent.hyperparameters, key)
        if key in changed and changed[key] != trained:
            raise InvalidRequestError(
                f"{key.replace('_', ' ')} cannot change when continuing from a checkpoint"
                f" (job {parent.name!r} trained with {trained!r})"
            )
    merged = {**parent.hyperparameters, **changed}
    # The same settings make the same run: its length is known, and its progress starts at the step.
    same_run = merged == parent.hyperparameters and (gpu_count is None or gpu_count == parent.gpu_count)
    order = JobOrder(
        dataset_id=parent.dataset_id,
        name=name or continued_name(parent.name, step),
        hyperparameters=merged,
        gpu_type=gpu_type or parent.gpu_type,
        gpu_count=gpu_count if gpu_count is not None else parent.gpu_count,
        rules=rules,
        parent_job_id=parent.id,
    )
    return queue_job(
        ws,
        order,
        force=force,
        resume_from_step=step,
        total_steps=parent.total_steps
        if same_run and parent.total_steps and parent.total_steps > step
        else None,
    )


def earlier_points(
    ws: Workspace, *, job_id: str, names: tuple[str, ...] = ("step", "training_loss")
) -> MetricColumns:
    """What the runs a continued job carries on recorded before it: each ancestor's points up to
    the step its continuation starts from, oldest first (empty for a job started afresh). The
    monitor draws them faintly before the job's own, so a run and its continuations read as one
    curve. A deleted ancestor ends the chain."""
    parts: list[MetricColumns] = []
    with ws.db.read() as session:
        job = job_store.find_job(session, job_id, user_id=ws.user)
        seen = {job_id}
        while job is not None and job.parent_job_id and job.resume_from_step is not None:
            parent = job_store.find_job(session, job.parent_job_id, user_id=ws.user)
            if parent is None or parent.id in seen:
                break
            seen.add(parent.id)
            columns = read_metric_columns(session, parent.id, names=names)
            keep = columns["step"] <= job.resume_from_step
            parts.append(MetricColumns({name: columns[name][keep] for name in names}))
            job = parent
    if not parts:
        return MetricColumns({name: np.empty(0) for name in names})
    parts.reverse()
    return MetricColumns({name: np.concatenate([part[name] for part in parts]) for name in names})


def lineage(job: Job, parent_name: str | None = None) -> str | None:
    """Where a job comes from, in words: "continues … from step N", "retried from …"; None
    for a job started afresh. The parent is named by its name when known, and its short id."""
    if job.parent_job_id is None:
        return None
    short = job.parent_job_id[:8]
    parent = f"“{parent_name}” ({short})" if parent_name else short
    if job.resume_from_step is not None:
        return f"continues {parent} from step {job.resume_from_step}"
    return f"retried from {parent}"


def continued_name(name: str, step: int) -> str:
    """ "run (from step 40)"; a continued job's own suffix is replaced, not stacked."""
    suffix = f" (from step {step})"
    return _FROM_STEP.sub("", name)[: 200 - len(suffix)] + suffix
