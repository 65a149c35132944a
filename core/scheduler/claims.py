"""Claiming work: one atomic statement per batch, with an owner and an expiry.

On PostgreSQL the candidates are chosen `FOR UPDATE SKIP LOCKED`, so racing schedulers split the
work instead of queueing on each other's locks; on SQLite the write transaction starts with
`BEGIN IMMEDIATE` (see core.db.engine), which serialises claimers. A scheduler that dies keeps its
claims only until they expire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, or_, select, update
from sqlalchemy.orm import Session

from core.db.convert import to_job
from core.db.models import DatasetRow, JobRow
from core.records import ACTIVE_STATUSES, Job, JobStatus


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job this scheduler holds, with the bookkeeping the cycle needs beside the public record."""

    job: Job
    submit_attempts: int
    last_metric_step: int | None
    progress_notified: int
    not_found_polls: int
    dataset_bucket: str | None = None
    dataset_path: str | None = None


def _unclaimed(now: datetime) -> ColumnElement[bool]:
    return or_(JobRow.claimed_by.is_(None), JobRow.claim_expires_at < now)


def claim_queued(
    session: Session, *, owner: str, user_id: str | None, limit: int, lease: timedelta, now: datetime
) -> list[ClaimedJob]:
    """Claim up to `limit` queued jobs that are due (back-off over) and not cancelled."""
    candidates = (
        select(JobRow.id)
        .where(
            JobRow.status == JobStatus.QUEUED.value,
            JobRow.cancel_requested_at.is_(None),
            or_(JobRow.next_attempt_at.is_(None), JobRow.next_attempt_at <= now),
            _unclaimed(now),
        )
        .order_by(JobRow.created_at)
        .limit(limit)
    )
    claimed = _claim(session, candidates, owner=owner, user_id=user_id, lease=lease, now=now)
    if not claimed:
        return []
    datasets = {
        row.id: row
        for row in session.scalars(
            select(DatasetRow).where(DatasetRow.id.in_({c.job.dataset_id for c in claimed}))
        )
    }
    return [
        ClaimedJob(
            job=c.job,
            submit_attempts=c.submit_attempts,
            last_metric_step=c.last_metric_step,
            progress_notified=c.progress_notified,
            not_found_polls=c.not_found_polls,
            dataset_bucket=datasets[c.job.dataset_id].storage_bucket,
            dataset_path=datasets[c.job.dataset_id].storage_path,
        )
        for c in claimed
    ]


def claim_active(
    session: Session,
    *,
    owner: str,
    user_id: str | None,
    limit: int,
    lease: timedelta,
    now: datetime,
    job_id: str | None = None,
) -> list[ClaimedJob]:
    """Claim up to `limit` initializing or running jobs to poll (only `job_id`, when given: the
    job a user is watching, polled between cycles)."""
    candidates = (
        select(JobRow.id)
        .where(
            JobRow.status.in_([s.value for s in ACTIVE_STATUSES]),
            JobRow.external_job_id.is_not(None),
            _unclaimed(now),
        )
        .order_by(JobRow.updated_at)
        .limit(limit)
    )
    if job_id is not None:
        candidates = candidates.where(JobRow.id == job_id)
    return _claim(session, candidates, owner=owner, user_id=user_id, lease=lease, now=now)


def _claim(
    session: Session,
    candidates: Select[str],
    *,
    owner: str,
    user_id: str | None,
    lease: timedelta,
    now: datetime,
) -> list[ClaimedJob]:
    if user_id is not None:
        candidates = candidates.where(JobRow.user_id == user_id)
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    stmt = (
        update(JobRow)
        .where(JobRow.id.in_(candidates.scalar_subquery()), _unclaimed(now))
        # updated_at stays: a claim is bookkeeping, not a change a viewer needs to see.
        .values(claimed_by=owner, claim_expires_at=now + lease, updated_at=JobRow.updated_at)
        .returning(*JobRow.__table__.columns)
        .execution_options(synchronize_session=False)
    )
    return [
        ClaimedJob(
            job=to_job(row),
            submit_attempts=row.submit_attempts,
            last_metric_step=row.last_metric_step,
            progress_notified=row.progress_notified,
            not_found_polls=row.not_found_polls,
        )
        for row in session.execute(stmt)
    ]
