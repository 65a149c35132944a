"""Cancelling a job: record the request first, then ask the cluster, so no cancel is ever lost.

Used by the `cancel_job` service (table, monitor, CLI) and by every scheduler cycle, which retries
requests the cluster could not take yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core.cluster.base import (
    ClusterAuthError,
    ClusterConflictError,
    ClusterError,
    ClusterJobNotFoundError,
)
from core.db.convert import to_job
from core.db.models import JobRow, utcnow
from core.errors import InvalidRequestError, NotFoundError
from core.events import WorkAvailable
from core.records import TERMINAL_STATUSES, Job, JobStatus
from core.scheduler.publish import publish
from core.scheduler.transitions import Change, finish_job, guarded_update, record_auth_failure
from core.workspace import Workspace

log = logging.getLogger(__name__)


def request_cancel(ws: Workspace, *, job_id: str) -> Job:
    """Cancel a never-submitted queued job at once; otherwise record the request and return."""
    with ws.db.write() as session:
        row = session.scalars(select(JobRow).where(JobRow.id == job_id).with_for_update()).first()
        if row is None or row.user_id != ws.user:
            raise NotFoundError(f"no job {job_id!r} (see `loradesk jobs list`)")
        change = _cancel_or_request(session, row)
    publish(ws, [change])
    ws.events.publish(WorkAvailable())
    assert change.job is not None
    return change.job


def _cancel_or_request(session: Session, row: JobRow) -> Change:
    now = utcnow()
    job = to_job(row)
    if job.status.is_terminal:
        raise InvalidRequestError(
            f"job {job.name!r} is already {job.status.value}; only queued, initializing or "
            "running jobs can be cancelled"
        )
    never_submitted = job.status is JobStatus.QUEUED and job.external_job_id is None
    unclaimed = row.claimed_by is None or (row.claim_expires_at is not None and row.claim_expires_at < now)
    if never_submitted and unclaimed:
        return finish_job(session, job, JobStatus.CANCELLED, now=now)
    # A scheduler may be submitting it right now: it will see the request when it records.
    return Change(
        job=guarded_update(session, job.id, {"cancel_requested_at": job.cancel_requested_at or now}, now=now)
    )


async def attempt_cancel(ws: Workspace, job: Job) -> Job:
    """Ask the cluster to cancel a submitted job; on success record the end, else keep the request."""
    assert job.external_job_id is not None
    try:
        await ws.backend().cancel(job.external_job_id)
    except ClusterConflictError:
        # Already over on the cluster: the next poll records how it ended.
        log.info("job %s: already terminal on the cluster; its next poll records the end", job.id)
        return await asyncio.to_thread(_drop_request, ws, job)
    except ClusterJobNotFoundError:
        log.info("job %s: unknown to the cluster; recorded as cancelled", job.id)
    except ClusterAuthError as exc:
        reason = str(exc)
        await asyncio.to_thread(
            _write, ws, lambda s: record_auth_failure(s, job.user_id, ws.backend().name, reason)
        )
        return job
    except ClusterError as exc:
        log.warning("job %s: cancel waits for the cluster (%s); retried every cycle", job.id, exc)
        return job
    change = await asyncio.to_thread(
        _write, ws, lambda s: finish_job(s, job, JobStatus.CANCELLED, now=utcnow())
    )
    if change.job is not None:
        log.info("job %s %r: %s → cancelled", job.id, job.name, job.status.value)
    return change.job or job


def pending_cancels(session: Session, *, user_id: str | None) -> list[tuple[Job, bool]]:
    """Jobs with a cancel request not yet carried out, each with whether it is claimed now."""
    now = utcnow()
    query = select(JobRow).where(
        JobRow.cancel_requested_at.is_not(None),
        JobRow.status.not_in([s.value for s in TERMINAL_STATUSES]),
    )
    if user_id is not None:
        query = query.where(JobRow.user_id == user_id)
    return [
        (
            to_job(row),
            row.claimed_by is not None and row.claim_expires_at is not None and row.claim_expires_at >= now,
        )
        for row in session.scalars(query)
    ]


def cancel_unsubmitted(session: Session, job: Job) -> Change:
    """Cancel a queued job that never reached the cluster, unless a scheduler holds it now."""
    now = utcnow()
    held = session.execute(
        select(JobRow.id).where(
            JobRow.id == job.id,
            JobRow.external_job_id.is_(None),
            or_(JobRow.claimed_by.is_(None), JobRow.claim_expires_at < now),
        )
    ).first()
    if held is None:
        return Change()
    return finish_job(session, job, JobStatus.CANCELLED, now=now)


def _drop_request(ws: Workspace, job: Job) -> Job:
    with ws.db.write() as session:
        session.execute(
            update(JobRow)
            .where(JobRow.id == job.id)
            .values(cancel_requested_at=None, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        row = session.get(JobRow, job.id)
        return to_job(row) if row is not None else job


def _write(ws: Workspace, action: Callable[[Session], Change]) -> Change:
    with ws.db.write() as session:
        change: Change = action(session)
    publish(ws, [change])
    return change
