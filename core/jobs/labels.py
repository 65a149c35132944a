"""What people write on a job: its notes and tags (SPEC §3 `notes`, `tags`).

Tags are short words to find and group runs by ("baseline", "lr-sweep"); a comma separates them
where they are typed as one line, so a tag holds none. Both are written through the job store.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from core.db import job_store
from core.db.models import utcnow
from core.errors import InvalidRequestError, NotFoundError
from core.events import JobUpdated
from core.records import Job
from core.workspace import Workspace

TAG_MAX_CHARS = 64
NOTES_MAX_CHARS = 20_000


def check_tag(tag: str) -> str:
    """The tag as stored (trimmed, inner spaces single, without the "#" it is searched by:
    `#cli` is the tag `cli`), or InvalidRequestError naming it."""
    cleaned = " ".join(str(tag).split()).lstrip("#").strip()
    if not cleaned:
        raise InvalidRequestError("a tag cannot be empty")
    if "," in cleaned:
        raise InvalidRequestError(f"tag {cleaned!r} holds a comma, which separates tags")
    if len(cleaned) > TAG_MAX_CHARS:
        raise InvalidRequestError(f"tag {cleaned[:20]!r}… is longer than {TAG_MAX_CHARS} characters")
    return cleaned


def parse_tags(text: str) -> list[str]:
    """Tags typed as one line, separated by commas ("baseline, lr sweep")."""
    return list(dict.fromkeys(check_tag(part) for part in text.split(",") if part.strip()))


def tag_job(ws: Workspace, *, job_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> Job:
    """Add and remove tags of one of the user's jobs; returns the job as it now stands."""
    added, removed = [check_tag(t) for t in add], [check_tag(t) for t in remove]
    with ws.db.write() as session:
        job = job_store.change_tags(session, job_id, user_id=ws.user, add=added, remove=removed, now=utcnow())
    return _published(ws, job, job_id)


def set_tags(ws: Workspace, *, job_id: str, tags: Sequence[str]) -> Job:
    """Make the job's tags exactly these (the monitor's tag field)."""
    wanted = list(dict.fromkeys(check_tag(t) for t in tags))
    with ws.db.write() as session:
        current = job_store.find_job(session, job_id, user_id=ws.user)
        if current is None:
            raise _not_found(job_id)
        gone = [t for t in current.tags if t not in wanted]
        job = job_store.change_tags(session, job_id, user_id=ws.user, add=wanted, remove=gone, now=utcnow())
    return _published(ws, job, job_id)


def set_labels(ws: Workspace, *, job_id: str, notes: str, tags: Sequence[str]) -> Job:
    """Notes and tags as the monitor's editor saves them, in one transaction."""
    _check_notes(notes)
    wanted = list(dict.fromkeys(check_tag(t) for t in tags))
    with ws.db.write() as session:
        current = job_store.find_job(session, job_id, user_id=ws.user)
        if current is None:
            raise _not_found(job_id)
        now = utcnow()
        job_store.set_notes(session, job_id, user_id=ws.user, notes=notes, now=now)
        gone = [t for t in current.tags if t not in wanted]
        job = job_store.change_tags(session, job_id, user_id=ws.user, add=wanted, remove=gone, now=now)
    return _published(ws, job, job_id)


def set_notes(ws: Workspace, *, job_id: str, notes: str) -> Job:
    """Replace the job's notes."""
    _check_notes(notes)
    with ws.db.write() as session:
        job = job_store.set_notes(session, job_id, user_id=ws.user, notes=notes, now=utcnow())
    return _published(ws, job, job_id)


def _check_notes(notes: str) -> None:
    if len(notes) > NOTES_MAX_CHARS:
        raise InvalidRequestError(f"notes are limited to {NOTES_MAX_CHARS:,} characters")


def _published(ws: Workspace, job: Job | None, job_id: str) -> Job:
    if job is None:
        raise _not_found(job_id)
    ws.events.publish(JobUpdated(job))
    return job


def _not_found(job_id: str) -> NotFoundError:
    return NotFoundError(f"no job {job_id!r} (see `loradesk jobs list`)")
