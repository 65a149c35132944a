"""Liveness (issue 10): short leases kept alive by a heartbeat while the work is in hand, and
claims in rounds, so a dead scheduler strands little and live ones share the queue."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from core.db.job_store import claim_queued
from core.db.models import JobRow, utcnow
from core.scheduler import Scheduler
from tests.core.helpers import count, queue_jobs
from tests.fakes.cluster import JobPlan


async def test_the_heartbeat_keeps_a_slow_submit_its_own(make_workspace, fake_cluster, dataset_file):
    """A's submit takes 2 s, three times its 0.6 s lease; B cycles all the while. Renewed by A's
    heartbeat, the claim never lapses, so B never submits the job a second time."""
    ws_a, ws_b = make_workspace(), make_workspace()
    queue_jobs(ws_a, dataset_file)
    fake_cluster.stall(2.0, endpoint="submit")
    slow = Scheduler(ws_a, lease=timedelta(seconds=0.6))
    other = Scheduler(ws_b)

    async def cycle_meanwhile() -> None:
        while count(ws_b, JobRow, claimed_by=slow.owner) == 0:  # once A holds the job
            await asyncio.sleep(0.02)
        while fake_cluster.submit_calls == 0:
            await other.run_once()
            await asyncio.sleep(0.1)

    report, _ = await asyncio.gather(slow.run_once(), cycle_meanwhile())

    assert report.submitted == 1
    assert fake_cluster.requests_by_endpoint["submit"] == 1


async def test_a_cycle_works_in_rounds_and_polls_each_job_once(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    jobs = queue_jobs(ws, dataset_file, count=12)
    fake_cluster.default_plan = JobPlan(total_steps=1000, steps_per_poll=1)
    scheduler = Scheduler(ws, batch_size=5)

    first = await scheduler.run_once()
    assert (first.submitted, first.polled) == (12, 12)

    before = len(fake_cluster.recent_requests)
    second = await scheduler.run_once()
    polled = Counter(path for method, path in list(fake_cluster.recent_requests)[before:] if method == "GET")
    assert second.polled == 12 and len(polled) == len(jobs) and set(polled.values()) == {1}


async def test_a_dead_scheduler_strands_one_round_not_the_queue(make_workspace, fake_cluster, dataset_file):
    ws_dead, ws_live = make_workspace(), make_workspace()
    queue_jobs(ws_dead, dataset_file, count=12)
    with ws_dead.db.write() as session:  # claims its first round, then dies
        held = claim_queued(
            session, owner="dead", user_id=None, limit=5, lease=timedelta(minutes=1), now=utcnow()
        )

    report = await Scheduler(ws_live, batch_size=5).run_once()

    assert len(held) == 5 and report.submitted == 7
