"""How fresh an active job's figures are: when a scheduler last asked the cluster about it, in
words ("polled 4 min ago"), for the CLI's listings and the desktop's table alike."""

from __future__ import annotations

from datetime import UTC, datetime

from core.records import Job


def ago(moment: datetime, now: datetime) -> str:
    """ "12 s ago", "4 min ago", "3 h ago", "2 days ago"."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = max(0.0, (now - moment).total_seconds())
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600:.0f} h ago"
    return f"{seconds // 86400:.0f} days ago"


def polled(job: Job, now: datetime) -> str:
    """ "polled 4 min ago" for a job on a cluster that is not over; "" otherwise."""
    if job.status.is_terminal or job.external_job_id is None:
        return ""
    return "never polled" if job.polled_at is None else f"polled {ago(job.polled_at, now)}"
