"""Changes ordered by the database, never by the writers' clocks.

Every write transaction that changes what a viewer sees takes one number from a counter row
(`change_counter`) and stamps it on the rows it writes (`change_seq`). The counter row's lock is
held until the transaction commits, so stamps commit in the order they were taken: a reader that
has seen stamp N has seen every change stamped N or lower, whatever the clocks of the machines that
wrote them. The price is that stamping writers take turns; the scheduler stamps once per cycle.

On PostgreSQL the same transaction sends `NOTIFY loradesk_changes_<schema>` with an empty payload,
delivered at commit, which wakes other app instances at once (`core.change_feed`); nothing depends
on it arriving. There the number comes from `loradesk_next_change()` (core.db.team_guards).
"""

from __future__ import annotations

from sqlalchemy import event, select, text, update
from sqlalchemy.orm import Session

from core.db.models import ChangeCounterRow

CHANNEL = "loradesk_changes_"  # + the schema's name
_STAMP = "loradesk_change_stamp"


def change_stamp(session: Session) -> int:
    """This transaction's change number (taken on first use; one per transaction).

    Take it before locking any job row: two transactions that took row locks first and the counter
    second could wait on each other."""
    stamp = session.info.get(_STAMP)
    if stamp is None:
        if session.get_bind().dialect.name == "postgresql":
            # Through the owner's function (core.db.team_guards): in team mode nobody may set
            # the counter, and a holder idle in its transaction is ended rather than waited for.
            stamp = session.execute(text("SELECT loradesk_next_change()")).scalar_one()
            # One channel per schema: a database that holds several Loradesk schemas (tests do)
            # wakes only the apps on the schema that changed. The payload stays empty: every
            # listener receives it, whoever it is.
            session.execute(text("SELECT pg_notify(:channel || current_schema(), '')"), {"channel": CHANNEL})
        else:
            stamp = session.execute(
                update(ChangeCounterRow)
                .where(ChangeCounterRow.id == 1)
                .values(value=ChangeCounterRow.value + 1)
                .returning(ChangeCounterRow.value)
                .execution_options(synchronize_session=False)
            ).scalar_one()
        session.info[_STAMP] = stamp
    return int(stamp)


def latest_change(session: Session) -> int:
    """The newest committed change number; read it before the rows it is meant to cover."""
    return int(session.execute(select(ChangeCounterRow.value).where(ChangeCounterRow.id == 1)).scalar_one())


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_stamp(session: Session) -> None:
    session.info.pop(_STAMP, None)  # a session reused for another transaction takes a new one
