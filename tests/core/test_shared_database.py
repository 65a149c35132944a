"""Several schedulers on one database (SPEC §5 "Shared database"), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from core.db.job_store import claim_queued
from core.db.models import CostRecordRow, JobRow, MetricPointRow, NotificationRow, utcnow
from core.jobs.service import get_job, list_jobs
from core.records import JobStatus
from core.scheduler import Scheduler
from tests.conftest import TOKEN
from tests.core.helpers import queue_jobs, run_cycles
from tests.fakes.cluster import JobPlan

JOBS = 36
STEPS = 24


def assert_each_job_done_once(ws, fake_cluster, jobs) -> None:
    submits = Counter(job.job_id for job in fake_cluster.jobs.values())
    assert fake_cluster.submit_calls == len(jobs), "a job reached the cluster twice"
    assert set(submits) == {job.id for job in jobs} and set(submits.values()) == {1}
    with ws.db.read() as session:
        points = dict(
            session.execute(select(MetricPointRow.job_id, func.count()).group_by(MetricPointRow.job_id)).all()
        )
        costs = Counter(session.scalars(select(CostRecordRow.job_id)))
        ends = Counter(
            session.scalars(select(NotificationRow.job_id).where(NotificationRow.type == "job_completed"))
        )
        starts = Counter(
            session.scalars(select(NotificationRow.job_id).where(NotificationRow.type == "job_started"))
        )
        statuses = set(session.scalars(select(JobRow.status)))
        failures = list(session.scalars(select(JobRow.error_message).where(JobRow.status != "completed")))
    assert statuses == {"completed"}, failures
    assert points == {job.id: STEPS for job in jobs}
    assert costs == ends == starts == {job.id: 1 for job in jobs}


async def test_three_schedulers_racing_in_one_process(make_workspace, fake_cluster, dataset_file):
    """Three schedulers with their own connections, cycling at the same time until all is done."""
    fake_cluster.default_plan = JobPlan(total_steps=STEPS, steps_per_poll=4)
    workspaces = [make_workspace() for _ in range(3)]
    jobs = queue_jobs(workspaces[0], dataset_file, count=JOBS)
    schedulers = [Scheduler(ws, batch_size=5) for ws in workspaces]

    async def cycle_until_done(scheduler: Scheduler) -> None:
        for _ in range(200):
            await scheduler.run_once()
            if all(j.status.is_terminal for j in list_jobs(scheduler.ws)):
                return
        raise AssertionError("jobs never finished")

    await asyncio.gather(*(cycle_until_done(s) for s in schedulers))
    assert_each_job_done_once(workspaces[0], fake_cluster, jobs)


async def test_three_headless_scheduler_processes(
    make_workspace, fake_cluster, dataset_file, database_url, home
):
    """`loradesk scheduler --all-users` three times, as separate processes; SIGTERM stops each cleanly."""
    fake_cluster.default_plan = JobPlan(total_steps=STEPS, steps_per_poll=6)
    ws = make_workspace()
    jobs = queue_jobs(ws, dataset_file, count=JOBS)
    env = {
        **os.environ,
        "LORADESK_HOME": str(home),
        "LORADESK_DATABASE_URL": database_url,
        "LORADESK_CLUSTER": "http",
        "LORADESK_CLUSTER_URL": fake_cluster.url,
        "LORADESK_CLUSTER_TOKEN": TOKEN,
        "LORADESK_POLL_INTERVAL": "0.2",
        "LORADESK_USER": "someone-else",
    }
    command = [sys.executable, "-m", "core.cli.main", "scheduler", "--all-users"]
    procs = [subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    try:
        deadline = time.monotonic() + 120
        while not all(j.status.is_terminal for j in list_jobs(ws)):
            assert time.monotonic() < deadline, "jobs never finished"
            assert all(p.poll() is None for p in procs), "a scheduler process died"
            await asyncio.sleep(0.2)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        logs = [proc.communicate(timeout=30)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], logs
    assert "Traceback" not in "".join(logs)
    assert sum(log.count("→ completed") for log in logs) == JOBS  # one line per state change
    assert_each_job_done_once(ws, fake_cluster, jobs)


async def test_scheduler_killed_between_submit_and_record_is_repaired(
    make_workspace, fake_cluster, dataset_file
):
    """A claims the job and submits it, then dies before recording. Its claim expires; B
    resubmits with the same job_id, gets the same cluster job, and finishes the work."""
    fake_cluster.default_plan = JobPlan(total_steps=STEPS, steps_per_poll=12)
    ws_a, ws_b = make_workspace(), make_workspace()
    (job,) = queue_jobs(ws_a, dataset_file)
    dead = Scheduler(ws_a)
    with ws_a.db.write() as session:
        (claimed,) = claim_queued(
            session, owner=dead.owner, user_id=None, limit=1, lease=timedelta(seconds=30), now=utcnow()
        )
    first = await dead._submit(claimed)  # ...and then the process is gone

    survivor = Scheduler(ws_b)
    await survivor.run_once()
    assert get_job(ws_b, job_id=job.id).job.status is JobStatus.QUEUED, "a live claim was stolen"

    with ws_b.db.write() as session:  # time passes: the dead scheduler's claim expires
        session.get(JobRow, job.id).claim_expires_at = utcnow() - timedelta(seconds=1)
    detail = await run_cycles(survivor, ws_b, job.id, until="completed")
    assert detail.job.external_job_id == first.external_job_id
    assert len(fake_cluster.jobs) == 1 and fake_cluster.submit_calls == 2
    assert len(detail.metrics) == STEPS and len(detail.cost_records) == 1


async def test_scheduler_killed_while_polling_leaves_nothing_stuck(
    make_workspace, fake_cluster, dataset_file
):
    fake_cluster.default_plan = JobPlan(total_steps=STEPS, steps_per_poll=12)
    ws_a, ws_b = make_workspace(), make_workspace()
    (job,) = queue_jobs(ws_a, dataset_file)
    await Scheduler(ws_a).run_once()
    from core.db.job_store import claim_active

    dead = Scheduler(ws_a)
    with ws_a.db.write() as session:  # claimed for polling, then the process dies
        claim_active(
            session, owner=dead.owner, user_id=None, limit=10, lease=timedelta(seconds=-1), now=utcnow()
        )  # (already expired)
    detail = await run_cycles(Scheduler(ws_b), ws_b, job.id, until="completed")
    assert len(detail.metrics) == STEPS
