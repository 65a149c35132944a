"""Notifications: the services that list and mark them, and the one function that creates them."""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import cast

from sqlalchemy import Insert, Table, bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.db.changes import change_stamp, latest_change
from core.db.convert import to_notification
from core.db.models import NotificationRow, new_id, utcnow
from core.errors import NotFoundError
from core.records import Notification, NotificationType
from core.workspace import Workspace

# The title column's width on every database; longer titles are shortened, never refused.
TITLE_MAX = 255

PRIORITY = {
    NotificationType.JOB_STARTED: "normal",
    NotificationType.JOB_PROGRESS: "low",
    NotificationType.JOB_COMPLETED: "normal",
    NotificationType.JOB_FAILED: "high",
    NotificationType.JOB_CANCELLED: "normal",
    NotificationType.JOB_WARNING: "high",
    NotificationType.CLUSTER_AUTH_FAILED: "high",
}


def add_notification(
    session: Session,
    *,
    user_id: str,
    type: NotificationType,
    title: str,
    message: str,
    job_id: str | None = None,
    once_key: str | None = None,
) -> Notification | None:
    """Insert a notification; with `once_key`, only if none with that key exists yet.

    Returns the notification, or None when another writer already created it.
    """
    row = {
        "id": new_id(),
        "user_id": user_id,
        "job_id": job_id,
        "type": type.value,
        "title": shorten(title, TITLE_MAX),
        "message": message,
        "priority": PRIORITY[type],
        "read": False,
        "created_at": utcnow(),
        "dedupe_key": once_key,
        "change_seq": change_stamp(session),
    }
    conn = session.connection()
    if conn.execute(_insert_statement(conn.dialect.name), row).scalar_one_or_none() is None:
        return None
    return to_notification(SimpleNamespace(**row))


@functools.cache
def _insert_statement(dialect: str) -> Insert:
    """One statement per dialect, built once: a cycle that starts a thousand jobs inserts a
    thousand notifications, and building the statement each time cost more than running it."""
    table = cast(Table, NotificationRow.__table__)
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    columns = [column.name for column in table.columns]
    return (
        insert.values({name: bindparam(name) for name in columns})
        .on_conflict_do_nothing()
        .returning(table.c.id)
    )


def job_title(name: str, event: str) -> str:
    """`<name><event>` within TITLE_MAX: a long job name gives way, the words of the event stay."""
    room = TITLE_MAX - len(event)
    return shorten(name, room) + event


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def list_notifications(ws: Workspace, *, unread_only: bool = False, limit: int = 500) -> list[Notification]:
    query = select(NotificationRow).where(NotificationRow.user_id == ws.user)
    if unread_only:
        query = query.where(NotificationRow.read.is_(False))
    query = query.order_by(NotificationRow.created_at.desc()).limit(limit)
    with ws.db.read() as session:
        return [to_notification(row) for row in session.scalars(query)]


def notifications_since(ws: Workspace, *, since: int | None) -> tuple[list[Notification], int]:
    """Notifications created after change number `since` (all when None), in change order, and
    the number to pass next time (core.db.changes). Callers drop ids they already hold."""
    query = select(NotificationRow).where(NotificationRow.user_id == ws.user)
    if since is not None:
        query = query.where(NotificationRow.change_seq > since)
    with ws.db.read() as session:
        latest = latest_change(session)  # first: every change up to it has committed
        rows = [to_notification(row) for row in session.scalars(query.order_by(NotificationRow.change_seq))]
    return rows, latest


def unread_count(ws: Workspace) -> int:
    query = select(func.count()).where(NotificationRow.user_id == ws.user, NotificationRow.read.is_(False))
    with ws.db.read() as session:
        return session.scalar(query) or 0


def mark_read(ws: Workspace, *, ids: list[str] | None = None) -> int:
    """Mark the given notifications (None: all of the user's) read; returns how many changed.

    An id that is not one of the user's notifications is refused, and then nothing is marked.
    """
    stmt = (
        update(NotificationRow)
        .where(NotificationRow.user_id == ws.user, NotificationRow.read.is_(False))
        # An auth warning that was read may be raised again; job milestones stay once-only.
        .values(
            read=True,
            dedupe_key=case(
                (NotificationRow.type == NotificationType.CLUSTER_AUTH_FAILED.value, None),
                else_=NotificationRow.dedupe_key,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    if ids is not None:
        stmt = stmt.where(NotificationRow.id.in_(ids))
    with ws.db.write() as session:
        if ids is not None:
            _check_known(session, ws.user, ids)
        return session.execute(stmt).rowcount  # type: ignore[attr-defined]


def _check_known(session: Session, user: str, ids: list[str]) -> None:
    known = set(
        session.scalars(
            select(NotificationRow.id).where(NotificationRow.user_id == user, NotificationRow.id.in_(ids))
        )
    )
    unknown = [i for i in dict.fromkeys(ids) if i not in known]
    if unknown:
        listed = ", ".join(repr(i) for i in unknown[:3]) + (" …" if len(unknown) > 3 else "")
        what = "notification" if len(unknown) == 1 else "notifications"
        raise NotFoundError(f"no {what} {listed} (see `loradesk notifications list`)")


def auth_once_key(user_id: str) -> str:
    """The key that keeps `cluster_auth_failed` to one unread notification per user."""
    return f"auth:{user_id}"
