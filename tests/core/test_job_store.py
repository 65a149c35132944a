"""The job store: the one liveness rule, the one row→record mapping, the one writer of jobs."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from core import job_store
from core.db.models import JobRow, utcnow
from core.records import Job, JobStatus
from tests.core.helpers import queue_jobs, set_job_columns

CORE = Path(__file__).resolve().parents[2] / "core"


@pytest.mark.parametrize(
    ("claimed_by", "expires_in", "held"),
    [
        (None, None, False),
        ("other", None, False),  # an owner without an expiry holds nothing
        ("other", timedelta(seconds=-1), False),  # expired
        ("other", timedelta(minutes=1), True),
    ],
)
async def test_one_liveness_rule_decides_claims_and_cancels(
    make_workspace, dataset_file, claimed_by, expires_in, held
):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    now = utcnow()
    set_job_columns(
        ws, job.id, claimed_by=claimed_by, claim_expires_at=None if expires_in is None else now + expires_in
    )
    with ws.db.write() as session:
        locked = job_store.lock_for_cancel(session, job.id, user_id=ws.user, now=now)
        assert locked is not None and locked[1] is held
        assert job_store.is_free_and_unsubmitted(session, job.id, now=now) is not held
        claimed = job_store.claim_queued(
            session, owner="me", user_id=None, limit=10, lease=timedelta(minutes=1), now=now
        )
    assert [c.job.id for c in claimed] == ([] if held else [job.id])


async def test_rows_map_onto_every_field_of_the_record(make_workspace, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    set_job_columns(ws, job.id, status="running", cancel_requested_at=utcnow(), current_metrics={"a": 1.0})
    with ws.db.read() as session:
        found = job_store.find_job(session, job.id, user_id=ws.user)
    assert found is not None
    assert found.status is JobStatus.RUNNING
    assert found.is_cancelling and found.current_metrics == {"a": 1.0}
    columns = set(JobRow.__table__.columns.keys())
    assert set(Job.__dataclass_fields__) <= columns  # every field comes from a column of that name


STATEMENT_ON_JOBS = re.compile(r"\bJobRow\b|(UPDATE|INTO|FROM)\s+training_jobs", re.I)


def test_only_the_job_store_names_the_jobs_table():
    writers = {
        str(path.relative_to(CORE))
        for path in CORE.rglob("*.py")
        if "migrations" not in path.parts and STATEMENT_ON_JOBS.search(path.read_text())
    }
    # The schema names the table too: the model, and the row-security policies (DDL, like the
    # migrations that create them) whose rules look up which jobs a role may see.
    assert writers == {"job_store.py", "db/models.py", "db/row_security.py"}
