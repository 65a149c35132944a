"""A job's log through the `http` backend's optional logs endpoint (SPEC §4), from an offset."""

from __future__ import annotations

import pytest

from core.cluster.base import ClusterLogsUnavailableError
from core.jobs.logs import NEVER_RAN, NOT_STARTED, read_job_log
from core.scheduler import Scheduler
from tests.core.helpers import queue_jobs, run_cycles, set_job_columns
from tests.fakes.cluster import JobPlan


async def test_the_log_is_read_on_from_where_the_last_read_ended(make_workspace, dataset_file, fake_cluster):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    first = await read_job_log(ws, job_id=job.id)
    assert (first.text, first.note, first.ended) == ("", NOT_STARTED, False)

    fake_cluster.default_plan = JobPlan(total_steps=100, steps_per_poll=0)
    running = await run_cycles(Scheduler(ws), ws, job.id, until=("initializing", "running"))
    external = running.job.external_job_id
    start = await read_job_log(ws, job_id=job.id)
    assert start.text == f"accepted job {job.id}\n" and start.note is None and not start.ended

    fake_cluster.append_log(external, "step 1 loss 2.5\nstep 2 loss 2.1\n")
    more = await read_job_log(ws, job_id=job.id, offset=start.next_offset)
    assert more.text == "step 1 loss 2.5\nstep 2 loss 2.1\n"
    assert ("GET", f"/training/logs/{external}?offset={start.next_offset}") in fake_cluster.recent_requests
    nothing = await read_job_log(ws, job_id=job.id, offset=more.next_offset)
    assert nothing.text == "" and nothing.next_offset == more.next_offset


async def test_a_cluster_without_logs_says_so(make_workspace, dataset_file, fake_cluster):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    await run_cycles(Scheduler(ws), ws, job.id, until=("initializing", "running", "completed"))
    fake_cluster.keep_no_logs()
    with pytest.raises(ClusterLogsUnavailableError, match="this cluster keeps no logs"):
        await read_job_log(ws, job_id=job.id)


async def test_a_job_that_never_reached_the_cluster_has_no_log(make_workspace, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    set_job_columns(ws, job.id, status="cancelled")
    log = await read_job_log(ws, job_id=job.id)
    assert (log.text, log.note, log.ended) == ("", NEVER_RAN, True)
