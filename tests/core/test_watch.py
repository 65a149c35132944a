"""The watched job (SPEC §2): the job on screen is polled every second between scheduler cycles,
through the same claim and guarded records as a cycle, so nothing is recorded twice."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

from core.db.job_store import claim_active
from core.db.models import utcnow
from core.events import MetricsAppended
from core.jobs.service import get_job
from core.records import JobStatus
from core.scheduler import Scheduler
from tests.core.helpers import (
    MetricPointRow,
    count,
    notification_types,
    queue_jobs,
    set_job_columns,
)
from tests.fakes.cluster import JobPlan


def published_steps(ws) -> list[int]:
    """Every step published in a MetricsAppended event, in order, repeats included."""
    steps: list[int] = []

    def record(event: object) -> None:
        if isinstance(event, MetricsAppended):
            steps.extend(point.step for point in event.points)

    ws.events.subscribe(record)
    return steps


async def test_the_watched_job_is_polled_between_cycles(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=8, steps_per_poll=0))  # moves on advance() only
    scheduler = Scheduler(ws)
    await scheduler.run_once()  # submitted, and polled once: no points yet
    external = get_job(ws, job_id=job.id).job.external_job_id
    steps = published_steps(ws)
    scheduler.watch(job.id)

    for step in range(1, 9):
        fake_cluster.advance(external, 1)
        report = await scheduler.poll_watched()
        assert report.polled == 1
        assert steps == list(range(1, step + 1))  # this poll's point is published at once

    detail = get_job(ws, job_id=job.id)
    assert detail.job.status is JobStatus.COMPLETED
    assert [p.step for p in detail.metrics] == list(range(1, 9))
    assert notification_types(ws, job.id) == [
        "job_started",
        "job_progress",
        "job_progress",
        "job_progress",
        "job_completed",
    ]
    calls = fake_cluster.status_calls
    assert (await scheduler.poll_watched()).polled == 0  # it ended: no longer watched
    assert fake_cluster.status_calls == calls


async def test_a_watched_job_another_scheduler_holds_is_skipped(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=10, steps_per_poll=1))
    watcher = Scheduler(ws)
    await watcher.run_once()
    with ws.db.write() as session:
        held = claim_active(
            session, owner="other-scheduler", user_id=None, limit=1, lease=timedelta(minutes=2), now=utcnow()
        )
    assert [c.job.id for c in held] == [job.id]
    calls = fake_cluster.status_calls
    watcher.watch(job.id)

    assert (await watcher.poll_watched()).polled == 0
    assert fake_cluster.status_calls == calls  # the cluster was not even asked

    set_job_columns(ws, job.id, claim_expires_at=utcnow() - timedelta(seconds=1))  # the other one died
    assert (await watcher.poll_watched()).polled == 1
    assert fake_cluster.status_calls == calls + 1


async def test_watch_polls_racing_cycles_record_every_point_once(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=40, steps_per_poll=1))
    scheduler, other = Scheduler(ws), Scheduler(make_workspace())
    await scheduler.run_once()
    steps = published_steps(ws)
    scheduler.watch(job.id)
    other.watch(job.id)

    for _ in range(60):
        await asyncio.gather(scheduler.run_once(), scheduler.poll_watched(), other.poll_watched())
        if get_job(ws, job_id=job.id).job.status.is_terminal:
            break

    assert get_job(ws, job_id=job.id).job.status is JobStatus.COMPLETED
    assert count(ws, MetricPointRow, job_id=job.id) == 40
    # This process's scheduler published each of the points it recorded once, none the other's.
    assert len(steps) == len(set(steps)) and steps == sorted(steps)
    assert notification_types(ws, job.id).count("job_completed") == 1
    assert notification_types(ws, job.id).count("job_progress") == 3


async def test_a_paused_scheduler_does_not_poll_the_watched_job(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    scheduler = Scheduler(ws)
    await scheduler.run_once()
    calls = fake_cluster.status_calls
    scheduler.watch(job.id)
    scheduler.pause()
    assert (await scheduler.poll_watched()).polled == 0
    assert fake_cluster.status_calls == calls


async def test_the_running_scheduler_polls_the_watched_job_without_cycles(
    make_workspace, fake_cluster, dataset_file
):
    # A poll interval of an hour: after the first cycle, every point must come from the watch.
    ws = make_workspace(poll_interval=3600)
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=100, steps_per_poll=1))
    scheduler = Scheduler(ws)
    steps = published_steps(ws)
    four_points = threading.Event()
    ws.events.subscribe(lambda _event: four_points.set() if len(steps) >= 4 else None)

    async def run_then_close() -> None:  # the cluster client belongs to this thread's loop
        await scheduler.run_forever()
        await ws.aclose()

    runner = threading.Thread(target=asyncio.run, args=(run_then_close(),))
    runner.start()
    try:
        submitted = await asyncio.to_thread(lambda: _wait_for(lambda: fake_cluster.submit_calls == 1))
        assert submitted
        scheduler.watch(job.id)
        assert await asyncio.to_thread(four_points.wait, 60)
    finally:
        scheduler.stop()
        await asyncio.to_thread(runner.join, 30)
    assert not runner.is_alive()
    # The first cycle's poll brought step 1; each later step came from one watch poll.
    assert steps[:4] == [1, 2, 3, 4]
    assert fake_cluster.status_calls >= 4


def _wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
