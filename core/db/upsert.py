"""INSERT … ON CONFLICT DO NOTHING for the two dialects Loradesk runs on.

Racing schedulers rely on it: the unique constraints decide who wrote a metric point, a cost
record or a once-only notification, and the loser's insert quietly does nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignoring_conflicts(session: Session, model: Any) -> Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing()
    return sqlite.insert(model).on_conflict_do_nothing()
