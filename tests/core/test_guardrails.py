"""Guardrails enforced by the scheduler (SQLite and PostgreSQL, the fake cluster over HTTP): each
rule stops its job once, says why, and goes through the normal cancel path."""

from __future__ import annotations

import asyncio
import math
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.config import save_settings
from core.db import job_store
from core.db.models import NotificationRow, utcnow
from core.errors import InvalidRequestError
from core.jobs.service import get_job, list_jobs, set_rules
from core.records import JobStatus
from core.scheduler import Scheduler
from core.scheduler.worker import CycleReport
from tests.core.helpers import queue_jobs, run_cycles, set_job_columns
from tests.fakes.cluster import JobPlan


def notes(ws, job_id, type_=None):
    with ws.db.read() as session:
        query = (
            select(NotificationRow)
            .where(NotificationRow.job_id == job_id)
            .order_by(NotificationRow.change_seq)
        )
        rows = list(session.scalars(query))
    return [(n.type, n.title, n.message) for n in rows if type_ is None or n.type == type_]


def assert_stopped_once(ws, fake_cluster, job_id, reason):
    """Cancelled through the cluster (one cancel call), with the reason in the job and in its one
    job_cancelled notification."""
    job = get_job(ws, job_id=job_id).job
    assert job.status is JobStatus.CANCELLED
    assert re.fullmatch(reason, job.stop_reason), job.stop_reason
    assert fake_cluster.jobs[job.external_job_id].status == "cancelled"
    assert fake_cluster.cancel_calls == 1
    (cancelled,) = notes(ws, job_id, "job_cancelled")
    assert cancelled[1].endswith("stopped by a guardrail")
    assert cancelled[2].startswith(f"Stopped: {job.stop_reason}; cost $")
    assert len(get_job(ws, job_id=job_id).cost_records) == 1
    return job


async def test_plateau_stops_a_job_whose_validation_loss_rises(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file, rules={"stop_on_plateau": 5})
    # falls until step 12, then rises: every later evaluation is worse
    losses = {s: 2.0 - 0.1 * s if s <= 12 else 0.8 + 0.01 * (s - 12) for s in range(1, 201)}
    fake_cluster.plan_job(job.id, JobPlan(total_steps=200, steps_per_poll=4, losses=losses))
    scheduler = Scheduler(ws)
    await run_cycles(scheduler, ws, job.id, until="running")
    seen = []
    for _ in range(10):
        await scheduler.run_once()
        now = get_job(ws, job_id=job.id).job
        seen.append(now.evaluations_since_best)
        if now.status.is_terminal:
            break
    job_now = assert_stopped_once(
        ws,
        fake_cluster,
        job.id,
        r"\d+ evaluations without a better validation loss \(best validation loss 0\.85\)",
    )
    assert job_now.best_validation_loss == pytest.approx(0.85)  # step 12's 0.8 + the fake's 0.05
    assert job_now.evaluations_since_best >= 5
    assert any(0 < n < 5 for n in seen)  # it counted up to the rule before firing
    assert job_now.current_step < 40  # stopped on the plateau, not run to the end


async def test_a_falling_loss_never_fires_the_plateau_rule(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file, rules={"stop_on_plateau": 2})
    fake_cluster.plan_job(job.id, JobPlan(total_steps=40, steps_per_poll=10))
    detail = await run_cycles(Scheduler(ws), ws, job.id, until=("completed", "cancelled"))
    assert detail.job.status is JobStatus.COMPLETED and detail.job.stop_reason is None
    assert detail.job.evaluations_since_best == 0
    assert fake_cluster.cancel_calls == 0


async def test_a_nan_loss_stops_the_job(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file, rules={"stop_on_nan": True})
    fake_cluster.plan_job(job.id, JobPlan(total_steps=100, steps_per_poll=10, losses={25: math.nan}))
    await run_cycles(Scheduler(ws), ws, job.id, until="cancelled", limit=10)
    stopped = assert_stopped_once(ws, fake_cluster, job.id, r"the loss was NaN at step 25")
    assert stopped.nan_loss_step == 25 and stopped.current_step == 30
    types = [n[0] for n in notes(ws, job.id)]
    assert types.count("job_warning") == 1 and types[-1] == "job_cancelled"  # the NaN warning, then the stop


