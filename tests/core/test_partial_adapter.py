"""A cancelled run's adapter, where the cluster keeps one, is recorded and marked partial."""

from __future__ import annotations

from datetime import UTC, datetime

from core.jobs.service import find_job
from core.scheduler import Scheduler
from tests.core.helpers import queue_jobs, run_cycles
from tests.fakes.cluster import JobPlan


async def test_a_run_the_cluster_stopped_keeps_its_adapter_marked_partial(
    make_workspace, dataset_file, fake_cluster
):
    ws = make_workspace()
    stopped, finished = queue_jobs(ws, dataset_file, count=2)
    fake_cluster.default_plan = JobPlan(total_steps=20, steps_per_poll=5, keeps_partial_adapter=True)
    scheduler = Scheduler(ws)
    running = await run_cycles(scheduler, ws, stopped.id, until="running")
    external = running.job.external_job_id
    fake_cluster.jobs[external].end("cancelled", datetime.now(UTC))  # stopped there (preempted, say)

    await run_cycles(scheduler, ws, stopped.id, until="cancelled")
    await run_cycles(scheduler, ws, finished.id, until="completed")
    partial, whole = find_job(ws, job_id=stopped.id), find_job(ws, job_id=finished.id)
    assert partial.artifact_url == f"{fake_cluster.url}/artifacts/{external}/adapter"
    assert partial.artifact_partial
    assert whole.artifact_url is not None and not whole.artifact_partial
