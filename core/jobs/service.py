"""Training jobs: create, list, show, watch for changes, cancel, delete."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select

from core.config import Settings
from core.datasets.catalog import find_dataset
from core.db import job_store, metric_chunks
from core.db.convert import to_cost_record, to_metric_point, to_notification
from core.db.models import CostRecordRow, MetricChunkRow, MetricPointRow, NotificationRow, new_id, utcnow
from core.errors import InvalidRequestError, NotFoundError
from core.events import JobDeleted, JobUpdated, WorkAvailable
from core.formats.hyperparameters import DEFAULT_GPU_COUNT
from core.jobs import tombstones as job_tombstones
from core.jobs.metric_columns import JobMetrics, MetricColumns, count_rows, read_metric_columns
from core.jobs.request import JobOrder, NewJob, check_new_job, default_job_name
from core.money.budget import check_budget
from core.money.estimate import CostEstimate, estimate_job_cost, price
from core.money.gpu_offer import gpu_offer
from core.money.stop_rules import check_rules
from core.records import Job, JobChanges, JobDetail, JobStatus
from core.scheduler.cancelling import NEVER_LEFT, CancelResult, carry_out_cancel, request_cancel
from core.workspace import Workspace


def create_job(
    ws: Workspace,
    *,
    dataset_id: str,
    name: str | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    gpu_type: str | None = None,
    gpu_count: int = DEFAULT_GPU_COUNT,
    rules: Mapping[str, Any] | None = None,
    expected_hours: float | None = None,
    parent_job_id: str | None = None,
    force: bool = False,
) -> Job:
    """`queue_job` with the order's fields as keywords: the short form for scripts and tests."""
    order = JobOrder(
        dataset_id=dataset_id,
        name=name,
        hyperparameters=hyperparameters,
        gpu_type=gpu_type,
        gpu_count=gpu_count,
        rules=rules,
        expected_hours=expected_hours,
        parent_job_id=parent_job_id,
    )
    return queue_job(ws, order, force=force)


def queue_job(
    ws: Workspace,
    order: JobOrder,
    *,
    force: bool = False,
    resume_from_step: int | None = None,
    total_steps: int | None = None,
) -> Job:
    """Queue a new job on one of the user's datasets (by id or name); returns it.

    The order's `hyperparameters` hold loose values (None or absent: the default of
    `Hyperparameters`); its `rules` the guardrails (absent: off). Everything is checked before
    anything is written. With a monthly budget, a job whose estimate (`estimate_new_job`) would
    pass it raises BudgetExceededError, unless `force`. `resume_from_step` (core.jobs.resume)
    starts it at that checkpoint's step, of `total_steps` when the run's length is known already.
    """
    request = _checked(ws, order)
    checked_rules = check_rules(order.rules or {})
    dataset = find_dataset(ws, ref=order.dataset_id)
    if not force:
        estimate = _estimate(ws, request, dataset.id, checked_rules, order.expected_hours)
        check_budget(ws, hourly=estimate.hourly, estimate=estimate.amount)
    name = request.name or default_job_name(dataset.name, request.hyperparameters)
    epochs = request.hyperparameters.epochs
    gpu_type, gpu_count, hourly_rate = request.gpu_type, request.gpu_count, request.hourly_rate
    hyperparameters = request.stored_hyperparameters
    now = utcnow()
    values = dict(
        id=new_id(),
        user_id=ws.user,
        dataset_id=dataset.id,
        name=name,
        status=JobStatus.QUEUED.value,
        progress=100.0 * resume_from_step / total_steps if resume_from_step and total_steps else 0.0,
        current_epoch=0,
        total_epochs=epochs,
        current_step=resume_from_step or 0,
        total_steps=total_steps,
        current_metrics={},
        hyperparameters=hyperparameters,
        gpu_type=gpu_type,
        gpu_count=gpu_count,
        hourly_rate=hourly_rate,
        current_cost=0.0,
        created_at=now,
        updated_at=now,
        submit_attempts=0,
        not_found_polls=0,
        progress_notified=0,
        parent_job_id=order.parent_job_id,
        resume_from_step=resume_from_step,
        # The parent's points up to the checkpoint are the parent's: this job's start after it.
        last_metric_step=resume_from_step,
        **checked_rules,
    )
    with ws.db.write() as session:
        job = job_store.insert_job(session, values)
    ws.events.publish(JobUpdated(job))
    ws.events.publish(WorkAvailable())
    return job


