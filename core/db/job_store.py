"""The job store: every statement on `training_jobs` (procrastinate's manager layer).

Services and the scheduler say what they want (claim these, record that, cancel this); the SQL
lives here, so a rule such as "the claim is still live" is written once and a new column touches
one mapping (`core.db.convert`). Each function runs in the caller's session and transaction.

Claims are single atomic statements with an owner and an expiry: on PostgreSQL the candidates are
chosen `FOR UPDATE SKIP LOCKED`, so racing schedulers split the work instead of queueing on each
other's locks; on SQLite the write transaction starts with `BEGIN IMMEDIATE` (core.db.engine),
which serialises claimers. A scheduler that dies keeps its claims only until they expire.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    delete,
    func,
    insert,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import JSON, TypeEngine

from core.db.changes import change_stamp, latest_change
from core.db.clock import db_now
from core.db.convert import to_job
from core.db.models import CostRecordRow, DatasetRow, JobRow
from core.errors import NotFoundError
from core.records import ACTIVE_STATUSES, TERMINAL_STATUSES, Job, JobStatus

_TABLE = cast(Table, JobRow.__table__)
_TERMINAL = [s.value for s in TERMINAL_STATUSES]


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job this scheduler holds, with the bookkeeping the cycle needs beside the public record."""

    job: Job
    submit_attempts: int
    last_metric_step: int | None
    progress_notified: int
    not_found_polls: int
    malformed_answers: int = 0
    dataset_bucket: str | None = None
    dataset_path: str | None = None
    # The cluster id a scheduler of the team verified is this job's (core.scheduler.cluster_ids).
    checked_external_job_id: str | None = None


# -- the one liveness rule -------------------------------------------------------------------------


def claim_is_live(session: Session) -> ColumnElement[bool]:
    """A scheduler holds the job: it has an owner whose claim has not expired, by the database's
    clock (core.db.clock), whatever the clock of the machine asking.

    Written without NULL comparisons that could leave SQL's third truth value, so its negation
    (`not_(claim_is_live(session))`) is exactly "free to claim"."""
    return and_(
        JobRow.claimed_by.is_not(None),
        JobRow.claim_expires_at.is_not(None),
        JobRow.claim_expires_at >= db_now(session),
    )


def _free(session: Session) -> ColumnElement[bool]:
    return not_(claim_is_live(session))


def _due(session: Session) -> ColumnElement[bool]:
    """No back-off, or one that is over by the database's clock."""
    return or_(JobRow.next_attempt_at.is_(None), JobRow.next_attempt_at <= db_now(session))


# -- services --------------------------------------------------------------------------------------


def insert_job(session: Session, values: dict[str, Any]) -> Job:
    """Insert a new job row; returns it as stored."""
    values = {**values, "change_seq": change_stamp(session)}
    row = session.execute(insert(JobRow).values(values).returning(*_TABLE.columns)).one()
    return to_job(row)


def list_jobs(session: Session, *, user_id: str, status: JobStatus | None = None) -> list[Job]:
    query = select(JobRow).where(JobRow.user_id == user_id).order_by(JobRow.created_at.desc())
    if status is not None:
        query = query.where(JobRow.status == status.value)
    return [to_job(row) for row in session.scalars(query)]


def find_job(session: Session, job_id: str, *, user_id: str) -> Job | None:
    """The user's job with this id, or None (another user's job is None too)."""
    row = session.execute(
        select(*_TABLE.columns).where(JobRow.id == job_id, JobRow.user_id == user_id)
    ).first()
    return to_job(row) if row is not None else None


def own_job(session: Session, job_id: str, *, user_id: str) -> Job:
    """The user's job with this id, or NotFoundError saying where to find the ids."""
    job = find_job(session, job_id, user_id=user_id)
    if job is None:
        raise NotFoundError(f"no job {job_id!r} (see `loradesk jobs list`)")
    return job


def last_metric_step(session: Session, job_id: str) -> int | None:
    """The step of the job's last stored point (None: none yet)."""
    return session.scalar(select(JobRow.last_metric_step).where(JobRow.id == job_id))