async def test_without_the_rule_a_nan_only_warns(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=40, steps_per_poll=10, losses={15: math.inf}))
    detail = await run_cycles(Scheduler(ws), ws, job.id, until=("completed", "cancelled"))
    assert detail.job.status is JobStatus.COMPLETED and detail.job.nan_loss_step == 15
    assert fake_cluster.cancel_calls == 0


async def test_a_cost_cap_warns_at_80_percent_then_stops(home, make_workspace, fake_cluster, dataset_file):
    save_settings(home, {"gpu_rates": {"H100": 1800.0}})  # $0.50 a second
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file, gpu_type="H100", rules={"max_cost": 1.0})
    fake_cluster.plan_job(job.id, JobPlan(total_steps=100_000, steps_per_poll=1))
    scheduler = Scheduler(ws)
    for _ in range(400):
        await scheduler.run_once()
        if get_job(ws, job_id=job.id).job.status.is_terminal:
            break
        await asyncio.sleep(0.02)
    stopped = assert_stopped_once(ws, fake_cluster, job.id, r"cost reached \$1\.\d\d of \$1\.00")
    assert stopped.final_cost >= 1.0
    warning, cancelled = notes(ws, job.id)[-2:]
    assert warning[0] == "job_warning" and "of its cost cap" in warning[1]
    assert re.match(r"Cost cap: \$0\.[89]\d of \$1\.00\.", warning[2])
    assert cancelled[0] == "job_cancelled"
    assert stopped.guardrail_warnings == ["cost:1"]


async def test_a_time_cap_warns_then_stops(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file, rules={"max_hours": 2.5})
    fake_cluster.plan_job(job.id, JobPlan(total_steps=100_000, steps_per_poll=1))
    scheduler = Scheduler(ws)
    await run_cycles(scheduler, ws, job.id, until="running")
    set_job_columns(ws, job.id, started_at=utcnow() - timedelta(hours=2, minutes=1))
    await scheduler.run_once()
    await scheduler.run_once()
    assert get_job(ws, job_id=job.id).job.status is JobStatus.RUNNING
    (warning,) = notes(ws, job.id, "job_warning")
    assert "of its time cap" in warning[1] and warning[2].startswith("Time cap: 2 h 01 min of 2 h 30 min.")
    set_job_columns(ws, job.id, started_at=utcnow() - timedelta(hours=3))
    await scheduler.run_once()
    assert_stopped_once(ws, fake_cluster, job.id, r"run time reached 3 h of 2 h 30 min")
    assert len(notes(ws, job.id, "job_warning")) == 1


async def test_two_schedulers_racing_stop_the_job_once(make_workspace, fake_cluster, dataset_file):
    first, second = make_workspace(), make_workspace()
    (job,) = queue_jobs(first, dataset_file, rules={"max_hours": 1.0})
    fake_cluster.plan_job(job.id, JobPlan(total_steps=100_000, steps_per_poll=1))
    a, b = Scheduler(first), Scheduler(second)
    await run_cycles(a, first, job.id, until="running")
    set_job_columns(first, job.id, started_at=utcnow() - timedelta(hours=2))
    fake_cluster.stall(0.5, endpoint="cancel")  # the first cancel answers slowly: time for others to try

    async def keep_cycling(scheduler: Scheduler) -> None:
        for _ in range(8):
            await asyncio.gather(scheduler.run_once(), scheduler.poll_watched(job.id))
            await asyncio.sleep(0.05)

    await asyncio.gather(keep_cycling(a), keep_cycling(b))
    assert_stopped_once(first, fake_cluster, job.id, r"run time reached 2 h of 1 h")
    assert len(notes(first, job.id, "job_warning")) == 0  # past the cap at once: no 80 % warning


