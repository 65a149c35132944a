"""The monthly budget: the month's spend, a submit that would pass it, the 80 % and 100 % warnings."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from core.db.models import CostRecordRow, NotificationRow
from core.jobs.service import cancel_job, create_job, list_jobs
from core.money.budget import BudgetExceededError, job_estimate, month_spend
from core.scheduler import Scheduler
from tests.core.helpers import queue_jobs, set_job_columns


async def billed(ws, dataset_file, amount: float) -> str:
    """A cancelled job whose cost record bills `amount` to this month; returns its id."""
    (job,) = queue_jobs(ws, dataset_file)
    await cancel_job(ws, job_id=job.id)
    with ws.db.write() as session:
        session.execute(update(CostRecordRow).where(CostRecordRow.job_id == job.id).values(amount=amount))
    return job.id


def budget_notes(ws) -> list[tuple[str, str]]:
    with ws.db.read() as session:
        rows = session.scalars(
            select(NotificationRow)
            .where(NotificationRow.job_id.is_(None))
            .order_by(NotificationRow.change_seq)
        )
        return [(n.type, n.title) for n in rows]


async def test_the_months_spend_is_billed_plus_running(make_workspace, dataset_file):
    ws = make_workspace(monthly_budget=100)
    await billed(ws, dataset_file, 40.0)
    running = create_job(ws, dataset_id=list_jobs(ws)[0].dataset_id)
    set_job_columns(ws, running.id, current_cost=2.5, status="running")
    spend = month_spend(ws)
    assert (spend.billed, spend.running, spend.total, spend.budget) == (40.0, 2.5, 42.5, 100.0)


async def test_a_submit_past_the_budget_is_refused_unless_forced(make_workspace, dataset_file):
    ws = make_workspace(monthly_budget=10)
    await billed(ws, dataset_file, 8.0)
    dataset_id = list_jobs(ws)[0].dataset_id
    refused = r"\$8\.00 of your \$10\.00 budget .*\(about \$4\.50\) would take it to \$12\.50, past"
    with pytest.raises(BudgetExceededError, match=refused):
        create_job(ws, dataset_id=dataset_id, gpu_type="H100", rules={"max_hours": 1})
    assert len(list_jobs(ws)) == 1
    forced = create_job(ws, dataset_id=dataset_id, gpu_type="H100", rules={"max_hours": 1}, force=True)
    assert forced.max_hours == 1
    # within the budget, a CPU job, or no budget at all: never refused
    create_job(ws, dataset_id=dataset_id, gpu_type="T4", expected_hours=1)  # $0.35 → $8.35
    create_job(ws, dataset_id=dataset_id, gpu_type="cpu", expected_hours=1000)


async def test_a_paid_job_is_refused_once_the_budget_is_spent(make_workspace, dataset_file):
    ws = make_workspace(monthly_budget=10)
    await billed(ws, dataset_file, 10.0)
    # no finished run of the dataset: the estimate is the stated guess of an hour at the T4's rate
    with pytest.raises(BudgetExceededError, match=r"this job \(about \$0\.35\) would take it to \$10\.35"):
        create_job(ws, dataset_id=list_jobs(ws)[0].dataset_id, gpu_type="T4")


def test_the_estimate_is_the_run_time_within_the_caps():
    assert job_estimate(2.0) is None
    assert job_estimate(2.0, expected_hours=3) == 6.0
    assert job_estimate(2.0, expected_hours=3, max_cost=5) == 5.0
    assert job_estimate(2.0, max_hours=1, max_cost=5) == 2.0
    assert job_estimate(2.0, max_cost=5) == 5.0


async def test_80_and_100_percent_warn_once_each_however_many_schedulers(make_workspace, dataset_file):
    ws, other = make_workspace(monthly_budget=10), make_workspace(monthly_budget=10)
    job_id = await billed(ws, dataset_file, 7.0)
    schedulers = [Scheduler(ws), Scheduler(other), Scheduler(ws)]
    await asyncio.gather(*(s.run_once() for s in schedulers))
    assert budget_notes(ws) == []
    with ws.db.write() as session:
        session.execute(update(CostRecordRow).where(CostRecordRow.job_id == job_id).values(amount=8.4))
    for _ in range(2):
        await asyncio.gather(*(s.run_once() for s in schedulers))
    assert budget_notes(ws) == [("job_warning", "80 % of the monthly budget spent")]
    with ws.db.write() as session:
        session.execute(update(CostRecordRow).where(CostRecordRow.job_id == job_id).values(amount=10.2))
    for _ in range(2):
        await asyncio.gather(*(s.run_once() for s in schedulers))
    assert budget_notes(ws) == [
        ("job_warning", "80 % of the monthly budget spent"),
        ("job_warning", "Monthly budget reached: $10.20 of $10.00"),
    ]


async def test_a_scheduler_of_all_users_gives_no_ones_budget_warnings(make_workspace, dataset_file):
    ws = make_workspace(monthly_budget=10)
    await billed(ws, dataset_file, 9.0)
    await Scheduler(ws, all_users=True).run_once()
    assert budget_notes(ws) == []
    await Scheduler(ws).run_once()
    assert [t for _, t in budget_notes(ws)] == ["80 % of the monthly budget spent"]