def jobs_starting_with(session: Session, prefix: str, *, user_id: str, limit: int) -> list[tuple[str, str]]:
    """(id, name) of the user's jobs whose id starts with `prefix`, oldest first."""
    query = (
        select(JobRow.id, JobRow.name)
        .where(JobRow.user_id == user_id, JobRow.id.startswith(prefix, autoescape=True))
        .order_by(JobRow.created_at)
        .limit(limit)
    )
    return [(row.id, row.name) for row in session.execute(query)]


def is_users_job(session: Session, job_id: str, *, user_id: str) -> bool:
    found = session.execute(select(JobRow.id).where(JobRow.id == job_id, JobRow.user_id == user_id))
    return found.first() is not None


def jobs_changed_since(session: Session, *, user_id: str, after: int | None) -> tuple[list[Job], int]:
    """The user's jobs changed after change number `after` (all when None), oldest change first,
    and the number to pass next time. Callers apply the rows idempotently: a row changed after
    the number was read may come again."""
    latest = latest_change(session)  # first: every change up to it has committed
    query = select(*_TABLE.columns).where(JobRow.user_id == user_id)
    if after is not None:
        query = query.where(JobRow.change_seq > after)
    jobs = [to_job(row) for row in session.execute(query.order_by(JobRow.change_seq))]
    return jobs, latest


# -- claims ----------------------------------------------------------------------------------------


def claim_queued(
    session: Session, *, owner: str, user_id: str | None, limit: int, lease: timedelta, now: datetime
) -> list[ClaimedJob]:
    """Claim up to `limit` queued jobs that are due (back-off over) and not cancelled."""
    candidates = (
        select(JobRow.id)
        .where(
            JobRow.status == JobStatus.QUEUED.value,
            JobRow.cancel_requested_at.is_(None),
            _due(session),
            _free(session),
        )
        .order_by(JobRow.created_at)
        .limit(limit)
    )
    # The mark goes with the claim, before any HTTP call: from here the job may be on the cluster.
    claimed = _claim(
        session,
        candidates,
        owner=owner,
        user_id=user_id,
        lease=lease,
        now=now,
        mark={"submit_sent_at": db_now(session)},
    )
    if not claimed:
        return []
    datasets = {
        row.id: row
        for row in session.execute(
            select(DatasetRow.id, DatasetRow.storage_bucket, DatasetRow.storage_path).where(
                DatasetRow.id.in_({c.job.dataset_id for c in claimed})
            )
        )
    }
    return [
        ClaimedJob(
            job=c.job,
            submit_attempts=c.submit_attempts,
            last_metric_step=c.last_metric_step,
            progress_notified=c.progress_notified,
            not_found_polls=c.not_found_polls,
            malformed_answers=c.malformed_answers,
            dataset_bucket=datasets[c.job.dataset_id].storage_bucket,
            dataset_path=datasets[c.job.dataset_id].storage_path,
        )
        for c in claimed
    ]


def claim_active(
    session: Session,
    *,
    owner: str,
    user_id: str | None,
    limit: int,
    lease: timedelta,
    now: datetime,
    not_polled_since: datetime | None = None,
    job_id: str | None = None,
) -> list[ClaimedJob]:
    """Claim up to `limit` initializing or running jobs to poll, the longest unpolled first;
    with `not_polled_since`, only jobs no claim has polled since then (this cycle's rest); with
    `job_id`, only that job (the one a user is watching, polled between cycles)."""
    candidates = (
        select(JobRow.id)
        .where(
            JobRow.status.in_([s.value for s in ACTIVE_STATUSES]),
            JobRow.external_job_id.is_not(None),
            _due(session),  # backing off after a malformed answer (transitions.record_malformed)
            _free(session),
        )
        .order_by(JobRow.polled_at.asc().nulls_first())
        .limit(limit)
    )
    if not_polled_since is not None:
        candidates = candidates.where(or_(JobRow.polled_at.is_(None), JobRow.polled_at < not_polled_since))
    if job_id is not None:
        candidates = candidates.where(JobRow.id == job_id)
    return _claim(
        session,
        candidates,
        owner=owner,
        user_id=user_id,
        lease=lease,
        now=now,
        mark={"polled_at": db_now(session)},  # compared with cycles' starts, in the database's time
    )


