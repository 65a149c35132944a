"""Cancelling (SPEC §5): from the queue, while running, after the end, with the cluster away."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.db.models import utcnow
from core.errors import InvalidRequestError
from core.job_store import claim_queued
from core.jobs import cancel_job, get_job
from core.records import JobStatus
from core.scheduler import Scheduler
from tests.core.helpers import notification_types, queue_jobs, run_cycles
from tests.fakes.cluster import JobPlan


async def test_queued_job_is_cancelled_without_calling_the_cluster(
    make_workspace, fake_cluster, dataset_file
):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    cancelled = await cancel_job(ws, job_id=job.id)
    assert cancelled.status is JobStatus.CANCELLED
    assert cancelled.final_cost == 0
    assert fake_cluster.requests_by_endpoint["cancel"] == 0
    detail = get_job(ws, job_id=job.id)
    assert len(detail.cost_records) == 1
    assert notification_types(ws, job.id) == ["job_cancelled"]
    await Scheduler(ws).run_once()
    assert fake_cluster.submit_calls == 0


async def test_running_job_is_cancelled_on_the_cluster(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=100, steps_per_poll=10))
    scheduler = Scheduler(ws)
    await run_cycles(scheduler, ws, job.id, until="running")
    running = get_job(ws, job_id=job.id).job

    cancelled = await cancel_job(ws, job_id=job.id)
    assert cancelled.status is JobStatus.CANCELLED
    assert fake_cluster.jobs[running.external_job_id].status == "cancelled"
    assert cancelled.final_cost == pytest.approx(cancelled.current_cost)
    assert cancelled.completed_at is not None
    assert len(get_job(ws, job_id=job.id).cost_records) == 1
    assert notification_types(ws, job.id).count("job_cancelled") == 1


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
async def test_terminal_job_cannot_be_cancelled(make_workspace, fake_cluster, dataset_file, status):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    if status == "cancelled":
        await cancel_job(ws, job_id=job.id)
    else:
        fake_cluster.plan_job(job.id, JobPlan(total_steps=10, outcome=status))
        await run_cycles(Scheduler(ws), ws, job.id, until=status)
    with pytest.raises(InvalidRequestError, match=f"already {status}"):
        await cancel_job(ws, job_id=job.id)


async def test_cancel_while_the_cluster_is_unreachable_is_kept_and_retried(
    make_workspace, fake_cluster, dataset_file
):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=100, steps_per_poll=5))
    scheduler = Scheduler(ws)
    await run_cycles(scheduler, ws, job.id, until="running")
    fake_cluster.fail_with(503, times=3, endpoint="cancel")

    pending = await cancel_job(ws, job_id=job.id)
    assert pending.status is JobStatus.RUNNING and pending.is_cancelling
    await scheduler.run_once()  # 503 again: still waiting
    assert get_job(ws, job_id=job.id).job.is_cancelling
    await scheduler.run_once()  # 503 a third time
    detail = await run_cycles(scheduler, ws, job.id, until="cancelled", limit=1)
    assert detail.job.cancel_requested_at is not None
    assert fake_cluster.requests_by_endpoint["cancel"] == 4
    assert notification_types(ws, job.id).count("job_cancelled") == 1


async def test_cancel_of_a_job_being_submitted_is_not_lost(make_workspace, fake_cluster, dataset_file):
    """A scheduler holds the queued job (mid-submit) when the user cancels: the cancel waits for
    the submission to be recorded, then reaches the cluster."""
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    scheduler = Scheduler(ws)
    with ws.db.write() as session:
        (claimed,) = claim_queued(
            session, owner=scheduler.owner, user_id=None, limit=1, lease=timedelta(minutes=1), now=utcnow()
        )

    pending = await cancel_job(ws, job_id=job.id)
    assert pending.status is JobStatus.QUEUED and pending.is_cancelling

    result = await scheduler._submit(claimed)  # the submission that was in flight
    from core.scheduler import transitions

    with ws.db.write() as session:
        transitions.record_submitted(
            session, claimed, result.external_job_id, result.status, owner=scheduler.owner, now=utcnow()
        )
    detail = await run_cycles(scheduler, ws, job.id, until="cancelled", limit=2)
    assert fake_cluster.jobs[detail.job.external_job_id].status == "cancelled"


async def test_cancel_of_a_job_already_over_on_the_cluster(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=30, steps_per_poll=10))
    scheduler = Scheduler(ws)
    await run_cycles(scheduler, ws, job.id, until="running")
    external = get_job(ws, job_id=job.id).job.external_job_id
    fake_cluster.advance(external, 100)  # finished on the cluster; we have not polled yet

    result = await cancel_job(ws, job_id=job.id)  # the cluster answers 409
    assert result.status is JobStatus.RUNNING and not result.is_cancelling
    detail = await run_cycles(scheduler, ws, job.id, until="completed", limit=1)
    assert notification_types(ws, job.id).count("job_completed") == 1
    assert len(detail.cost_records) == 1


async def test_cancel_with_a_revoked_token_waits_and_notifies_once(
    make_workspace, fake_cluster, dataset_file
):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=100, steps_per_poll=5))
    scheduler = Scheduler(ws)
    await run_cycles(scheduler, ws, job.id, until="running")
    fake_cluster.revoke_token()

    pending = await cancel_job(ws, job_id=job.id)
    await scheduler.run_once()
    assert pending.is_cancelling and get_job(ws, job_id=job.id).job.is_cancelling
    assert notification_types(ws).count("cluster_auth_failed") == 1

    fake_cluster.set_token("test-token")  # the user fixes the token: the kept request goes through
    await run_cycles(scheduler, ws, job.id, until="cancelled", limit=1)