async def test_only_the_first_writer_records_the_stop(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    barrier = threading.Barrier(2)
    won: list[object] = []

    def stop(owner: str) -> None:
        barrier.wait()
        with ws.db.write() as session:
            won.append(
                job_store.record_stop(
                    session, job.id, f"by {owner}", owner=owner, lease=timedelta(seconds=30), now=utcnow()
                )
            )

    threads = [threading.Thread(target=stop, args=(o,)) for o in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(1 for w in won if w is not None) == 1


async def test_a_stop_held_by_another_scheduler_is_left_to_it_until_its_claim_lapses(
    make_workspace, fake_cluster, dataset_file
):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file, rules={"max_hours": 1.0})
    fake_cluster.plan_job(job.id, JobPlan(total_steps=100_000, steps_per_poll=1))
    scheduler = Scheduler(ws)
    await run_cycles(scheduler, ws, job.id, until="running")
    with ws.db.write() as session:  # a scheduler that records the stop and dies before cancelling
        job_store.record_stop(
            session,
            job.id,
            "run time reached 2 h of 1 h",
            owner="dead",
            lease=timedelta(seconds=1),
            now=utcnow(),
        )
    await scheduler.process_cancels(CycleReport())
    await scheduler.run_once()
    assert fake_cluster.cancel_calls == 0  # the holder's to carry out
    set_job_columns(ws, job.id, claim_expires_at=utcnow() - timedelta(seconds=1))  # the claim lapses
    await scheduler.run_once()
    assert_stopped_once(ws, fake_cluster, job.id, r"run time reached 2 h of 1 h")


async def test_a_stop_waits_for_an_unreachable_cluster(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file, rules={"max_hours": 1.0})
    fake_cluster.plan_job(job.id, JobPlan(total_steps=100_000, steps_per_poll=1))
    scheduler = Scheduler(ws)
    await run_cycles(scheduler, ws, job.id, until="running")
    set_job_columns(ws, job.id, started_at=utcnow() - timedelta(hours=1, minutes=30))
    fake_cluster.fail_with(503, times=None)  # status and cancel: the cluster is away
    await scheduler.run_once()
    pending = get_job(ws, job_id=job.id).job
    assert pending.is_cancelling and pending.stop_reason == "run time reached 1 h 30 min of 1 h"
    await scheduler.run_once()
    assert get_job(ws, job_id=job.id).job.status is JobStatus.RUNNING
    fake_cluster.clear_faults()
    detail = await run_cycles(scheduler, ws, job.id, until="cancelled", limit=2)
    assert detail.job.stop_reason == "run time reached 1 h 30 min of 1 h"
    assert len(notes(ws, job.id, "job_cancelled")) == 1
    assert fake_cluster.jobs[detail.job.external_job_id].status == "cancelled"


async def test_rules_change_while_the_job_runs(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file, rules={"max_cost": 50.0, "stop_on_nan": True})
    fake_cluster.plan_job(job.id, JobPlan(total_steps=100_000, steps_per_poll=1))
    scheduler = Scheduler(ws)
    await run_cycles(scheduler, ws, job.id, until="running")
    changed = set_rules(ws, job_id=job.id, rules={"max_cost": None, "stop_on_nan": False, "max_hours": 0.5})
    assert (changed.max_cost, changed.stop_on_nan, changed.max_hours) == (None, False, 0.5)
    set_job_columns(ws, job.id, started_at=utcnow() - timedelta(hours=1))
    await scheduler.run_once()
    assert_stopped_once(ws, fake_cluster, job.id, r"run time reached 1 h of 30 min")
    with pytest.raises(InvalidRequestError, match="already cancelled"):
        set_rules(ws, job_id=job.id, rules={"max_cost": 10})


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"max_cost": 0}, "cost cap"),
        ({"max_cost": -3}, "cost cap"),
        ({"max_hours": "soon"}, "max hours must be a number"),
        ({"stop_on_plateau": 0}, "stop on plateau"),
        ({"stop_on_plateau": 2.5}, "stop on plateau"),
    ],
)
async def test_a_rule_no_job_could_use_is_refused_before_anything_is_written(
    make_workspace, dataset_file, rules, message
):
    ws = make_workspace()
    with pytest.raises(InvalidRequestError, match=message):
        queue_jobs(ws, dataset_file, rules=rules)
    assert get_job_count(ws) == 0


def get_job_count(ws):
    return len(list_jobs(ws))
