"""Enforcing guardrails in the cycle: the 80 % warnings, the stop, the month's budget warnings.

After a poll is recorded (or fails for a while: the clock's rules still run), `apply_guardrails`
judges the job's rules (core.money.stop_rules) in the same transaction. A warning is a `job_warning`
given once per rule and cap. A rule that fires records `stop_reason` and a cancel request in one
statement that only the first writer wins, and the job stays claimed by that scheduler, which then
cancels it through the normal cancel path (`carry_out_cancel`): the cluster is asked once, the
adapter so far is kept, the end is recorded with the one `job_cancelled` notification, which says
which rule stopped the job and at what figure. If the cluster cannot be reached, the request stays
and every cycle retries it, as for a cancel a person asked for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from core.db import job_store
from core.db.engine import error_line
from core.db.job_store import guarded_update
from core.money.budget import budget_warnings_due, give_budget_warnings
from core.money.stop_rules import RuleState, firing, warnings_due
from core.notifications import add_notification, job_title
from core.records import Job, Notification
from core.records import NotificationType as N
from core.scheduler.cancelling import carry_out_cancel
from core.scheduler.publish import publish
from core.scheduler.transitions import Change
from core.workspace import Workspace

log = logging.getLogger(__name__)


def apply_guardrails(
    session: Session, change: Change, *, job: Job | None = None, owner: str, lease: timedelta, now: datetime
) -> Change:
    """Judge the rules of `job` (default: the job `change` recorded) and add to `change` what
    that wrote: warnings, the stop (then `change.stopped`), the job as it now stands."""
    job = job or change.job
    if job is None or job.status.is_terminal or job.stop_reason or job.cancel_requested_at:
        return change
    due = warnings_due(job, now)
    fired = firing(job, now)
    if not due and fired is None:
        return change
    values = {"guardrail_warnings": [*job.guardrail_warnings, *(key for key, _ in due)]} if due else {}
    if fired is not None:
        updated = job_store.record_stop(
            session, job.id, fired.reason, owner=owner, lease=lease, now=now, values=values
        )
        change.stopped = updated is not None
        if updated is not None:
            log.info("job %s %r: stopped by its guardrail: %s", job.id, job.name, fired.reason)
    else:
        updated = guarded_update(session, job.id, values, now=now)
    if updated is None:
        return change
    change.job = updated
    for _key, state in due:
        change.notify(_warning(session, updated, state, _key))
    return change


def _warning(session: Session, job: Job, state: RuleState, key: str) -> Notification | None:
    what = "cost cap" if state.rule == "cost" else "time cap"
    return add_notification(
        session,
        user_id=job.user_id,
        job_id=job.id,
        type=N.JOB_WARNING,
        title=job_title(job.name, f" is at {state.fraction:.0%} of its {what}"),
        message=f"{state.label}: {state.figure}. The job is stopped when it reaches the cap.",
        once_key=f"{job.id}:guardrail:{key}",
    )


async def carry_out_stops(ws: Workspace, jobs: Sequence[Job], *, owner: str) -> int:
    """Cancel the jobs whose stop this scheduler recorded (it holds them), then let go of any that
    did not end, so any scheduler retries the request each cycle. Returns how many ended."""
    results = await asyncio.gather(
        *(carry_out_cancel(ws, job, held=False) for job in jobs), return_exceptions=True
    )
    unfinished = []
    for job, result in zip(jobs, results, strict=True):
        if isinstance(result, BaseException):
            log.error(
                "job %s: the guardrail's cancel failed, retried next cycle: %s", job.id, error_line(result)
            )
            unfinished.append(job.id)
        elif not result.job.status.is_terminal:
            log.info("job %s: %s", job.id, result.said)
            unfinished.append(job.id)
    if unfinished:
        await asyncio.to_thread(_release, ws, unfinished, owner)
    return len(jobs) - len(unfinished)


def _release(ws: Workspace, job_ids: list[str], owner: str) -> None:
    with ws.db.write() as session:
        for job_id in job_ids:
            job_store.unclaim(session, job_id, owner=owner)


def check_budget_warnings(ws: Workspace, *, user_id: str, budget: float, now: datetime) -> None:
    """Give the month's 80 % and 100 % budget warnings that are due (a read when none is)."""
    with ws.db.read() as session:
        due = budget_warnings_due(session, user_id=user_id, budget=budget, now=now)
    if not due:
        return
    with ws.db.write() as session:
        notes = give_budget_warnings(session, user_id=user_id, budget=budget, now=now, thresholds=due)
    publish(ws, [Change(notifications=notes)])