def renew_claims(
    session: Session, job_ids: Sequence[str], *, owner: str, lease: timedelta, now: datetime
) -> None:
    """The heartbeat: push back the expiry of these claims, where they are still `owner`'s."""
    for start in range(0, len(job_ids), 500):
        session.execute(
            update(JobRow)
            .where(JobRow.id.in_(job_ids[start : start + 500]), JobRow.claimed_by == owner)
            .values(claim_expires_at=db_now(session, lease), updated_at=JobRow.updated_at)
            .execution_options(synchronize_session=False)
        )


def _claim(
    session: Session,
    candidates: Select[Any],
    *,
    owner: str,
    user_id: str | None,
    lease: timedelta,
    now: datetime,
    mark: dict[str, Any],
) -> list[ClaimedJob]:
    if user_id is not None:
        candidates = candidates.where(JobRow.user_id == user_id)
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    stmt = (
        update(JobRow)
        .where(JobRow.id.in_(candidates.scalar_subquery()), _free(session))
        # updated_at stays: a claim is bookkeeping, not a change a viewer needs to see.
        .values(
            claimed_by=owner, claim_expires_at=db_now(session, lease), updated_at=JobRow.updated_at, **mark
        )
        .returning(*_TABLE.columns)
        .execution_options(synchronize_session=False)
    )
    return [
        ClaimedJob(
            job=to_job(row),
            submit_attempts=row.submit_attempts,
            last_metric_step=row.last_metric_step,
            progress_notified=row.progress_notified,
            not_found_polls=row.not_found_polls,
            malformed_answers=row.malformed_answers,
            checked_external_job_id=row.checked_external_job_id,
        )
        for row in session.execute(stmt)
    ]


def checked_cluster_id(session: Session, job_id: str) -> str | None:
    """The cluster id a scheduler of the team verified is the job's own, if any."""
    return session.scalar(select(JobRow.checked_external_job_id).where(JobRow.id == job_id))


def may_vouch_for_cluster_ids(session: Session) -> bool:
    """Whether this connection works on every row (the owner, a scheduler role, a superuser), as
    the trigger of core.db.team_guards asks before it lets `checked_external_job_id` be written."""
    return bool(
        session.scalar(
            text(
                "SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) OR EXISTS ("
                "SELECT 1 FROM pg_policies p, unnest(p.roles) AS r WHERE p.schemaname = current_schema() "
                "AND p.tablename = 'training_jobs' AND p.policyname = 'loradesk_all_rows' AND r <> 'public' "
                "AND pg_has_role(current_user, r, 'USAGE'))"
            )
        )
    )


def mark_cluster_id_checked(session: Session, job_id: str, external_job_id: str) -> None:
    """Record that the job's cluster id is its own (team mode: only a scheduler role may).
    Bookkeeping, not a change a viewer sees: no change number, `updated_at` kept."""
    session.execute(
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.external_job_id == external_job_id)
        .values(checked_external_job_id=external_job_id, updated_at=JobRow.updated_at)
        .execution_options(synchronize_session=False)
    )


def job_holding_cluster_id(session: Session, external_job_id: str) -> Job | None:
    """The job whose row holds this cluster id (every row's, for a scheduler of all users)."""
    row = session.execute(select(*_TABLE.columns).where(JobRow.external_job_id == external_job_id)).first()
    return to_job(row) if row is not None else None


def forget_cluster_id(session: Session, job_id: str, *, now: datetime) -> Job | None:
    """A finished job's row lets go of a cluster id that was not its own."""
    return _stamped_update(session, [JobRow.id == job_id], external_job_id=None, updated_at=now)


def unclaim(session: Session, job_id: str, *, owner: str, forget_submit: bool = False) -> None:
    """Give a job back unchanged (busy cluster, transient poll failure, auth problem). With
    `forget_submit` the submit mark goes too: the cluster said it took no submit of this job."""
    extra: dict[str, Any] = {"submit_sent_at": None} if forget_submit else {}
    session.execute(
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.claimed_by == owner)
        .values(claimed_by=None, claim_expires_at=None, updated_at=JobRow.updated_at, **extra)
        .execution_options(synchronize_session=False)
    )


