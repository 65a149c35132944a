"""Claims, leases and back-off are judged by the database's clock, not the scheduler's (issue 23,
item 11): a scheduler whose clock is ten minutes off neither waits on an expired claim nor takes
a live one, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.db.clock import database_time
from core.db.models import utcnow
from core.jobs.service import get_job
from core.records import JobStatus
from core.scheduler import Scheduler, cancelling, worker
from tests.core.helpers import queue_jobs, set_job_columns

SKEW = timedelta(minutes=10)


def _skew(monkeypatch: pytest.MonkeyPatch, by: timedelta) -> None:
    """This process's scheduler believes it is `by` later (or earlier) than it is."""
    monkeypatch.setattr(worker, "utcnow", lambda: utcnow() + by)
    monkeypatch.setattr(cancelling, "utcnow", lambda: utcnow() + by)


def _db_now(ws):
    with ws.db.read() as session:
        return database_time(session)


async def test_a_scheduler_whose_clock_is_behind_takes_an_expired_claim(
    make_workspace, fake_cluster, dataset_file, monkeypatch
):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    # A scheduler that died holding the job; its claim ran out a second ago, by the database.
    set_job_columns(ws, job.id, claimed_by="dead:1:x", claim_expires_at=_db_now(ws) - timedelta(seconds=1))
    _skew(monkeypatch, -SKEW)
    await Scheduler(ws).run_once()
    assert get_job(ws, job_id=job.id).job.status is not JobStatus.QUEUED
    assert fake_cluster.submit_calls == 1


async def test_a_scheduler_whose_clock_is_ahead_leaves_live_claims_and_back_off_alone(
    make_workspace, fake_cluster, dataset_file, monkeypatch
):
    ws = make_workspace()
    held, backing_off = queue_jobs(ws, dataset_file, count=2)
    now = _db_now(ws)
    set_job_columns(ws, held.id, claimed_by="alive:1:x", claim_expires_at=now + timedelta(minutes=1))
    set_job_columns(ws, backing_off.id, next_attempt_at=now + timedelta(minutes=1))
    _skew(monkeypatch, SKEW)
    scheduler = Scheduler(ws)
    await scheduler.run_once()
    assert fake_cluster.submit_calls == 0
    assert get_job(ws, job_id=held.id).job.status is JobStatus.QUEUED
    assert get_job(ws, job_id=backing_off.id).job.status is JobStatus.QUEUED
    # Its own claims it writes in the database's time too: a lease of 15 s from the database's now.
    set_job_columns(ws, held.id, claimed_by=None, claim_expires_at=None)
    set_job_columns(ws, backing_off.id, next_attempt_at=None)
    await scheduler.run_once()
    assert fake_cluster.submit_calls == 2
