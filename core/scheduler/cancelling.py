"""Cancelling a job: record the request first, then ask the cluster, so no cancel is ever lost.

Used by the `cancel_job` service (table, monitor, CLI) and by every scheduler cycle, which retries
requests the cluster could not take yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.cluster.base import (
    ClusterAuthError,
    ClusterCancelPendingError,
    ClusterConflictError,
    ClusterError,
    ClusterJobNotFoundError,
    ClusterRejectedError,
    ClusterTransientError,
    StatusReport,
)
from core.db import job_store
from core.db.job_store import ClaimedJob, guarded_update
from core.db.metric_chunks import pack_finished
from core.db.models import DatasetRow, utcnow
from core.errors import InvalidRequestError, NotFoundError
from core.events import WorkAvailable
from core.records import Job, JobStatus
from core.scheduler.cluster_ids import ClusterIdCheck, ForeignClusterJobError
from core.scheduler.metric_points import store_metric_points
from core.scheduler.publish import publish
from core.scheduler.submitting import submit_request
from core.scheduler.transitions import (
    Change,
    finish_job,
    plan_status,
    record_auth_failure,
    record_learned_submit,
)
from core.storage.buckets import StorageError
from core.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CancelResult:
    """The job after a cancel, and what happened, in words for the person who asked."""

    job: Job
    said: str
    # What a cancel not yet done waits for: "adapter" (the trainer is saving it, all is well),
    # "cluster" (it could not be reached), "token" (it refused ours), "submit" (one in flight).
    waiting_for: str | None = None

    @property
    def waiting(self) -> bool:
        """The cancel is recorded but not done: still cancelling (`waiting_for` says why)."""
        return not self.job.status.is_terminal


NEVER_LEFT = "cancelled; it had not reached the cluster"
CANCELLED_ON_CLUSTER = "cancelled on the cluster (cluster job {external_id})"
ALREADY_OVER = "the job had already ended on the cluster; the next poll records how"
BEING_SUBMITTED = (
    "cancelling: a scheduler is submitting it right now; it is cancelled on the cluster "
    "as soon as that submit is recorded"
)
SAVING = "cancelling: {reason}"
UNREACHABLE = "cancelling: the cluster could not be reached ({reason}); a scheduler retries every cycle"
REFUSED_TOKEN = "cancelling: the cluster refused the API token; set a valid one and a scheduler retries"


def request_cancel(ws: Workspace, *, job_id: str) -> tuple[Job, bool]:
    """Cancel a queued job that never left at once; otherwise record the request. Returns the
    job and whether a scheduler holds it right now."""
    with ws.db.write() as session:
        found = job_store.lock_for_cancel(session, job_id, user_id=ws.user, now=utcnow())
        if found is None:
            raise NotFoundError(f"no job {job_id!r} (see `loradesk jobs list`)")
        job, held = found
        change = _cancel_or_request(session, job, held)
    publish(ws, [change])
    ws.events.publish(WorkAvailable())
    assert change.job is not None
    return change.job, held


def _cancel_or_request(session: Session, job: Job, held: bool) -> Change:
    now = utcnow()
    if job.status.is_terminal:
        raise InvalidRequestError(
            f"job {job.name!r} is already {job.status.value}; only queued, initializing or "
            "running jobs can be cancelled"
        )
    if never_left(job) and not held:
        return finish_job(session, job, JobStatus.CANCELLED, now=now)
    # On the cluster, or maybe (a submit was sent): the cluster must be asked, so record it first.
    return Change(
        job=guarded_update(session, job.id, {"cancel_requested_at": job.cancel_requested_at or now}, now=now)
    )


def never_left(job: Job) -> bool:
    """No submit of this job was ever sent, so no cluster can know it."""
    return job.status is JobStatus.QUEUED and job.external_job_id is None and job.submit_sent_at is None


async def carry_out_cancel(
    ws: Workspace, job: Job, *, held: bool, check: ClusterIdCheck | None = None
) -> CancelResult:
    """Carry out a recorded cancel request. A job whose submit may have reached the cluster
    without its answer being recorded first learns its cluster id from the idempotent resubmit
    (same job_id, same cluster job), so the cluster job is cancelled too, never orphaned. Only a
    cluster job that `check` (by default, the backend's naming) finds the job's own is cancelled."""
    if job.external_job_id is None:
        if held:
            return CancelResult(job, BEING_SUBMITTED, "submit")
        if never_left(job):
            change = await asyncio.to_thread(_write, ws, lambda s: cancel_unsubmitted(s, job))
            return CancelResult(change.job or job, NEVER_LEFT)
        try:
            job = await learn_external_id(ws, job)
        except ClusterRejectedError as exc:  # refused, so not there: nothing runs on the cluster
            log.info("job %s: the cluster refuses it (%s); cancelled here", job.id, exc)
            change = await asyncio.to_thread(
                _write, ws, lambda s: finish_job(s, job, JobStatus.CANCELLED, now=utcnow())
            )
            return CancelResult(change.job or job, NEVER_LEFT)
        except ClusterAuthError as exc:
            await _record_auth(ws, job, str(exc))
            return CancelResult(job, REFUSED_TOKEN, "token")
        except (ClusterError, StorageError) as exc:
            log.warning("job %s: cancel waits for the cluster (%s); retried every cycle", job.id, exc)
            return CancelResult(job, UNREACHABLE.format(reason=exc), "cluster")
    try:
        await (check or ClusterIdCheck(ws, verify=False)).check(job)
    except ForeignClusterJobError as exc:
        reason = str(exc)
        log.warning("job %s: failed: %s", job.id, reason)
        change = await asyncio.to_thread(_write, ws, lambda s: _fail_foreign(s, job, reason))
        return CancelResult(change.job or job, f"failed: {reason}")
    except ClusterAuthError as exc:
        await _record_auth(ws, job, str(exc))
        return CancelResult(job, REFUSED_TOKEN, "token")
    except ClusterError as exc:
        log.warning("job %s: cancel waits for the cluster (%s); retried every cycle", job.id, exc)
        return CancelResult(job, UNREACHABLE.format(reason=exc), "cluster")
    return await attempt_cancel(ws, job)


def _fail_foreign(session: Session, job: Job, reason: str) -> Change:
    """A job whose cluster id is not its own fails, and lets go of that id."""
    return finish_job(
        session, job, JobStatus.FAILED, now=utcnow(), error_message=reason, values={"external_job_id": None}
    )


async def learn_external_id(ws: Workspace, job: Job) -> Job:
    """Submit the job again under its own id: the cluster answers with the job it already has
    (or starts it, if the first submit never arrived), and the answer is recorded."""
    bucket, path = await asyncio.to_thread(_dataset_location, ws, job.dataset_id)
    result = await ws.backend().submit(submit_request(ws, job, bucket, path))
    change = await asyncio.to_thread(
        _write,
        ws,
        lambda s: record_learned_submit(s, job, result.external_job_id, result.status, now=utcnow()),
    )
    return change.job or job


async def attempt_cancel(ws: Workspace, job: Job) -> CancelResult:
    """Ask the cluster to cancel a submitted job; on success poll it once more, so the steps it
    made since the last poll are stored, and record the end; else keep the request."""
    assert job.external_job_id is not None
    said = CANCELLED_ON_CLUSTER.format(external_id=job.external_job_id)
    partial_adapter: str | None = None
    try:
        partial_adapter = await ws.backend().cancel(job.external_job_id)
    except ClusterConflictError:
        # Already over on the cluster: the next poll records how it ended.
        log.info("job %s: already terminal on the cluster; its next poll records the end", job.id)
        return CancelResult(await asyncio.to_thread(_drop_request, ws, job), ALREADY_OVER)
    except ClusterJobNotFoundError:
        log.info("job %s: unknown to the cluster; recorded as cancelled", job.id)
        said = "cancelled; the cluster no longer knows the job"
    except ClusterCancelPendingError as exc:  # stopping, as asked: nothing is wrong
        log.info("job %s: cancelling (%s); asked again next cycle", job.id, exc)
        return CancelResult(job, SAVING.format(reason=exc), "adapter")
    except ClusterAuthError as exc:
        await _record_auth(ws, job, str(exc))
        return CancelResult(job, REFUSED_TOKEN, "token")
    except ClusterError as exc:
        log.warning("job %s: cancel waits for the cluster (%s); retried every cycle", job.id, exc)
        return CancelResult(job, UNREACHABLE.format(reason=exc), "cluster")
    last_look = await _last_look(ws, job.external_job_id, job.id)
    # What the stopped run had learned is kept as its adapter, marked partial, not orphaned.
    kept = {"artifact_url": partial_adapter, "artifact_partial": True} if partial_adapter else {}
    change = await asyncio.to_thread(_write, ws, lambda s: _record_cancelled(s, job, last_look, kept))
    if change.job is None:  # another writer (a poll that saw the end) recorded it first
        return CancelResult(await asyncio.to_thread(_reread, ws, job), said)
    log.info("job %s %r: %s → cancelled", job.id, job.name, job.status.value)
    return CancelResult(change.job, said)


async def _last_look(ws: Workspace, external_job_id: str, job_id: str) -> StatusReport | None:
    """The job's status after the stop, for the steps since the last poll; None when the
    cluster cannot say now (the cancel is recorded all the same)."""
    try:
        since = await asyncio.to_thread(_last_metric_step, ws, job_id)
        return await ws.backend().status(external_job_id, since)
    except (ClusterTransientError, ClusterJobNotFoundError, ClusterAuthError) as exc:
        log.info("job %s: no last look after the cancel (%s)", job_id, exc)
        return None


# What the last look after a cancel updates beside the points (the rest is the cancel's own).
_LAST_LOOK = (
    "current_step",
    "current_epoch",
    "progress",
    "current_metrics",
    "last_metric_step",
    "best_validation_loss",
    "evaluations_since_best",
    "nan_loss_step",
)


def _record_cancelled(
    session: Session, job: Job, last_look: StatusReport | None, kept: dict[str, object]
) -> Change:
    now = utcnow()
    values: dict[str, object] = dict(kept)
    points = []
    if last_look is not None:
        bookkeeping = job_store.last_metric_step(session, job.id)
        claimed = ClaimedJob(job, 0, bookkeeping, 100, 0)  # 100: no milestone after a cancel
        try:
            plan = plan_status(claimed, last_look, now=now)
        except ValueError as exc:  # an answer outside the contract: the cancel stands without it
            log.info("job %s: last look unusable (%s)", job.id, exc)
        else:
            points = plan.points
            values = {**{k: plan.values[k] for k in _LAST_LOOK if k in plan.values}, **values}
    change = finish_job(session, job, JobStatus.CANCELLED, now=now, values=values or None)
    if change.job is not None and points:
        store_metric_points(session, points)
        pack_finished(session, job.id)  # the last look's points join the run's chunks
        change.points = points
    return change


def _last_metric_step(ws: Workspace, job_id: str) -> int | None:
    with ws.db.read() as session:
        return job_store.last_metric_step(session, job_id)


def _reread(ws: Workspace, job: Job) -> Job:
    with ws.db.read() as session:
        return job_store.find_job(session, job.id, user_id=job.user_id) or job


async def _record_auth(ws: Workspace, job: Job, reason: str) -> None:
    await asyncio.to_thread(
        _write, ws, lambda s: record_auth_failure(s, job.user_id, ws.backend().name, reason)
    )


def pending_cancels(session: Session, *, user_id: str | None) -> list[tuple[Job, bool]]:
    """Jobs with a cancel request not yet carried out, each with whether it is claimed now."""
    return job_store.pending_cancels(session, user_id=user_id, now=utcnow())


def cancel_unsubmitted(session: Session, job: Job) -> Change:
    """Cancel a queued job that never left for the cluster, unless a scheduler holds it now."""
    now = utcnow()
    if not job_store.is_free_and_unsubmitted(session, job.id, now=now):
        return Change()
    return finish_job(session, job, JobStatus.CANCELLED, now=now)


def _dataset_location(ws: Workspace, dataset_id: str) -> tuple[str | None, str]:
    with ws.db.read() as session:
        row = session.get(DatasetRow, dataset_id)
        if row is None:
            raise StorageError(f"the dataset {dataset_id} of this job is gone")
        return row.storage_bucket, row.storage_path


def _drop_request(ws: Workspace, job: Job) -> Job:
    with ws.db.write() as session:
        return job_store.drop_cancel_request(session, job.id, now=utcnow()) or job


def _write(ws: Workspace, action: Callable[[Session], Change]) -> Change:
    with ws.db.write() as session:
        change: Change = action(session)
    publish(ws, [change])
    return change
