"""Recording what the cluster said: every job state change the scheduler writes.

Each function runs inside the caller's write transaction and returns what changed (the job record
and the notifications created) so the caller can publish events after commit. Updates are guarded:
they only touch a job that is not yet terminal and, where given, still claimed by `owner` — so a
scheduler whose claim expired cannot overwrite the work of the one that took over, and terminal
bookkeeping (final cost, cost record, notification) happens exactly once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from core.cluster.base import StatusReport, point_step
from core.db import job_store
from core.db.clock import database_time
from core.db.job_store import ClaimedJob, guarded_update, guarded_update_many
from core.db.metric_chunks import pack_finished
from core.db.models import CostRecordRow, new_id, utcnow
from core.db.upsert import insert_ignoring_conflicts
from core.money.stop_rules import track_evaluations
from core.notifications import add_notification, auth_once_key, job_title
from core.records import Job, JobStatus, MetricPoint, Notification, Sample
from core.records import NotificationType as N
from core.scheduler.metric_points import METRIC_FIELDS, finite, metric_points, to_int

MILESTONES = (25, 50, 75)
NOT_FOUND_LIMIT = 3
# What clusters call their states → ours. Anything else is a malformed answer.
CLUSTER_STATUS = {
    "queued": JobStatus.INITIALIZING,
    "pending": JobStatus.INITIALIZING,
    "submitted": JobStatus.INITIALIZING,
    "initializing": JobStatus.INITIALIZING,
    "starting": JobStatus.INITIALIZING,
    "running": JobStatus.RUNNING,
    "completed": JobStatus.COMPLETED,
    "succeeded": JobStatus.COMPLETED,
    "failed": JobStatus.FAILED,
    "error": JobStatus.FAILED,
    "cancelled": JobStatus.CANCELLED,
    "canceled": JobStatus.CANCELLED,
}


@dataclass
class Change:
    """What one transition wrote: the job as it now stands, new points and notifications."""

    job: Job | None = None
    points: list[MetricPoint] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    # A guardrail fired in this record: the cancel is the recording scheduler's to carry out.
    stopped: bool = False
    # The job failed here while its cluster job may still run (its answers kept breaking the
    # contract): the recording scheduler stops that cluster job, so none runs on unwatched.
    stop_on_cluster: str | None = None

    def notify(self, note: Notification | None) -> None:
        if note is not None:
            self.notifications.append(note)


def cluster_status(value: str) -> JobStatus | None:
    return CLUSTER_STATUS.get(str(value).lower())


def cost_at(job: Job, now: datetime) -> float:
    """hourly_rate × gpu_count × hours since started_at (SPEC §5)."""
    if job.started_at is None:
        return 0.0
    hours = max((now - job.started_at).total_seconds(), 0.0) / 3600
    return round(job.hourly_rate * job.gpu_count * hours, 6)


def _job_note(session: Session, job: Job, type: N, title: str, message: str, key: str) -> Notification | None:
    """A notification about `job` that exists at most once per (job, key)."""
    return add_notification(
        session,
        user_id=job.user_id,
        job_id=job.id,
        type=type,
        title=title,
        message=message,
        once_key=f"{job.id}:{key}",
    )


def release(values: dict[str, Any]) -> dict[str, Any]:
    return {**values, "claimed_by": None, "claim_expires_at": None}


def finish_job(
    session: Session,
    job: Job,
    status: JobStatus,
    *,
    now: datetime,
    owner: str | None = None,
    error_message: str | None = None,
    values: dict[str, Any] | None = None,
    ended_at: datetime | None = None,
) -> Change:
    """Move a job to a terminal status with its final cost, cost record and one notification.
    `ended_at` is when the run ended, if the cluster said so; else it ends `now`."""
    end = min(ended_at, now) if ended_at is not None else now
    final_cost = cost_at(job, end)
    finished = guarded_update(
        session,
        job.id,
        release(
            {
                **(values or {}),
                "status": status.value,
                "current_cost": final_cost,
                "final_cost": final_cost,
                "completed_at": end,
                "error_message": error_message if status is JobStatus.FAILED else None,
            }
        ),
        now=now,
        owner=owner,
    )
    change = Change(job=finished)
    if finished is None:
        return change  # another writer finished it first
    session.execute(
        insert_ignoring_conflicts(session, CostRecordRow).values(
            id=new_id(),
            job_id=job.id,
            user_id=job.user_id,
            cost_type="compute",
            amount=final_cost,
            billing_period=end.strftime("%Y-%m"),
            details={
                "gpu_type": job.gpu_type,
                "gpu_count": job.gpu_count,
                "hourly_rate": job.hourly_rate,
                "hours": round(max((end - job.started_at).total_seconds(), 0) / 3600, 6)
                if job.started_at
                else 0,
                "status": status.value,
            },
            created_at=now,
        )
    )
    type_, title, message = _terminal_message(finished, status, error_message)
    change.notify(_job_note(session, job, type_, title, message, "terminal"))
    pack_finished(session, job.id)  # the run is over: its points into chunks (core.db.metric_chunks)
    return change


def _terminal_message(job: Job, status: JobStatus, error: str | None) -> tuple[N, str, str]:
    cost = f"${job.final_cost or 0:.2f}"
    if status is JobStatus.COMPLETED:
        return (
            N.JOB_COMPLETED,
            job_title(job.name, " completed"),
            f"Training finished at step {job.current_step}; cost {cost}.",
        )
    if status is JobStatus.FAILED:
        return (
            N.JOB_FAILED,
            job_title(job.name, " failed"),
            f"{error or 'The cluster reported a failure.'} Cost {cost}.",
        )
    if job.stop_reason:  # a guardrail stopped it: the one cancel notification says which and why
        return (
            N.JOB_CANCELLED,
            job_title(job.name, " stopped by a guardrail"),
            f"Stopped: {job.stop_reason}; cost {cost}.",
        )
    return N.JOB_CANCELLED, job_title(job.name, " cancelled"), f"The job was cancelled; cost {cost}."


def record_submitted(
    session: Session,
    claimed: ClaimedJob,
    external_job_id: str,
    cluster_state: str,
    *,
    owner: str,
    now: datetime,
    vouched: bool = False,
) -> Change:
    """`vouched`: the scheduler works on every row and so records the cluster id its own submit
    was given as checked (core.scheduler.cluster_ids): it needs no second, verifying submit."""
    return _record_submit(
        session,
        claimed.job,
        external_job_id,
        cluster_state,
        attempts=claimed.submit_attempts + 1,
        owner=owner,
        now=now,
        vouched=vouched,
    )


def record_learned_submit(
    session: Session, job: Job, external_job_id: str, cluster_state: str, *, now: datetime
) -> Change:
    """Record the answer of a resubmit made to learn a job's cluster id (for a cancel), unless a
    scheduler recorded the id meanwhile; no claim is needed, as the answer is the same job."""
    current = job_store.lock_job(session, job.id)
    if current is None or current.external_job_id is not None:
        return Change(job=current)
    return _record_submit(session, job, external_job_id, cluster_state, attempts=None, owner=None, now=now)


def _record_submit(
    session: Session,
    job: Job,
    external_job_id: str,
    cluster_state: str,
    *,
    attempts: int | None,
    owner: str | None,
    now: datetime,
    vouched: bool = False,
) -> Change:
    status = cluster_status(cluster_state) or JobStatus.INITIALIZING
    if status.is_terminal:  # a cluster that finished the job at once: polling records the end
        status = JobStatus.INITIALIZING
    values: dict[str, Any] = {
        "external_job_id": external_job_id,
        "status": status.value,
        "started_at": now,
        "next_attempt_at": None,
        "error_message": None,
    }
    if attempts is not None:
        values["submit_attempts"] = attempts
    if vouched:
        values["checked_external_job_id"] = external_job_id
    updated = guarded_update(session, job.id, release(values), now=now, owner=owner)
    change = Change(job=updated)
    if updated is not None:
        message = f"Submitted on {updated.gpu_count}× {updated.gpu_type}; cluster job {external_job_id}."
        change.notify(
            _job_note(
                session, updated, N.JOB_STARTED, job_title(updated.name, " started"), message, "started"
            )
        )
    return change


def let_go_of_cluster_id(session: Session, job: Job, reason: str) -> Change:
    """A row that named a cluster job not its own lets go of that id: a job not over fails with
    `reason`; a finished one only forgets the id."""
    now = utcnow()
    if not job.status.is_terminal:
        return finish_job(
            session, job, JobStatus.FAILED, now=now, error_message=reason, values={"external_job_id": None}
        )
    return Change(job=job_store.forget_cluster_id(session, job.id, now=now))


def record_submit_retry(
    session: Session,
    claimed: ClaimedJob,
    error: str,
    *,
    owner: str,
    now: datetime,
    max_attempts: int,
    backoff: timedelta,
) -> Change:
    """A transient submit failure: back off and retry, or fail after `max_attempts`."""
    attempts = claimed.submit_attempts + 1
    if attempts >= max_attempts:
        return finish_job(
            session,
            claimed.job,
            JobStatus.FAILED,
            now=now,
            owner=owner,
            error_message=f"could not submit after {attempts} attempt{'s' if attempts > 1 else ''}: {error}",
            values={"submit_attempts": attempts},
        )
    # The back-off ends in the database's time, as every scheduler judges it (core.db.clock).
    values = {
        "submit_attempts": attempts,
        "next_attempt_at": database_time(session) + backoff,
        "error_message": error,
    }
    return Change(job=guarded_update(session, claimed.job.id, release(values), now=now, owner=owner))


def release_claim(
    session: Session, claimed: ClaimedJob, *, owner: str, now: datetime, submit_refused: bool = False
) -> Change:
    """Give a job back unchanged (busy cluster, transient poll failure, auth problem). With
    `submit_refused` the cluster answered that it did not take the submit (no slot, bad token),
    so the job is again one that never left."""
    # Only when no earlier attempt was sent either (attempts count the sends that could have landed).
    never_sent = submit_refused and claimed.submit_attempts == 0 and claimed.job.external_job_id is None
    job_store.unclaim(session, claimed.job.id, owner=owner, forget_submit=never_sent)
    return Change()


def record_auth_failure(session: Session, user_id: str, cluster: str, error: str) -> Change:
    """At most one unread `cluster_auth_failed` per user, however many jobs and cycles hit it."""
    change = Change()
    change.notify(
        add_notification(
            session,
            user_id=user_id,
            type=N.CLUSTER_AUTH_FAILED,
            title="The GPU cluster refused the API token",
            message=(
                f"{error} Jobs stay where they are until a valid token is set "
                f"(Settings, or LORADESK_CLUSTER_TOKEN) for the {cluster} cluster."
            ),
            once_key=auth_once_key(user_id),
        )
    )
    return change


def contract_breach(report: StatusReport) -> str | None:
    """How a status answer breaks the contract (SPEC §4), None when it keeps it: a status the
    contract does not name, or a negative step, epoch or total."""
    if cluster_status(report.status) is None:
        shown = report.status if len(report.status) <= 40 else report.status[:39] + "…"
        return f"status {shown!r} is not one of the contract's"
    counts = {
        "current_step": report.current_step,
        "total_steps": report.total_steps,
        "current_epoch": report.current_epoch,
        "total_epochs": report.total_epochs,
    }
    for name, value in counts.items():
        if value is not None and value < 0:
            return f"{name} is negative"
    if any(point_step(point) < 0 for point in report.metrics_history or ()):
        return "a metric point has a negative step"
    return None


def record_malformed(
    session: Session,
    claimed: ClaimedJob,
    error: str,
    *,
    owner: str,
    now: datetime,
    max_attempts: int,
    backoff: timedelta,
) -> Change:
    """A status answer that broke the contract: said on the job (`error_message`), polled again
    after `backoff`, and the job fails once `max_attempts` answers in a row have broken it."""
    count = claimed.malformed_answers + 1
    if count >= max_attempts:
        change = finish_job(
            session,
            claimed.job,
            JobStatus.FAILED,
            now=now,
            owner=owner,
            error_message=f"{count} malformed answers in a row from the cluster; the last: {error}",
            values={"malformed_answers": count},
        )
        if change.job is not None:
            change.stop_on_cluster = claimed.job.external_job_id
        return change
    values = {
        "malformed_answers": count,
        "next_attempt_at": database_time(session) + backoff,  # in the database's time
        "error_message": f"{error} (answer {count} of {max_attempts} allowed; polled again later)",
    }
    return Change(job=guarded_update(session, claimed.job.id, release(values), now=now, owner=owner))


def record_not_found(session: Session, claimed: ClaimedJob, *, owner: str, now: datetime) -> Change:
    polls = claimed.not_found_polls + 1
    if polls >= NOT_FOUND_LIMIT:
        return finish_job(
            session,
            claimed.job,
            JobStatus.FAILED,
            now=now,
            owner=owner,
            error_message="job not found on the cluster",
            values={"not_found_polls": polls},
        )
    return Change(
        job=guarded_update(session, claimed.job.id, release({"not_found_polls": polls}), now=now, owner=owner)
    )


@dataclass
class StatusPlan:
    """What one status answer asks to write, worked out before any statement runs, so that a
    cycle can write all its running jobs' updates at once (`record_statuses`)."""

    job: Job  # the job as the answer sees it (with the cluster's started_at)
    status: JobStatus
    values: dict[str, Any]
    points: list[MetricPoint]
    samples: list[Sample]
    milestone: int | None
    non_finite: int | None  # the first step whose loss was NaN or infinite
    error_message: str | None = None
    ended_at: datetime | None = None
    resumed_from: tuple[int, ...] = ()