def estimate_new_job(ws: Workspace, order: JobOrder) -> CostEstimate:
    """What the job `queue_job` would queue for this order is expected to cost (the figure its
    budget check uses): its past runs' time on the dataset, else a stated guess."""
    request = _checked(ws, order)
    dataset = find_dataset(ws, ref=order.dataset_id)
    return _estimate(ws, request, dataset.id, check_rules(order.rules or {}), order.expected_hours)


def _checked(ws: Workspace, order: JobOrder) -> NewJob:
    return check_new_job(
        ws.settings,
        name=order.name,
        hyperparameters=order.hyperparameters,
        gpu_type=order.gpu_type,
        gpu_count=order.gpu_count,
    )


def _estimate(
    ws: Workspace, request: NewJob, dataset_id: str, rules: Mapping[str, Any], expected_hours: float | None
) -> CostEstimate:
    hourly = request.hourly_rate * request.gpu_count
    caps = {"max_cost": rules.get("max_cost"), "max_hours": rules.get("max_hours")}
    if expected_hours:
        return price(hourly, expected_hours, basis="the expected run time given", **caps)
    epochs = request.hyperparameters.epochs
    return estimate_job_cost(ws, dataset_id=dataset_id, epochs=epochs, hourly=hourly, **caps)


def set_rules(ws: Workspace, *, job_id: str, rules: Mapping[str, Any]) -> Job:
    """Change a queued or running job's guardrails (absent: unchanged; None or False: off);
    the scheduler judges them at the job's next poll. Returns the job as it now stands."""
    values = check_rules(rules)
    if not values:
        raise InvalidRequestError("no rule to change (see `loradesk jobs set --help`)")
    with ws.db.write() as session:
        job = job_store.own_job(session, job_id, user_id=ws.user)
        updated = None
        if not job.status.is_terminal:
            updated = job_store.set_rules(session, job_id, values, user_id=ws.user, now=utcnow())
        if updated is None:
            raise InvalidRequestError(
                f"job {job.name!r} is already {job.status.value}; rules apply to queued, "
                "initializing or running jobs"
            )
    ws.events.publish(JobUpdated(updated))
    ws.events.publish(WorkAvailable())
    return updated


def estimate_cost(settings: Settings, *, gpu_type: str, gpu_count: int, hours: float) -> float:
    return gpu_offer(settings).rates.get(gpu_type, 0.0) * gpu_count * hours


def list_jobs(ws: Workspace, *, status: JobStatus | str | None = None) -> list[Job]:
    with ws.db.read() as session:
        return job_store.list_jobs(
            session, user_id=ws.user, status=None if status is None else JobStatus(status)
        )


def find_job(ws: Workspace, *, job_id: str) -> Job:
    """One of the user's jobs, without its points."""
    with ws.db.read() as session:
        job = job_store.own_job(session, job_id, user_id=ws.user)
    return job


def get_job(ws: Workspace, *, job_id: str) -> JobDetail:
    """The job with its metric points (by step), cost records and notifications."""
    with ws.db.read() as session:
        job = job_store.own_job(session, job_id, user_id=ws.user)
        rows = session.scalars(
            select(MetricPointRow).where(MetricPointRow.job_id == job_id).order_by(MetricPointRow.step)
        )
        points = metric_chunks.with_chunked_points(session, job_id, [to_metric_point(p) for p in rows])
        costs = session.scalars(select(CostRecordRow).where(CostRecordRow.job_id == job_id))
        notes = session.scalars(
            select(NotificationRow)
            .where(NotificationRow.job_id == job_id)
            .order_by(NotificationRow.created_at)
        )
        return JobDetail(
            job=job,
            metrics=tuple(points),
            cost_records=tuple(to_cost_record(c) for c in costs),
            notifications=tuple(to_notification(n) for n in notes),
        )


