"""One set of limits on every database, scheduler side: titles fit their column, database errors
reach people as one line, and a record the database can never take fails its job."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from core.db.engine import DatabaseError
from core.db.models import JobRow, new_id, utcnow
from core.notifications import TITLE_MAX
from core.scheduler import Scheduler
from tests.core.helpers import count, queue_jobs, run_cycles, set_job_columns
from tests.fakes.cluster import JobPlan


async def test_a_long_job_name_is_shortened_in_titles_not_refused(make_workspace, fake_cluster, dataset_file):
    """A 250-character name (from before names were limited) used to overflow `notifications.title`
    in "<name> started" on PostgreSQL, failing every record of the job."""
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    set_job_columns(ws, job.id, name="n" * 250)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=20, steps_per_poll=10))

    detail = await run_cycles(Scheduler(ws), ws, job.id, until="completed")

    titles = [n.title for n in detail.notifications]
    assert [n.type for n in detail.notifications] == ["job_started", "job_progress", "job_completed"]
    assert all(len(title) <= TITLE_MAX for title in titles), [len(t) for t in titles]
    assert titles[0].startswith("n" * 200) and titles[0].endswith("… started")
    assert titles[-1].endswith("… completed")


async def test_a_record_the_database_refuses_fails_the_job_with_the_reason(
    make_workspace, fake_cluster, dataset_file, caplog
):
    """The cluster reports an epoch count beyond any integer column: on PostgreSQL "integer out
    of range", on SQLite an overflow. Retrying cannot help, so the job fails once, says why,
    and its cluster job is stopped rather than left running unwatched."""
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=20, total_epochs=2**70, steps_per_poll=5))
    scheduler = Scheduler(ws)

    with caplog.at_level(logging.DEBUG, logger="core"):
        detail = await run_cycles(scheduler, ws, job.id, until="failed", limit=5)
        await scheduler.run_once()  # and it stays that way

    assert detail.job.error_message.startswith("could not store the cluster's answer: ")
    assert "\n" not in detail.job.error_message and "UPDATE" not in detail.job.error_message
    assert [n.type for n in detail.notifications] == ["job_started", "job_failed"]
    assert count(ws, JobRow, id=job.id, claimed_by=None) == 1
    (cluster_job,) = fake_cluster.jobs.values()
    assert cluster_job.status == "cancelled"
    assert not [r for r in caplog.records if r.exc_info and r.levelno > logging.DEBUG], "a traceback"


async def test_database_errors_leave_the_database_as_one_line(make_workspace):
    ws = make_workspace()
    with pytest.raises(DatabaseError) as raised, ws.db.write() as session:
        session.add(
            JobRow(
                id=new_id(),
                user_id="alice",
                dataset_id="no-such-dataset",
                name="orphan",
                gpu_type="cpu",
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    message = str(raised.value)
    assert message.startswith("database error: ")
    assert "\n" not in message and "INSERT" not in message and "orphan" not in message


def test_the_cli_reports_a_database_error_in_one_line(make_workspace, home, database_url):
    ws = make_workspace()
    with ws.db.write() as session:
        session.execute(text("DROP TABLE notifications"))
    result = subprocess.run(
        [sys.executable, "-m", "core.cli.main", "notifications", "list"],
        env={**os.environ, "LORADESK_HOME": str(home), "LORADESK_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("loradesk: database error: "), result.stderr
    assert "SELECT" not in result.stderr and "notifications" in result.stderr
