"""Deleting a finished job with everything that hangs on it; never one that is (or turns) active."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from core.errors import InvalidRequestError, NotFoundError
from core.events import JobDeleted
from core.jobs.service import delete_job, find_job
from core.scheduler import Scheduler
from tests.core.helpers import (
    CostRecordRow,
    MetricPointRow,
    NotificationRow,
    count,
    queue_jobs,
    run_cycles,
    set_job_columns,
)
from tests.fakes.cluster import JobPlan


async def test_a_finished_job_goes_with_its_points_costs_and_notifications(
    make_workspace, dataset_file, fake_cluster
):
    ws = make_workspace()
    done, other = queue_jobs(ws, dataset_file, count=2)
    fake_cluster.default_plan = JobPlan(total_steps=20, steps_per_poll=10)
    scheduler = Scheduler(ws)
    await run_cycles(scheduler, ws, done.id, until="completed")
    await run_cycles(scheduler, ws, other.id, until="completed")
    for model in (MetricPointRow, CostRecordRow, NotificationRow):
        assert count(ws, model, job_id=done.id) > 0
    seen: list[object] = []
    ws.events.subscribe(seen.append)

    assert delete_job(ws, job_id=done.id).id == done.id

    for model in (MetricPointRow, CostRecordRow, NotificationRow):
        assert count(ws, model, job_id=done.id) == 0
        assert count(ws, model, job_id=other.id) > 0  # the other job keeps all of its own
    with pytest.raises(NotFoundError):
        find_job(ws, job_id=done.id)
    assert JobDeleted(done.id) in seen


@pytest.mark.parametrize("status", ["queued", "initializing", "running"])
async def test_an_active_job_is_refused_and_kept(make_workspace, dataset_file, status):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    set_job_columns(ws, job.id, status=status)
    with pytest.raises(InvalidRequestError, match=f"is {status}; only completed, failed or cancelled"):
        delete_job(ws, job_id=job.id)
    assert find_job(ws, job_id=job.id).status.value == status


async def test_someone_elses_job_is_not_found(make_workspace, dataset_file):
    (job,) = queue_jobs(make_workspace(), dataset_file)
    set_job_columns(make_workspace(), job.id, status="completed")
    with pytest.raises(NotFoundError):
        delete_job(make_workspace(user="bob"), job_id=job.id)


async def test_a_job_that_turns_active_while_the_delete_waits_is_kept(make_workspace, dataset_file):
    """Another writer holds the job's row (PostgreSQL) or the database (SQLite) while it makes a
    cancelled job active again; the delete waits for it, then sees the new status and refuses."""
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    set_job_columns(ws, job.id, status="cancelled")
    postgres = ws.db.engine.dialect.name == "postgresql"
    outcome: list[BaseException | None] = []

    with ws.db.engine.connect() as other:
        other.execute(text("UPDATE training_jobs SET status = 'running' WHERE id = :id"), {"id": job.id})

        def attempt() -> None:
            try:
                delete_job(ws, job_id=job.id)
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

        deleter = threading.Thread(target=attempt)
        deleter.start()
        if postgres:
            _wait_until_blocked(ws)  # the delete is queued behind the row lock
        other.commit()
        deleter.join(30)

    assert len(outcome) == 1 and isinstance(outcome[0], InvalidRequestError), outcome
    assert find_job(ws, job_id=job.id).status.value == "running"


def _wait_until_blocked(ws) -> None:
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    with ws.db.engine.connect() as probe:
        for _ in range(3000):
            if probe.execute(query).scalar():
                return
            probe.rollback()
            threading.Event().wait(0.01)
    raise AssertionError("the delete never waited for the row lock")