def plan_status(claimed: ClaimedJob, report: StatusReport, *, now: datetime) -> StatusPlan:
    """Read a status answer: progress, cost, milestone, new points, the end. Writes nothing."""
    job = claimed.job
    status = cluster_status(report.status)
    if status is None:
        raise ValueError(f"the cluster reported an unknown status {report.status!r}")
    if status.is_terminal and report.more_points:
        status = JobStatus.RUNNING  # its last points first: the end is recorded by a later poll
    if report.started_at is not None and report.started_at <= now:
        job = dataclasses.replace(job, started_at=report.started_at)  # the cluster's clock bills
    points, non_finite = metric_points(job.id, report, after_step=claimed.last_metric_step, now=now)

    progress = _progress(report, job)
    milestone = max((m for m in MILESTONES if claimed.progress_notified < m <= progress), default=None)
    last_step = max([p.step for p in points], default=claimed.last_metric_step)
    values: dict[str, Any] = {
        "progress": progress,
        "current_epoch": to_int(report.current_epoch, job.current_epoch),
        "total_epochs": to_int(report.total_epochs, job.total_epochs),
        "current_step": to_int(report.current_step, job.current_step),
        "total_steps": to_int(report.total_steps, job.total_steps),
        "current_metrics": {k: finite(report.metrics.get(k)) for k in METRIC_FIELDS if k in report.metrics}
        or job.current_metrics,
        "last_metric_step": last_step,
        "not_found_polls": 0,
        "current_cost": cost_at(job, now),
        "progress_notified": milestone or claimed.progress_notified,
        "started_at": job.started_at,
        **track_evaluations(job, points, non_finite),  # what the plateau and NaN rules judge
    }
    if claimed.malformed_answers:  # the cluster answers well again: its complaint goes
        values.update(malformed_answers=0, next_attempt_at=None, error_message=None)
    if report.artifact_url:
        values["artifact_url"] = report.artifact_url
        # A cancelled run's adapter is what it had learned when it stopped.
        values["artifact_partial"] = status is JobStatus.CANCELLED
    if status is JobStatus.COMPLETED:
        values["progress"] = 100.0
    if not status.is_terminal:
        values = release({**values, "status": status.value})
    return StatusPlan(
        job=job,
        status=status,
        values=values,
        points=points,
        samples=[
            Sample(job.id, a.step, a.prompt_index, a.prompt, a.expected, a.output, now)
            for a in report.samples
        ],
        milestone=None if status.is_terminal else milestone,
        non_finite=non_finite,
        error_message=report.error_message,
        ended_at=report.completed_at,
        resumed_from=report.resumed_from,
    )


