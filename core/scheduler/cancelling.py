"""Cancelling a job: record the request first, then ask the cluster, so no cancel is ever lost.

Used by the `cancel_job` service (table, monitor, CLI) and by every scheduler cycle, which retries
requests the cluster could not take yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.orm import Session

from core import job_store
from core.cluster.base import (
    ClusterAuthError,
    ClusterConflictError,
    ClusterError,
    ClusterJobNotFoundError,
)
from core.db.models import utcnow
from core.errors import InvalidRequestError, NotFoundError
from core.events import WorkAvailable
from core.job_store import guarded_update
from core.records import Job, JobStatus
from core.scheduler.publish import publish
from core.scheduler.transitions import Change, finish_job, record_auth_failure
from core.workspace import Workspace

log = logging.getLogger(__name__)


def request_cancel(ws: Workspace, *, job_id: str) -> Job:
    """Cancel a never-submitted queued job at once; otherwise record the request and return."""
    with ws.db.write() as session:
        found = job_store.lock_for_cancel(session, job_id, user_id=ws.user, now=utcnow())
        if found is None:
            raise NotFoundError(f"no job {job_id!r} (see `loradesk jobs list`)")
        change = _cancel_or_request(session, *found)
    publish(ws, [change])
    ws.events.publish(WorkAvailable())
    assert change.job is not None
    return change.job


def _cancel_or_request(session: Session, job: Job, held: bool) -> Change:
    now = utcnow()
    if job.status.is_terminal:
        raise InvalidRequestError(
            f"job {job.name!r} is already {job.status.value}; only queued, initializing or "
            "running jobs can be cancelled"
        )
    never_submitted = job.status is JobStatus.QUEUED and job.external_job_id is None
    if never_submitted and not held:
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
    return job_store.pending_cancels(session, user_id=user_id, now=utcnow())


def cancel_unsubmitted(session: Session, job: Job) -> Change:
    """Cancel a queued job that never reached the cluster, unless a scheduler holds it now."""
    now = utcnow()
    if not job_store.is_free_and_unsubmitted(session, job.id, now=now):
        return Change()
    return finish_job(session, job, JobStatus.CANCELLED, now=now)


def _drop_request(ws: Workspace, job: Job) -> Job:
    with ws.db.write() as session:
        return job_store.drop_cancel_request(session, job.id, now=utcnow()) or job


def _write(ws: Workspace, action: Callable[[Session], Change]) -> Change:
    with ws.db.write() as session:
        change: Change = action(session)
    publish(ws, [change])
    return change
