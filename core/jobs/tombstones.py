"""Deleted jobs as changes: a tombstone per deleted job, stamped like every other change.

A deleted job's row is gone, so the change query cannot find it among the jobs. The delete's own
transaction therefore writes a row to `deleted_jobs` with the same change number
(core.db.changes), and the change query reports the ids stamped after the reader's number, so
other app instances drop the row within the same latency as any other change.

Tombstones live `KEEP` (a week): long enough for an instance that slept over a weekend to catch up
by number, short enough that the table stays a few rows per deletion of the last days. They are
pruned by the next delete of the same person (who may, under team mode's row security), and the
counter row remembers the newest change number pruned: a reader whose number is older than that
is given the full list of jobs instead (`pruned_past`), so it misses nothing however long it slept.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from core.db.changes import change_stamp
from core.db.models import ChangeCounterRow, DeletedJobRow

KEEP = timedelta(days=7)


def record_deletion(session: Session, job_id: str, *, user_id: str, now: datetime) -> None:
    """Write the job's tombstone with this transaction's change number, and prune the person's
    tombstones older than KEEP."""
    stamp = change_stamp(session)
    session.execute(
        insert(DeletedJobRow).values(job_id=job_id, user_id=user_id, change_seq=stamp, deleted_at=now)
    )
    old = (DeletedJobRow.user_id == user_id, DeletedJobRow.deleted_at < now - KEEP)
    newest_old = session.execute(select(func.max(DeletedJobRow.change_seq)).where(*old)).scalar()
    if newest_old is None:
        return
    session.execute(delete(DeletedJobRow).where(*old).execution_options(synchronize_session=False))
    # This transaction holds the counter row already (its change number).
    if session.get_bind().dialect.name == "postgresql":  # team mode: only through the owner's function
        session.execute(text("SELECT loradesk_note_pruned(:through)"), {"through": newest_old})
        return
    session.execute(
        update(ChangeCounterRow)
        .where(ChangeCounterRow.id == 1, ChangeCounterRow.tombstones_pruned_through < newest_old)
        .values(tombstones_pruned_through=newest_old)
        .execution_options(synchronize_session=False)
    )


def deleted_since(session: Session, *, user_id: str, after: int | None, up_to: int) -> list[str]:
    """Ids of the person's jobs deleted after change number `after` (every kept one when None)
    and up to `up_to` (the query's latest number, so each is reported once), oldest first."""
    query = select(DeletedJobRow.job_id).where(
        DeletedJobRow.user_id == user_id, DeletedJobRow.change_seq <= up_to
    )
    if after is not None:
        query = query.where(DeletedJobRow.change_seq > after)
    return list(session.scalars(query.order_by(DeletedJobRow.change_seq)))


def pruned_past(session: Session, after: int) -> bool:
    """Whether tombstones stamped after `after` may have been pruned: read it after the
    tombstones, so a prune that committed before they were read is seen here."""
    pruned = select(ChangeCounterRow.tombstones_pruned_through).where(ChangeCounterRow.id == 1)
    return int(session.execute(pruned).scalar_one()) > after