# -- recording -------------------------------------------------------------------------------------


def guarded_update(
    session: Session, job_id: str, values: dict[str, Any], *, now: datetime, owner: str | None = None
) -> Job | None:
    """Update a non-terminal job (still claimed by `owner`, if given); None if it no longer is."""
    values = {**values, "change_seq": change_stamp(session)}
    stmt = _guarded_statement(frozenset(values), owner is not None)
    params = {f"v_{key}": value for key, value in values.items()}
    params.update(g_id=job_id, g_owner=owner, v_updated_at=now)
    row = session.connection().execute(stmt, params).first()
    return to_job(row) if row is not None else None


def guarded_update_many(
    session: Session,
    updates: Sequence[tuple[str, dict[str, Any]]],
    *,
    now: datetime,
    owner: str,
) -> dict[str, Job]:
    """`guarded_update` for many jobs at once (a cycle's round): returns the updated jobs by id;
    a job missing from the answer is terminal or no longer `owner`'s.

    On PostgreSQL the updates of one shape (the same columns) go as one statement whose text never
    changes: `UPDATE … FROM unnest(<one array per column>)`, the set-based form of
    `UPDATE … FROM (VALUES …)` that the driver prepares once. A round trip per job cost more than
    the update itself. SQLite runs in-process: a statement per job costs little more there."""
    if session.get_bind().dialect.name != "postgresql":
        updated = (guarded_update(session, job_id, new, now=now, owner=owner) for job_id, new in updates)
        return {job.id: job for job in updated if job is not None}
    stamp = change_stamp(session)
    shapes: dict[tuple[str, ...], list[tuple[str, dict[str, Any]]]] = {}
    for job_id, new in updates:
        shapes.setdefault(tuple(sorted(new)), []).append((job_id, new))
    conn = session.connection()
    jobs: dict[str, Job] = {}
    for columns, group in shapes.items():
        sql, convert = _set_based_update(columns, conn.dialect)
        arrays = [[job_id for job_id, _ in group]]
        for name, to_db in zip(columns, convert, strict=True):
            arrays.append([to_db(new[name]) for _, new in group])
        rows = conn.exec_driver_sql(sql, (stamp, now, *arrays, owner, *_TERMINAL))
        jobs.update((row.id, to_job(row)) for row in rows)
    return jobs


@functools.cache
def _set_based_update(columns: tuple[str, ...], dialect: Dialect) -> tuple[str, list[Callable[[Any], Any]]]:
    """The statement for one shape of update, and how each column's Python value is sent.

    Each array is cast to its column's type, so an array that is NULL throughout (no job has a
    `total_steps`, say) still fits a number or JSON column."""
    sql_type = {name: _TABLE.c[name].type.compile(dialect=dialect) for name in ("id", *columns)}
    convert = [_to_db(_TABLE.c[name].type, dialect) for name in columns]
    terminal = ", ".join("%s" for _ in _TERMINAL)
    sql = (
        "UPDATE training_jobs AS j SET "
        + ", ".join(f"{name} = answers.{name}" for name in columns)
        + ", change_seq = %s, updated_at = %s"
        + " FROM unnest("
        + ", ".join(f"%s::{sql_type[name]}[]" for name in ("id", *columns))
        + f") AS answers(id, {', '.join(columns)})"
        + f" WHERE j.id = answers.id AND j.claimed_by = %s AND j.status NOT IN ({terminal})"
        + " RETURNING j.*"
    )
    return sql, convert


def _to_db(column_type: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any]:
    """How a Python value of this column goes into an array: JSON as its text (psycopg adapts no
    dict), the rest as the column's type sends it."""
    if isinstance(column_type, JSON):
        return lambda value: None if value is None else json.dumps(value)
    processor: Callable[[Any], Any] | None = column_type.bind_processor(dialect)
    return processor or (lambda value: value)


