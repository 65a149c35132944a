"""The scheduler survives any cluster answer (issue 23, items 6–8): a loopback cluster that
drips its answers, sends giant or deep ones, or statuses and steps outside the contract."""

from __future__ import annotations

import asyncio
import json

import pytest

from core.cluster.bounds import MAX_POINTS
from core.cluster.http import HttpCluster
from core.jobs.service import get_job
from core.records import JobStatus
from core.scheduler import Scheduler, worker
from tests.conftest import TOKEN
from tests.core.helpers import MetricPointRow, count, queue_jobs, run_cycles, set_job_columns, stored_points
from tests.fakes.cluster import JobPlan


async def _submitted(ws, fake_cluster, dataset_file, n=1, plan=None, **scheduler_options):
    jobs = queue_jobs(ws, dataset_file, count=n)
    for job in jobs:
        fake_cluster.plan_job(job.id, plan or JobPlan(total_steps=1000, steps_per_poll=5))
    scheduler = Scheduler(ws, **scheduler_options)
    await scheduler.run_once()  # submits them and takes the first answers
    externals = [get_job(ws, job_id=job.id).job.external_job_id for job in jobs]
    return scheduler, jobs, externals


async def test_a_giant_answer_is_taken_ten_thousand_points_at_a_time(
    make_workspace, fake_cluster, dataset_file
):
    """25,000 points in one answer, the run already over: the first 10,000 in step order are
    stored, the rest come with the next polls (since_step), and only then does the job end."""
    ws = make_workspace()
    plan = JobPlan(total_steps=25_000, steps_per_poll=25_000)
    scheduler, (job,), (external,) = await _submitted(ws, fake_cluster, dataset_file, plan=plan)
    seen = []
    for _ in range(3):
        detail = get_job(ws, job_id=job.id)
        seen.append((detail.job.status, stored_points(ws, job.id)))
        if detail.job.status is JobStatus.COMPLETED:
            break
        await scheduler.run_once()
    assert seen[:2] == [(JobStatus.RUNNING, MAX_POINTS), (JobStatus.RUNNING, 2 * MAX_POINTS)]
    detail = get_job(ws, job_id=job.id)
    assert detail.job.status is JobStatus.COMPLETED
    assert [p.step for p in detail.metrics] == list(range(1, 25_001))
    polls = [path for method, path in fake_cluster.recent_requests if f"/status/{external}" in path]
    assert any("since_step=10000" in p for p in polls) and any("since_step=20000" in p for p in polls)


BREACHES = {
    "exploded": {"status": "exploded"},
    "trailing space": {"status": "completed "},
    "negative step": {"status": "running", "current_step": -5, "total_steps": 100},
    "negative total": {"status": "completed", "current_step": 3, "total_steps": -1},
    "negative point": {"status": "running", "metrics_history": [{"step": -5, "training_loss": 1.0}]},
}


