"""Ids as people type them: the whole id, or a unique prefix of at least six characters (the
short id the app shows). One resolver for every command that takes a job or dataset id."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from core.db import job_store
from core.db.models import DatasetRow
from core.errors import InvalidRequestError
from core.workspace import Workspace

MIN_PREFIX = 6
_SHOWN = 5  # matches listed in the message of an ambiguous prefix


class AmbiguousIdError(InvalidRequestError):
    """A prefix that more than one of the user's jobs (or datasets) starts with."""


def resolve_job_id(ws: Workspace, ref: str) -> str:
    """The id of the user's job that `ref` is or starts (six characters or more); `ref` itself
    when nothing matches, so the service says there is no such job. AmbiguousIdError lists the
    matches of a prefix that fits several."""
    ref = ref.strip()
    with ws.db.read() as session:
        if len(ref) < MIN_PREFIX or job_store.is_users_job(session, ref, user_id=ws.user):
            return ref
        matches = job_store.jobs_starting_with(session, ref, user_id=ws.user, limit=_SHOWN + 1)
    return _one(ref, matches, "job")


def resolve_dataset_id(ws: Workspace, ref: str) -> str:
    """As resolve_job_id, for the user's datasets."""
    ref = ref.strip()
    if len(ref) < MIN_PREFIX:
        return ref
    query = (
        select(DatasetRow.id, DatasetRow.name)
        .where(DatasetRow.user_id == ws.user, DatasetRow.id.startswith(ref, autoescape=True))
        .order_by(DatasetRow.created_at)
        .limit(_SHOWN + 1)
    )
    with ws.db.read() as session:
        matches = [(row.id, row.name) for row in session.execute(query)]
    if any(found == ref for found, _ in matches):
        return ref
    return _one(ref, matches, "dataset")


def _one(ref: str, matches: Sequence[tuple[str, str]], what: str) -> str:
    if len(matches) <= 1:
        return matches[0][0] if matches else ref
    listed = ", ".join(f"{found} ({name})" for found, name in matches[:_SHOWN])
    more = " and more" if len(matches) > _SHOWN else ""
    raise AmbiguousIdError(
        f"{what} id {ref!r} is the start of several {what}s: {listed}{more}; give more characters"
    )