def jobs_changed_since(ws: Workspace, *, since: int | None) -> JobChanges:
    """The cheap change query: the user's jobs changed and deleted after change number `since`
    (all jobs when None), and the number to pass next time. Numbers come from the database
    (core.db.changes), so a writer whose clock is off loses nothing; callers apply the jobs
    idempotently. A `since` older than the kept tombstones gets every job (`complete`)."""
    user = ws.user
    with ws.db.read() as session:
        jobs, latest = job_store.jobs_changed_since(session, user_id=user, after=since)
        deleted = job_tombstones.deleted_since(session, user_id=user, after=since, up_to=latest)
        if since is None or not job_tombstones.pruned_past(session, since):
            return JobChanges(jobs, deleted, latest, complete=since is None)
        jobs, _ = job_store.jobs_changed_since(session, user_id=user, after=None)
        deleted = job_tombstones.deleted_since(session, user_id=user, after=None, up_to=latest)
        return JobChanges(jobs, deleted, latest, complete=True)


def get_job_metrics(ws: Workspace, *, job_id: str, after_step: int | None = None) -> JobMetrics:
    """The job and its points as numpy columns, read straight from the driver (the monitor's
    load)."""
    with ws.db.read() as session:
        job = job_store.own_job(session, job_id, user_id=ws.user)
        columns = read_metric_columns(session, job_id, after_step=after_step)
    return JobMetrics(job=job, columns=columns)


def first_look_metrics(ws: Workspace, *, job_id: str, at_most: int) -> JobMetrics | None:
    """A long series thinned to about `at_most` points and marked incomplete, to draw while the
    full load runs; None when the full load is about as quick: at most that many of its points
    are in rows (the others are compressed chunks, read in a blink)."""
    with ws.db.read() as session:
        job = job_store.own_job(session, job_id, user_id=ws.user)
        rows = count_rows(session, job_id)
        if rows <= at_most:
            return None
        columns = read_metric_columns(session, job_id, every=-(-rows // at_most))
    return JobMetrics(job=job, columns=columns, complete=False)


def metric_columns(ws: Workspace, *, job_id: str, after_step: int | None) -> MetricColumns:
    """The job's points with step > after_step (all when None) as columns; none for a job that
    is not the user's."""
    with ws.db.read() as session:
        if not job_store.is_users_job(session, job_id, user_id=ws.user):
            return MetricColumns.empty()
        return read_metric_columns(session, job_id, after_step=after_step)


async def cancel_job(ws: Workspace, *, job_id: str) -> Job:
    """Cancel a queued or active job (SPEC §5). Returns the job as it now stands: cancelled, or
    still active with `is_cancelling` when the cluster could not take the cancel yet."""
    return (await cancel_job_explained(ws, job_id=job_id)).job


async def cancel_job_explained(ws: Workspace, *, job_id: str) -> CancelResult:
    """`cancel_job`, with what happened in words: cancelled here (it never left), cancelled on
    the cluster, already over there, or waiting (for the cluster, or for a submit in flight)."""
    job, held = await asyncio.to_thread(request_cancel, ws, job_id=job_id)  # a write: off the loop
    if job.status.is_terminal:
        return CancelResult(job, NEVER_LEFT)
    return await carry_out_cancel(ws, job, held=held)


def delete_job(ws: Workspace, *, job_id: str) -> Job:
    """Delete one of the user's terminal jobs with its metric points, cost records and
    notifications; returns the job as it was. A job that is not terminal is refused. The job's
    row is locked while it is checked and deleted, so one that another scheduler or person
    changes meanwhile is never deleted half-way (the delete itself is guarded on the status).
    Its tombstone, stamped in the same transaction, tells other app instances (core.jobs.tombstones)."""
    with ws.db.write() as session:
        job = job_store.lock_job(session, job_id, user_id=ws.user)
        if job is None:
            raise NotFoundError(f"no job {job_id!r} (see `loradesk jobs list`)")
        if not job.status.is_terminal:
            raise InvalidRequestError(
                f"job {job.name!r} is {'cancelling' if job.is_cancelling else job.status.value}; "
                "only completed, failed or cancelled jobs can be deleted (cancel it first)"
            )
        for table in (NotificationRow, CostRecordRow, MetricPointRow, MetricChunkRow):
            session.execute(delete(table).where(table.job_id == job_id))
        if not job_store.delete_terminal_job(session, job_id, user_id=ws.user):
            raise InvalidRequestError(
                f"job {job.name!r} changed while it was being deleted; nothing was deleted"
            )
        job_tombstones.record_deletion(session, job_id, user_id=ws.user, now=utcnow())
    ws.events.publish(JobDeleted(job_id))
    return job