@functools.cache
def _guarded_statement(columns: frozenset[str], by_owner: bool) -> Update:
    """One compiled statement per shape: a cycle updates a thousand jobs with a handful of shapes,
    and building a statement per job cost more than running it."""
    stmt = update(_TABLE).where(_TABLE.c.id == bindparam("g_id"), _TABLE.c.status.not_in(_TERMINAL))
    if by_owner:
        stmt = stmt.where(_TABLE.c.claimed_by == bindparam("g_owner"))
    assignments: dict[str, Any] = {name: bindparam(f"v_{name}") for name in (*sorted(columns), "updated_at")}
    return stmt.values(assignments).returning(*_TABLE.columns)


# -- cancels ---------------------------------------------------------------------------------------


def lock_for_cancel(session: Session, job_id: str, *, user_id: str, now: datetime) -> tuple[Job, bool] | None:
    """The user's job, locked for this transaction, with whether a scheduler holds it now."""
    change_stamp(session)  # the change number before the row lock, as every writer takes them
    query = select(*_TABLE.columns, claim_is_live(session).label("held")).where(
        JobRow.id == job_id, JobRow.user_id == user_id
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=_TABLE)
    row = session.execute(query).first()
    return (to_job(row), bool(row.held)) if row is not None else None


def pending_cancels(session: Session, *, user_id: str | None, now: datetime) -> list[tuple[Job, bool]]:
    """Jobs with a cancel request not yet carried out, each with whether a scheduler holds it now."""
    query = select(*_TABLE.columns, claim_is_live(session).label("held")).where(
        JobRow.cancel_requested_at.is_not(None), JobRow.status.not_in(_TERMINAL)
    )
    if user_id is not None:
        query = query.where(JobRow.user_id == user_id)
    return [(to_job(row), bool(row.held)) for row in session.execute(query)]


def is_free_and_unsubmitted(session: Session, job_id: str, *, now: datetime) -> bool:
    """Nobody holds the job and no submit of it ever left (no cluster id, no submit mark): it
    may be cancelled without asking the cluster."""
    found = session.execute(
        select(JobRow.id).where(
            JobRow.id == job_id,
            JobRow.external_job_id.is_(None),
            JobRow.submit_sent_at.is_(None),
            _free(session),
        )
    ).first()
    return found is not None


