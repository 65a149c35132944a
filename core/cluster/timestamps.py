"""The optional times of a status answer (SPEC §4: `started_at`, `completed_at`)."""

from __future__ import annotations

from datetime import UTC, datetime


def timestamp(value: object) -> datetime | None:
    """An optional ISO 8601 time, read as UTC when it names no zone. One a cluster writes in a
    form we cannot read is dropped: the scheduler's own observation time then stands in."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