def record_status(
    session: Session, claimed: ClaimedJob, report: StatusReport, *, owner: str, now: datetime
) -> Change:
    """Store a status answer. The new metric points and samples come back in `Change.points` and
    `Change.samples` for the caller to store (with `store_metric_points`, `store_samples`) in the
    same transaction: a cycle writes all its jobs' points in one go."""
    plan = plan_status(claimed, report, now=now)
    if plan.status.is_terminal:
        return _finish_planned(session, plan, owner=owner, now=now)
    updated = guarded_update(session, plan.job.id, plan.values, now=now, owner=owner)
    return _complete(session, plan, Change(job=updated))


def record_statuses(
    session: Session, answers: Sequence[tuple[ClaimedJob, StatusReport]], *, owner: str, now: datetime
) -> list[Change]:
    """`record_status` for a round of answers: the jobs still running are updated together, one
    statement per shape of update (`job_store.guarded_update_many`); jobs that ended are finished
    one by one (their cost record and notification are per job anyway)."""
    plans = [plan_status(claimed, report, now=now) for claimed, report in answers]
    running = [(plan.job.id, plan.values) for plan in plans if not plan.status.is_terminal]
    updated = guarded_update_many(session, running, now=now, owner=owner)
    return [
        _finish_planned(session, plan, owner=owner, now=now)
        if plan.status.is_terminal
        else _complete(session, plan, Change(job=updated.get(plan.job.id)))
        for plan in plans
    ]