def lock_job(session: Session, job_id: str, *, user_id: str | None = None) -> Job | None:
    """The job (only if it is `user_id`'s, when given) as it stands, locked for this transaction
    (on SQLite the write lock is taken): a delete checks its status under the lock."""
    change_stamp(session)  # the change number before the row lock, as every writer takes them
    query = select(*_TABLE.columns).where(JobRow.id == job_id)
    if user_id is not None:
        query = query.where(JobRow.user_id == user_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    row = session.execute(query).first()
    return to_job(row) if row is not None else None


def drop_cancel_request(session: Session, job_id: str, *, now: datetime) -> Job | None:
    """Forget a cancel request (the cluster says the job is over anyway); returns the job."""
    return _stamped_update(session, [JobRow.id == job_id], cancel_requested_at=None, updated_at=now)


def _stamped_update(session: Session, where: Sequence[ColumnElement[bool]], **values: Any) -> Job | None:
    """Update the job that `where` finds, stamped with this transaction's change number; the job
    as it now stands, or None when nothing matched."""
    row = session.execute(
        update(JobRow)
        .where(*where)
        .values(**values, change_seq=change_stamp(session))
        .returning(*_TABLE.columns)
        .execution_options(synchronize_session=False)
    ).first()
    return to_job(row) if row is not None else None


# -- what people write: notes, tags; deleting ------------------------------------------------------


def set_notes(session: Session, job_id: str, *, user_id: str, notes: str, now: datetime) -> Job | None:
    """Replace the job's notes (any status); None when the user has no such job."""
    return _stamped_update(
        session, [JobRow.id == job_id, JobRow.user_id == user_id], notes=notes, updated_at=now
    )


def change_tags(
    session: Session,
    job_id: str,
    *,
    user_id: str,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    now: datetime,
) -> Job | None:
    """Add and remove tags (kept in the order first added, each once); None when the user has no
    such job. The row is locked between reading the list and writing it, so two people tagging at
    once both keep their tags."""
    change_stamp(session)  # the change number before the row lock, as every writer takes them
    query = select(JobRow.tags).where(JobRow.id == job_id, JobRow.user_id == user_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    found = session.execute(query).first()
    if found is None:
        return None
    tags = [t for t in (found.tags or []) if t not in set(remove)]
    tags += [t for t in dict.fromkeys(add) if t not in tags and t not in set(remove)]
    return _stamped_update(session, [JobRow.id == job_id], tags=tags, updated_at=now)


def delete_terminal_job(session: Session, job_id: str, *, user_id: str) -> bool:
    """Delete the job row if it is the user's and terminal; False otherwise (nothing deleted).
    Its points, cost records and notifications go first (core.jobs.service), in the same transaction."""
    result = session.execute(
        delete(JobRow)
        .where(JobRow.id == job_id, JobRow.user_id == user_id, JobRow.status.in_(_TERMINAL))
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def jobs_using_dataset(session: Session, dataset_id: str, *, user_id: str) -> list[Job]:
    """The user's jobs on this dataset, oldest first (a dataset in use is not deleted)."""
    query = (
        select(*_TABLE.columns)
        .where(JobRow.dataset_id == dataset_id, JobRow.user_id == user_id)
        .order_by(JobRow.created_at)
    )
    return [to_job(row) for row in session.execute(query)]


def finished_runs(session: Session, *, user_id: str, dataset_id: str, limit: int = 20) -> list[Job]:
    """The user's most recently completed jobs on this dataset (for estimating a new run's time)."""
    query = (
        select(*_TABLE.columns)
        .where(
            JobRow.user_id == user_id,
            JobRow.dataset_id == dataset_id,
            JobRow.status == JobStatus.COMPLETED.value,
            JobRow.started_at.is_not(None),
            JobRow.completed_at.is_not(None),
        )
        .order_by(JobRow.completed_at.desc())
        .limit(limit)
    )
    return [to_job(row) for row in session.execute(query)]


# -- guardrails ------------------------------------------------------------------------------------


def record_stop(
    session: Session,
    job_id: str,
    reason: str,
    *,
    owner: str,
    lease: timedelta,
    now: datetime,
    values: dict[str, Any] | None = None,
) -> Job | None:
    """A guardrail fired: record why and ask for the cancel, in one statement that only the first
    writer wins (no stop recorded yet, no cancel asked for, not over, not another's claim). The
    winner keeps the job claimed while it cancels it, so no other scheduler cancels it too; if it
    dies, the claim lapses and any scheduler carries the request out. None: someone was first."""
    first = [
        JobRow.id == job_id,
        JobRow.status.not_in(_TERMINAL),
        JobRow.stop_reason.is_(None),
        JobRow.cancel_requested_at.is_(None),
        or_(_free(session), JobRow.claimed_by == owner),
    ]
    return _stamped_update(
        session,
        first,
        **(values or {}),
        stop_reason=reason,
        cancel_requested_at=now,
        claimed_by=owner,
        claim_expires_at=db_now(session, lease),
        updated_at=now,
    )


def set_rules(
    session: Session, job_id: str, values: dict[str, Any], *, user_id: str, now: datetime
) -> Job | None:
    """Change the user's job's stop rules while it is not over; None if it is (or is not theirs)."""
    if not is_users_job(session, job_id, user_id=user_id):
        return None
    return guarded_update(session, job_id, values, now=now)


def month_spend(session: Session, *, user_id: str, period: str) -> tuple[float, float]:
    """The user's spend in `period` (YYYY-MM): the cost records billed to it, and the current cost
    of their jobs not yet over (which have no record yet)."""
    billed = session.scalar(
        select(func.coalesce(func.sum(CostRecordRow.amount), 0.0)).where(
            CostRecordRow.user_id == user_id, CostRecordRow.billing_period == period
        )
    )
    running = session.scalar(
        select(func.coalesce(func.sum(JobRow.current_cost), 0.0)).where(
            JobRow.user_id == user_id, JobRow.status.not_in(_TERMINAL)
        )
    )
    return float(billed or 0.0), float(running or 0.0)
