"""Sample answers into the database: once each, whoever sends them again."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.db.changes import change_stamp
from core.db.models import SampleRow
from core.db.upsert import insert_ignoring_conflicts
from core.records import Sample

_COLUMNS = ("job_id", "step", "prompt_index", "prompt", "expected", "output", "recorded_at")


def store_samples(session: Session, samples: list[Sample]) -> None:
    """Insert samples; a (job, step, prompt index) already stored is left as it is. Backends may
    send the last evaluation's samples again (their reads overlap so none is missed), so a
    repeat is normal here, not a conflict to report."""
    if not samples:
        return
    change_stamp(session)  # taken before the insert, as every writer does (core.db.changes)
    rows = [{column: getattr(sample, column) for column in _COLUMNS} for sample in samples]
    session.execute(insert_ignoring_conflicts(session, SampleRow), rows)
