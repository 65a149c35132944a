"""A person's monthly budget (LORADESK_MONTHLY_BUDGET): the month's spend, a new job's estimate
against it, and the warnings at 80 % and 100 %.

The month's spend is what the cost records bill to this calendar month (UTC) plus the current cost
of the person's jobs not yet over, which have no record yet. A submit that would pass the budget
is refused unless forced (the CLI's `--force`; the new-job dialog asks first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import job_store
from core.db.models import NotificationRow, utcnow
from core.errors import LoradeskError
from core.money.stop_rules import money
from core.notifications import add_notification
from core.records import Notification, NotificationType
from core.workspace import Workspace

THRESHOLDS = (80, 100)


class BudgetExceededError(LoradeskError):
    """The new job would take the month's spend past the monthly budget."""


@dataclass(frozen=True, slots=True)
class MonthSpend:
    period: str  # YYYY-MM
    billed: float  # cost records of the month
    running: float  # current cost of jobs not yet over
    budget: float | None

    @property
    def total(self) -> float:
        return self.billed + self.running

    @property
    def month(self) -> str:
        return datetime.strptime(self.period, "%Y-%m").strftime("%B %Y")


def billing_period(now: datetime) -> str:
    return now.strftime("%Y-%m")


def month_spend(ws: Workspace, *, now: datetime | None = None) -> MonthSpend:
    period = billing_period(now or utcnow())
    with ws.db.read() as session:
        billed, running = job_store.month_spend(session, user_id=ws.user, period=period)
    return MonthSpend(period, billed, running, ws.settings.monthly_budget)


def job_estimate(
    hourly: float,
    *,
    expected_hours: float | None = None,
    max_cost: float | None = None,
    max_hours: float | None = None,
) -> float | None:
    """What a new job is expected to cost: its expected run time at `hourly` (US$ per hour for
    all its GPUs), no more than its caps allow; with no run time, the most its caps allow; None
    when nothing bounds it."""
    caps = [c for c in (max_cost, hourly * max_hours if max_hours else None) if c is not None]
    bound = min(caps) if caps else None
    expected = hourly * expected_hours if expected_hours else None
    if expected is not None and bound is not None:
        return min(expected, bound)
    return expected if expected is not None else bound


def would_pass(spend: MonthSpend, estimate: float | None, hourly: float) -> bool:
    """A paid job that would take the month past its budget (one with no estimate: when the
    budget is already spent). A free job (a CPU) never passes it."""
    if spend.budget is None or hourly <= 0:
        return False
    return spend.total + (estimate or 0.0) > spend.budget or spend.total >= spend.budget


def refusal(spend: MonthSpend, estimate: float | None) -> str:
    assert spend.budget is not None
    spent = f"{money(spend.total)} of your {money(spend.budget)} budget is spent in {spend.month}"
    if estimate:
        total = money(spend.total + estimate)
        return f"{spent}; this job (about {money(estimate)}) would take it to {total}, past the budget"
    return f"{spent}; this job would add to it"


def check_budget(ws: Workspace, *, hourly: float, estimate: float | None) -> None:
    """BudgetExceededError when a job of this estimate would pass the month's budget."""
    if ws.settings.monthly_budget is None or hourly <= 0:
        return
    spend = month_spend(ws)
    if would_pass(spend, estimate, hourly):
        raise BudgetExceededError(refusal(spend, estimate))


# -- the scheduler's warnings ----------------------------------------------------------------------


def _key(user_id: str, period: str, threshold: int) -> str:
    return f"budget:{user_id}:{period}:{threshold}"


def budget_warnings_due(session: Session, *, user_id: str, budget: float, now: datetime) -> list[int]:
    """The thresholds (80, 100 %) the month's spend has reached whose warning is not yet given
    (a read: a cycle writes only when a warning is due)."""
    period = billing_period(now)
    billed, running = job_store.month_spend(session, user_id=user_id, period=period)
    reached = [t for t in THRESHOLDS if billed + running >= budget * t / 100]
    if not reached:
        return []
    given = set(
        session.scalars(
            select(NotificationRow.dedupe_key).where(
                NotificationRow.user_id == user_id,
                NotificationRow.dedupe_key.in_([_key(user_id, period, t) for t in reached]),
            )
        )
    )
    return [t for t in reached if _key(user_id, period, t) not in given]


def give_budget_warnings(
    session: Session, *, user_id: str, budget: float, now: datetime, thresholds: list[int]
) -> list[Notification]:
    """One `job_warning` per threshold and month, however many schedulers race to give it."""
    period = billing_period(now)
    billed, running = job_store.month_spend(session, user_id=user_id, period=period)
    spend = MonthSpend(period, billed, running, budget)
    notes = []
    for threshold in thresholds:
        title = (
            f"Monthly budget reached: {money(spend.total)} of {money(budget)}"
            if threshold >= 100
            else f"{threshold} % of the monthly budget spent"
        )
        message = f"{money(spend.total)} of your {money(budget)} budget is spent in {spend.month}. " + (
            "New paid jobs are refused unless forced."
            if threshold >= 100
            else "A new job that would pass the budget is refused unless forced."
        )
        note = add_notification(
            session,
            user_id=user_id,
            type=NotificationType.JOB_WARNING,
            title=title,
            message=message,
            once_key=_key(user_id, period, threshold),
        )
        if note is not None:
            notes.append(note)
    return notes