@pytest.mark.parametrize("answer", [*BREACHES, "deep", "17 MiB"])
async def test_a_malformed_answer_is_said_on_the_job_backed_off_and_fails_it_at_the_limit(
    make_workspace, fake_cluster, dataset_file, answer
):
    ws = make_workspace()
    scheduler, (job,), _ = await _submitted(ws, fake_cluster, dataset_file, max_submit_attempts=3)
    if answer == "deep":
        fake_cluster.answer_with(b'{"status": "running", "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")
    elif answer == "17 MiB":
        size = 17 * 1024 * 1024
        fake_cluster.answer_with(lambda: iter([b" " * (1024 * 1024)] * 17), length=size)
    else:
        fake_cluster.answer_with(json.dumps(BREACHES[answer]).encode())
    before = get_job(ws, job_id=job.id).job
    await scheduler.run_once()
    first = get_job(ws, job_id=job.id).job
    assert first.status == before.status and first.current_step == before.current_step
    assert "malformed answer from the cluster" in (first.error_message or "")
    assert "answer 1 of 3 allowed" in first.error_message
    # Backing off: the next cycle leaves the job alone (5 s, doubling, before it is polled again).
    calls = fake_cluster.status_calls + fake_cluster.requests_by_endpoint["status"]
    await scheduler.run_once()
    assert fake_cluster.status_calls + fake_cluster.requests_by_endpoint["status"] == calls
    scheduler.backoff_base = 0  # no more waiting: the limit is what is tried now
    set_job_columns(ws, job.id, next_attempt_at=None)
    ended = await run_cycles(scheduler, ws, job.id, until="failed", limit=5)
    assert ended.job.error_message.startswith("3 malformed answers in a row from the cluster; the last: ")
    assert ended.job.current_step >= 0 and ended.job.status is JobStatus.FAILED
    # Its cluster job is stopped, not left running unwatched and unbilled.
    assert fake_cluster.jobs[ended.job.external_job_id].status == "cancelled"


async def test_a_good_answer_after_a_malformed_one_clears_the_complaint(
    make_workspace, fake_cluster, dataset_file
):
    ws = make_workspace()
    scheduler, (job,), _ = await _submitted(ws, fake_cluster, dataset_file, backoff_base=0)
    fake_cluster.answer_with(b'{"status": "exploded"}', times=1)
    await scheduler.run_once()
    assert "exploded" in get_job(ws, job_id=job.id).job.error_message
    await scheduler.run_once()
    job_now = get_job(ws, job_id=job.id).job
    assert job_now.error_message is None and job_now.status is JobStatus.RUNNING


async def test_a_dripping_answer_holds_up_no_other_job(make_workspace, fake_cluster, dataset_file):
    """One job's status answer drips 1 byte/s: each cycle still polls and records the others,
    and the dripping poll ends at the request's total deadline, changing nothing."""
    ws = make_workspace(poll_interval=1)
    ws.use_backend(HttpCluster(fake_cluster.url, TOKEN, deadline=4, connect_timeout=2))
    scheduler, (slow, fine), (slow_external, _) = await _submitted(ws, fake_cluster, dataset_file, n=2)
    fake_cluster.drip(1.0, job=slow_external)
    steps = [get_job(ws, job_id=fine.id).job.current_step]
    for _ in range(3):
        await scheduler.run_once()
        steps.append(get_job(ws, job_id=fine.id).job.current_step)
    assert steps == sorted(set(steps)) and len(steps) == 4  # every cycle moved the other job on
    slow_before = get_job(ws, job_id=slow.id).job
    while scheduler._late:  # the drip's poll, recorded on its own at its deadline
        await asyncio.wait(scheduler._late)
    slow_after = get_job(ws, job_id=slow.id).job
    assert slow_after.current_step == slow_before.current_step and slow_after.error_message is None
    for _ in range(100):  # the client hung up on the drip: the server meets it at its next byte
        if fake_cluster.cut_answers:
            break
        await asyncio.sleep(0.1)
    assert fake_cluster.cut_answers == 1
    fake_cluster.clear_faults()
    await scheduler.run_once()
    assert get_job(ws, job_id=slow.id).job.current_step > slow_before.current_step


async def test_stop_cuts_a_dripping_poll_short(make_workspace, fake_cluster, dataset_file):
    """A stop while a poll drips (its deadline 30 s away) ends the scheduler at once the grace
    is over; the job is left as it was, for the next scheduler."""
    ws = make_workspace(poll_interval=1)
    scheduler, (job,), _ = await _submitted(ws, fake_cluster, dataset_file)
    ws.use_backend(HttpCluster(fake_cluster.url, TOKEN, deadline=30, connect_timeout=2))
    fake_cluster.drip(1.0)
    running = asyncio.create_task(scheduler.run_forever())
    while fake_cluster.requests_by_endpoint["status"] < 2:
        await asyncio.sleep(0.05)
    scheduler.stop()
    await asyncio.wait_for(running, timeout=10)  # a guard only: the deadline alone is 30 s
    assert running.done() and not scheduler._late
    assert get_job(ws, job_id=job.id).job.status in (JobStatus.INITIALIZING, JobStatus.RUNNING)


async def test_the_points_in_hand_are_bounded_across_a_round(
    make_workspace, fake_cluster, dataset_file, monkeypatch
):
    """Many jobs answering many points at once: no more than POINTS_IN_HAND are held unrecorded;
    each job keeps its first points and the next polls bring the rest, none lost."""
    monkeypatch.setattr(worker, "POINTS_IN_HAND", 150)
    ws = make_workspace()
    plan = JobPlan(total_steps=100, steps_per_poll=0)
    scheduler, jobs, externals = await _submitted(ws, fake_cluster, dataset_file, n=3, plan=plan)
    for external in externals:
        fake_cluster.advance(external, 100)  # each job's next answer: all its 100 points, and the end
    stored = []
    for _ in range(4):
        await scheduler.run_once()
        stored.append(sum(count(ws, MetricPointRow, job_id=job.id) for job in jobs))
    assert stored[0] == 150 and stored[1:3] == [300, 300]
    for job in jobs:
        detail = get_job(ws, job_id=job.id)
        assert detail.job.status is JobStatus.COMPLETED
        assert [p.step for p in detail.metrics] == list(range(1, 101))
    assert scheduler._points_left == 150  # every point given back once recorded
