"""The job store: the one liveness rule, the one row→record mapping, the one writer of jobs."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.db import job_store
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
    assert writers == {"db/job_store.py", "db/models.py", "db/row_security.py"}


async def test_a_round_of_updates_obeys_the_guard_and_goes_in_one_statement_per_shape(
    make_workspace, dataset_file
):
    from sqlalchemy import event

    ws = make_workspace()
    mine, also_mine, others, finished = queue_jobs(ws, dataset_file, count=4)
    started = utcnow() - timedelta(minutes=5)
    for job in (mine, also_mine, finished):
        set_job_columns(ws, job.id, status="running", claimed_by="me", claim_expires_at=utcnow())
    set_job_columns(ws, others.id, status="running", claimed_by="other", claim_expires_at=utcnow())
    set_job_columns(ws, finished.id, status="completed")

    def answer(step: int) -> dict[str, object]:
        # total_steps is NULL in every row: PostgreSQL must still accept it for an integer column.
        return {"current_step": step, "total_steps": None, "current_metrics": {"training_loss": 1.0 / step},
                "started_at": started, "status": "running", "claimed_by": None}  # fmt: skip

    updates = [
        (mine.id, answer(10)),
        (also_mine.id, {**answer(20), "artifact_url": "file:///adapter"}),  # a second shape
        (others.id, answer(30)),
        (finished.id, answer(40)),
    ]
    updates_run: list[str] = []

    def count_updates(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE TRAINING_JOBS"):
            updates_run.append(statement)

    engine = ws.db.engine
    event.listen(engine, "before_cursor_execute", count_updates)
    try:
        with ws.db.write() as session:
            before = session.scalar(select(func.max(JobRow.change_seq)))
            updated = job_store.guarded_update_many(session, updates, now=utcnow(), owner="me")
    finally:
        event.remove(engine, "before_cursor_execute", count_updates)

    assert set(updated) == {mine.id, also_mine.id}  # not another owner's claim, not a finished job
    assert updated[mine.id].current_step == 10 and updated[mine.id].total_steps is None
    assert updated[mine.id].current_metrics == {"training_loss": 0.1}
    assert updated[mine.id].started_at == started
    assert updated[also_mine.id].artifact_url == "file:///adapter"
    assert updated[mine.id].change_seq > before  # a viewer asking for changes sees them
    with ws.db.read() as session:
        stored = {
            row.id: row for row in session.execute(select(JobRow.id, JobRow.current_step, JobRow.claimed_by))
        }
    assert stored[mine.id].claimed_by is None  # released
    assert stored[others.id].current_step == 0 and stored[finished.id].current_step == 0
    expected = 2 if ws.db.engine.dialect.name == "postgresql" else len(updates)
    assert len(updates_run) == expected