def _finish_planned(session: Session, plan: StatusPlan, *, owner: str, now: datetime) -> Change:
    change = finish_job(
        session,
        plan.job,
        plan.status,
        now=now,
        owner=owner,
        error_message=plan.error_message,
        values=plan.values,
        ended_at=plan.ended_at,
    )
    return _complete(session, plan, change)


def _complete(session: Session, plan: StatusPlan, change: Change) -> Change:
    """What follows a written status: its points, a milestone, a NaN warning (none if the guarded
    write found the job no longer ours)."""
    if change.job is None:
        return change
    change.points = plan.points
    change.samples = plan.samples
    if plan.milestone is not None:
        change.notify(_milestone_note(session, change.job, plan.milestone))
    if plan.non_finite:
        title = job_title(plan.job.name, ": loss is not a number")
        message = f"The loss turned NaN or infinite at step {plan.non_finite}; it is stored as empty."
        change.notify(_job_note(session, plan.job, N.JOB_WARNING, title, message, "non-finite-loss"))
    for count, step in enumerate(plan.resumed_from, start=1):
        title = job_title(plan.job.name, ": its trainer died and was restarted")
        message = (
            f"The training process ended without reporting a result (out of memory, killed, a reboot);"
            f" the job continues from its checkpoint at step {step:,} (restart {count})."
        )
        change.notify(_job_note(session, plan.job, N.JOB_WARNING, title, message, f"resumed:{count}"))
    return change


def _milestone_note(session: Session, job: Job, milestone: int) -> Notification | None:
    loss = job.current_metrics.get("training_loss")
    loss_text = f", training loss {loss:.4g}" if isinstance(loss, float) else ""
    message = f"Step {job.current_step} of {job.total_steps or '?'}{loss_text}."
    return _job_note(
        session,
        job,
        N.JOB_PROGRESS,
        job_title(job.name, f" is {milestone}% done"),
        message,
        f"progress:{milestone}",
    )


def _progress(report: StatusReport, job: Job) -> float:
    if report.progress is not None and math.isfinite(report.progress):
        return min(max(float(report.progress), 0.0), 100.0)
    step, total = report.current_step, report.total_steps or job.total_steps
    if step is not None and total:
        return min(100.0 * step / total, 100.0)
    return job.progress
