"""The database's clock, for every claim, lease and back-off (SPEC §3: changes are ordered by the
database, never by the clocks of the machines that write them).

A claim written by one machine is judged by another: were each to use its own clock, one whose
clock is behind would wait on claims that have expired, and one ahead would take claims that are
live. So expiries are written, and compared, in the database's time: PostgreSQL's `now()` (the
transaction's start), SQLite's `strftime('%Y-%m-%d %H:%M:%f', 'now')` (UTC to the millisecond,
which sorts against the stored `YYYY-MM-DD HH:MM:SS.ffffff` text as time does).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, literal, select
from sqlalchemy.orm import Session

from core.db.models import UtcDateTime

_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%f"


def db_now(session: Session, later: timedelta = timedelta(0)) -> ColumnElement[Any]:
    """The database's time now (plus `later`), as an SQL expression to compare or write."""
    if session.get_bind().dialect.name == "postgresql":
        moment: ColumnElement[Any] = func.now()
        return moment + literal(later) if later else moment
    if not later:
        return func.strftime(_SQLITE_FORMAT, "now")
    return func.strftime(_SQLITE_FORMAT, "now", f"{later.total_seconds():+.3f} seconds")


def database_time(session: Session) -> datetime:
    """The database's time now, read into Python (a cycle's start, a back-off's end)."""
    value = session.execute(select(db_now(session))).scalar_one()
    if isinstance(value, str):  # SQLite answers text
        value = datetime.fromisoformat(value)
    moment = UtcDateTime().process_result_value(value, None)
    assert moment is not None
    return moment.astimezone(UTC)
