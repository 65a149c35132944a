"""Cancelling (SPEC §5): from the queue, while running, after the end, with the cluster away."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.db.job_store import claim_queued
from core.db.models import utcnow
from core.errors import InvalidRequestError
from core.jobs.service import cancel_job, cancel_job_explained, get_job
from core.records import JobStatus
from core.scheduler import Scheduler
from core.scheduler.worker import CycleReport
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


# --- zero orphans: a submit that may have reached the cluster is never cancelled only here ------


async def _submitted_then_died(ws, fake_cluster, dataset_file, *, lease: timedelta):
    """A scheduler claims a queued job, its submit reaches the cluster, and it dies before
    recording the answer: the cluster runs a job the database does not name."""
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=1000, steps_per_poll=1))
    dead = Scheduler(ws)
    with ws.db.write() as session:
        (claimed,) = claim_queued(session, owner=dead.owner, user_id=None, limit=1, lease=lease, now=utcnow())
    sent = await dead._submit(claimed)
    assert get_job(ws, job_id=job.id).job.external_job_id is None
    return job, sent.external_job_id


async def test_cancel_after_a_dead_submit_learns_the_cluster_id_and_cancels_there(
    make_workspace, fake_cluster, dataset_file
):
    ws = make_workspace()
    job, external_id = await _submitted_then_died(ws, fake_cluster, dataset_file, lease=timedelta(seconds=-1))

    result = await cancel_job_explained(ws, job_id=job.id)

    assert result.said == f"cancelled on the cluster (cluster job {external_id})"
    assert result.job.status is JobStatus.CANCELLED and result.job.external_job_id == external_id
    assert len(fake_cluster.jobs) == 1 and fake_cluster.jobs[external_id].status == "cancelled"
    assert notification_types(ws, job.id) == ["job_started", "job_cancelled"]
    assert len(get_job(ws, job_id=job.id).cost_records) == 1


async def test_cancel_during_a_dead_schedulers_lease_is_finished_by_a_live_one(
    make_workspace, fake_cluster, dataset_file
):
    """The dead scheduler's claim is still live when the person cancels: the CLI says a submit is
    under way; once the claim lapses a scheduler learns the id and cancels the cluster job."""
    ws = make_workspace()
    job, external_id = await _submitted_then_died(ws, fake_cluster, dataset_file, lease=timedelta(seconds=1))

    result = await cancel_job_explained(ws, job_id=job.id)
    assert result.said.startswith("cancelling: a scheduler is submitting it right now")
    assert result.job.is_cancelling and fake_cluster.jobs[external_id].status != "cancelled"

    await asyncio.sleep(1.1)  # the lease runs out
    await Scheduler(ws).run_once()

    detail = get_job(ws, job_id=job.id)
    assert detail.job.status is JobStatus.CANCELLED and detail.job.external_job_id == external_id
    assert fake_cluster.jobs[external_id].status == "cancelled" and len(fake_cluster.jobs) == 1


async def test_cancel_after_a_submit_that_timed_out_but_arrived(make_workspace, fake_cluster, dataset_file):
    """The cluster took the job but its answer came too late: to the scheduler a transient
    failure, the job back in the queue. Cancelling it must still stop the cluster job."""
    ws = make_workspace(read_timeout=0.5)
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=1000, steps_per_poll=1))
    fake_cluster.hold_submit_answers(2.0)
    await Scheduler(ws).run_once()
    queued = get_job(ws, job_id=job.id).job
    assert queued.status is JobStatus.QUEUED and queued.external_job_id is None
    (external_id,) = fake_cluster.jobs

    result = await cancel_job_explained(ws, job_id=job.id)

    assert result.said == f"cancelled on the cluster (cluster job {external_id})"
    assert fake_cluster.jobs[external_id].status == "cancelled"


async def test_a_queued_job_that_never_left_is_cancelled_at_once(make_workspace, fake_cluster, dataset_file):
    """Also one whose only submit the cluster refused (a bad token): it never got there."""
    ws = make_workspace()
    never, refused = queue_jobs(ws, dataset_file, count=2)
    fake_cluster.revoke_token()
    with ws.db.write() as session:  # only `refused` is claimed and sent, and answered 401
        (claimed,) = claim_queued(
            session, owner="s", user_id=None, limit=1, lease=timedelta(minutes=1), now=utcnow()
        )
    scheduler = Scheduler(ws)
    scheduler.owner = "s"
    outcome = await asyncio.gather(scheduler._submit(claimed), return_exceptions=True)
    await scheduler._record_each([claimed], outcome, scheduler._record_submit, CycleReport())

    for job in (never, refused):
        result = await cancel_job_explained(ws, job_id=job.id)
        assert (result.job.status, result.said) == (
            JobStatus.CANCELLED,
            "cancelled; it had not reached the cluster",
        )
    assert (
        fake_cluster.requests_by_endpoint["submit"] == 1 and fake_cluster.requests_by_endpoint["cancel"] == 0
    )


async def test_steps_made_after_the_last_poll_are_stored_when_a_job_is_cancelled(
    make_workspace, fake_cluster, dataset_file
):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=100, steps_per_poll=0))
    scheduler = Scheduler(ws)
    await scheduler.run_once()  # submitted
    external_id = get_job(ws, job_id=job.id).job.external_job_id
    fake_cluster.advance(external_id, 10)
    await scheduler.run_once()  # polled at step 10
    fake_cluster.advance(external_id, 7)  # trained on after the last poll

    cancelled = await cancel_job(ws, job_id=job.id)

    detail = get_job(ws, job_id=job.id)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.current_step == 17
    assert [p.step for p in detail.metrics] == list(range(1, 18))
    assert notification_types(ws, job.id).count("job_cancelled") == 1


async def test_a_cancel_that_loses_the_race_to_a_poll_returns_the_job_as_recorded(
    make_workspace, fake_cluster, dataset_file, monkeypatch
):
    """A poll that saw the end records the cancel first: the caller gets the cancelled job,
    not the stale one that still looks cancelling (which read as "could not be reached")."""
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=100, steps_per_poll=5))
    scheduler = Scheduler(ws)
    await run_cycles(scheduler, ws, job.id, until="running")
    backend = ws.backend()
    cancel_on_cluster = backend.cancel

    async def cancel_then_poll(external_id):
        adapter = await cancel_on_cluster(external_id)
        await scheduler.run_once()  # the poll sees "cancelled" and records it
        return adapter

    monkeypatch.setattr(backend, "cancel", cancel_then_poll)
    result = await cancel_job_explained(ws, job_id=job.id)
    assert result.job.status is JobStatus.CANCELLED and not result.waiting
    assert notification_types(ws, job.id).count("job_cancelled") == 1
