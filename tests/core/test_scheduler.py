"""The scheduler cycle of SPEC §5 against the fake GPU cluster, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta

import pytest
from sqlalchemy import update

from core.db.models import DatasetRow, JobRow, utcnow
from core.jobs.service import get_job
from core.records import JobStatus
from core.scheduler import Scheduler
from tests.core.helpers import (
    CostRecordRow,
    NotificationRow,
    count,
    notification_types,
    queue_jobs,
    run_cycles,
    set_job_columns,
)
from tests.fakes.cluster import JobPlan


async def test_job_runs_from_queued_to_completed(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file, gpu_type="A10G", gpu_count=2)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=40, total_epochs=2, steps_per_poll=10))
    scheduler = Scheduler(ws)

    await scheduler.run_once()
    started = get_job(ws, job_id=job.id).job
    assert started.status in (JobStatus.INITIALIZING, JobStatus.RUNNING)
    assert started.external_job_id in fake_cluster.jobs
    assert started.started_at is not None
    request = fake_cluster.jobs[started.external_job_id].request
    assert request["job_id"] == job.id
    assert request["gpu_config"] == {"gpu_type": "A10G", "gpu_count": 2}
    assert request["dataset_url"].startswith("file://") and "signature=" in request["dataset_url"]

    detail = await run_cycles(scheduler, ws, job.id, until="completed")
    assert [p.step for p in detail.metrics] == list(range(1, 41))
    assert [p.grad_norm for p in detail.metrics] == [0.5 + step / 1000 for step in range(1, 41)]
    assert detail.job.current_metrics["grad_norm"] == 0.54
    assert detail.job.progress == 100.0
    assert detail.job.current_step == 40 and detail.job.current_epoch == 2
    assert detail.job.final_cost is not None and detail.job.completed_at is not None
    assert len(detail.cost_records) == 1
    assert detail.cost_records[0].amount == detail.job.final_cost
    assert detail.cost_records[0].billing_period == detail.job.completed_at.strftime("%Y-%m")
    assert notification_types(ws, job.id) == [
        "job_started",
        "job_progress",
        "job_progress",
        "job_progress",
        "job_completed",
    ]
    assert fake_cluster.submit_calls == 1

    await scheduler.run_once()  # a terminal job is left alone
    assert count(ws, CostRecordRow, job_id=job.id) == 1
    assert notification_types(ws, job.id).count("job_completed") == 1


async def test_cost_is_rate_times_gpus_times_hours(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file, gpu_type="H100", gpu_count=4)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=100, steps_per_poll=1))
    scheduler = Scheduler(ws)
    await scheduler.run_once()
    set_job_columns(ws, job.id, started_at=utcnow() - timedelta(hours=2))
    await scheduler.run_once()
    cost = get_job(ws, job_id=job.id).job.current_cost
    assert cost == pytest.approx(ws.settings.gpu_rates["H100"] * 4 * 2, rel=1e-3)


async def test_cost_counts_the_run_time_the_cluster_reports(make_workspace, fake_cluster, dataset_file):
    """A job that ran 1 s on the cluster and is seen finished 2 s later is billed for 1 s, from
    the `started_at`/`completed_at` of the status answer, not for the time until it was seen."""
    fake_cluster.report_times()
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file, gpu_type="H100", gpu_count=4)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=20, seconds_per_step=0.05))
    scheduler = Scheduler(ws)
    await scheduler.run_once()
    await asyncio.sleep(3.0)  # the run ends after 1 s; nobody looks before 3 s
    await scheduler.run_once()

    detail = get_job(ws, job_id=job.id)
    (ran,) = fake_cluster.jobs.values()
    assert detail.job.status is JobStatus.COMPLETED and ran.status == "completed"
    assert (detail.job.started_at, detail.job.completed_at) == (ran.started_at, ran.completed_at)
    assert detail.job.final_cost == pytest.approx(4.50 * 4 * 1.0 / 3600, rel=1e-3)
    assert detail.cost_records[0].details["hours"] == pytest.approx(1.0 / 3600, rel=1e-2)


async def test_missing_dataset_file_fails_the_job(make_workspace, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    with ws.db.read() as session:
        dataset = session.get(DatasetRow, job.dataset_id)
    ws.storage.object_file(dataset.storage_bucket, dataset.storage_path).unlink()

    detail = await run_cycles(Scheduler(ws), ws, job.id, until="failed", limit=1)
    assert "missing from storage" in detail.job.error_message
    assert notification_types(ws, job.id) == ["job_failed"]
    assert len(detail.cost_records) == 1 and detail.cost_records[0].amount == 0


async def test_unknown_bucket_fails_the_job(make_workspace, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    with ws.db.write() as session:
        session.execute(update(DatasetRow).values(storage_bucket="nowhere"))
    detail = await run_cycles(Scheduler(ws), ws, job.id, until="failed", limit=1)
    assert "unknown bucket 'nowhere'" in detail.job.error_message


async def test_null_bucket_means_lora_datasets(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)  # stored in lora-datasets by default
    with ws.db.write() as session:
        session.execute(update(DatasetRow).values(storage_bucket=None))
    await Scheduler(ws).run_once()
    external = get_job(ws, job_id=job.id).job.external_job_id
    assert "/lora-datasets/" in fake_cluster.jobs[external].request["dataset_url"]


async def test_rejected_submission_keeps_the_clusters_message(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.reject_submissions(422, "gpu_count 2 exceeds the quota of 1")
    detail = await run_cycles(Scheduler(ws), ws, job.id, until="failed", limit=1)
    assert "gpu_count 2 exceeds the quota of 1" in detail.job.error_message
    assert notification_types(ws, job.id) == ["job_failed"]


@pytest.mark.parametrize("fault", ["503", "429", "garbage", "timeout", "refused"])
async def test_transient_submit_failure_keeps_the_job_queued_with_back_off(
    make_workspace, fake_cluster, dataset_file, fault
):
    ws = make_workspace(read_timeout=0.3)
    (job,) = queue_jobs(ws, dataset_file)
    if fault == "garbage":
        fake_cluster.answer_garbage(times=None, endpoint="submit")
    elif fault == "timeout":
        fake_cluster.stall(2.0, times=None, endpoint="submit")
    elif fault == "refused":
        from core.cluster.http import HttpCluster

        ws.use_backend(HttpCluster("http://127.0.0.1:9", "test-token", connect_timeout=1))
    else:
        fake_cluster.fail_with(int(fault), times=None, endpoint="submit")
    scheduler = Scheduler(ws, max_submit_attempts=3)

    await scheduler.run_once()
    after_one = get_job(ws, job_id=job.id).job
    assert after_one.status is JobStatus.QUEUED
    await scheduler.run_once()  # still backing off: not retried at once
    with ws.db.read() as session:
        row = session.get(JobRow, job.id)
        assert row.submit_attempts == 1 and row.next_attempt_at > utcnow()
    assert notification_types(ws, job.id) == []

    for _ in range(2):  # back-off over, twice more: the third attempt fails the job
        set_job_columns(ws, job.id, next_attempt_at=utcnow() - timedelta(seconds=1))
        await scheduler.run_once()
    failed = get_job(ws, job_id=job.id).job
    assert failed.status is JobStatus.FAILED
    assert "could not submit after 3 attempts" in failed.error_message


async def test_transient_failure_then_success_submits(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.fail_with(500, times=1, endpoint="submit")
    scheduler = Scheduler(ws)
    await scheduler.run_once()
    set_job_columns(ws, job.id, next_attempt_at=utcnow())
    await scheduler.run_once()
    assert get_job(ws, job_id=job.id).job.status is not JobStatus.QUEUED
    assert len(fake_cluster.jobs) == 1


@pytest.mark.parametrize("endpoint", ["submit", "status"])
async def test_revoked_token_changes_nothing_and_notifies_once(
    make_workspace, fake_cluster, dataset_file, endpoint
):
    ws = make_workspace()
    jobs = queue_jobs(ws, dataset_file, count=3)
    scheduler = Scheduler(ws)
    if endpoint == "status":
        await scheduler.run_once()
    before = {j.id: get_job(ws, job_id=j.id).job for j in jobs}
    fake_cluster.revoke_token()

    for _ in range(3):
        await scheduler.run_once()
    for job in jobs:
        after = get_job(ws, job_id=job.id).job
        assert (after.status, after.current_step) == (before[job.id].status, before[job.id].current_step)
    assert notification_types(ws).count("cluster_auth_failed") == 1
    assert count(ws, NotificationRow, type="cluster_auth_failed", read=False) == 1


async def test_auth_notification_returns_after_it_was_read(make_workspace, fake_cluster, dataset_file):
    from core.notifications import mark_read

    ws = make_workspace()
    queue_jobs(ws, dataset_file)
    fake_cluster.revoke_token()
    scheduler = Scheduler(ws)
    await scheduler.run_once()
    mark_read(ws)
    await scheduler.run_once()
    assert notification_types(ws).count("cluster_auth_failed") == 2
    assert count(ws, NotificationRow, type="cluster_auth_failed", read=False) == 1


@pytest.mark.parametrize("fault", ["503", "timeout"])  # garbage: tests/core/test_hostile_cluster.py
async def test_transient_poll_failure_changes_nothing(make_workspace, fake_cluster, dataset_file, fault):
    ws = make_workspace(read_timeout=0.3)
    (job,) = queue_jobs(ws, dataset_file)
    scheduler = Scheduler(ws)
    await scheduler.run_once()
    await scheduler.run_once()
    before = get_job(ws, job_id=job.id)
    if fault == "timeout":
        fake_cluster.stall(2.0, times=2, endpoint="status")
    else:
        fake_cluster.fail_with(503, times=2, endpoint="status")
    await scheduler.run_once()
    await scheduler.run_once()
    after = get_job(ws, job_id=job.id)
    assert after.job.status == before.job.status
    assert after.job.current_step == before.job.current_step
    assert len(after.metrics) == len(before.metrics)
    await run_cycles(scheduler, ws, job.id, until="completed")


async def test_job_the_cluster_forgets_fails_after_three_404s(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    scheduler = Scheduler(ws)
    await scheduler.run_once()
    fake_cluster.forget_job(get_job(ws, job_id=job.id).job.external_job_id)
    await scheduler.run_once()
    await scheduler.run_once()
    assert get_job(ws, job_id=job.id).job.status is not JobStatus.FAILED
    await scheduler.run_once()
    failed = get_job(ws, job_id=job.id).job
    assert failed.status is JobStatus.FAILED
    assert failed.error_message == "job not found on the cluster"


async def test_404s_not_in_a_row_do_not_fail(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=100, steps_per_poll=5))
    scheduler = Scheduler(ws)
    await scheduler.run_once()
    for _ in range(2):
        fake_cluster.fail_with(404, times=2, endpoint="status")
        await scheduler.run_once()
        await scheduler.run_once()
        await scheduler.run_once()  # answers normally: the count starts again
    assert get_job(ws, job_id=job.id).job.status is JobStatus.RUNNING


async def test_cluster_reported_failure(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(
        job.id, JobPlan(total_steps=20, outcome="failed", error_message="CUDA out of memory")
    )
    detail = await run_cycles(Scheduler(ws), ws, job.id, until="failed")
    assert detail.job.error_message == "CUDA out of memory"
    assert notification_types(ws, job.id)[-1] == "job_failed"
    assert len(detail.cost_records) == 1


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
async def test_non_finite_loss_is_stored_empty_with_one_warning(
    make_workspace, fake_cluster, dataset_file, bad
):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=30, steps_per_poll=10, losses={12: bad, 25: bad}))
    detail = await run_cycles(Scheduler(ws), ws, job.id, until="completed")
    by_step = {p.step: p for p in detail.metrics}
    assert by_step[12].training_loss is None and by_step[25].training_loss is None
    assert by_step[13].training_loss is not None
    assert notification_types(ws, job.id).count("job_warning") == 1


async def test_without_history_the_current_metrics_become_the_point(
    make_workspace, fake_cluster, dataset_file
):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=30, steps_per_poll=10))
    fake_cluster.omit_history()
    detail = await run_cycles(Scheduler(ws), ws, job.id, until="completed")
    assert [p.step for p in detail.metrics] == [10, 20, 30]
    assert detail.metrics[0].training_loss == pytest.approx(
        fake_cluster.jobs[detail.job.external_job_id].metrics_at(10)["training_loss"]
    )


async def test_polls_ask_only_for_new_steps(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=30, steps_per_poll=10))
    await run_cycles(Scheduler(ws), ws, job.id, until="completed")
    asked = [path for method, path in fake_cluster.recent_requests if "/training/status/" in path]
    assert asked[1].endswith("since_step=10") and asked[2].endswith("since_step=20")


async def test_scheduler_works_on_its_own_users_jobs_only(make_workspace, fake_cluster, dataset_file):
    alice, bob = make_workspace("alice"), make_workspace("bob")
    (alice_job,) = queue_jobs(alice, dataset_file)
    (bob_job,) = queue_jobs(bob, dataset_file)
    await Scheduler(alice).run_once()
    assert get_job(alice, job_id=alice_job.id).job.status is not JobStatus.QUEUED
    assert get_job(bob, job_id=bob_job.id).job.status is JobStatus.QUEUED

    await Scheduler(alice, all_users=True).run_once()
    assert get_job(bob, job_id=bob_job.id).job.status is not JobStatus.QUEUED


async def test_one_broken_job_does_not_stop_the_others(
    make_workspace, fake_cluster, dataset_file, monkeypatch
):
    from core.scheduler import transitions

    ws = make_workspace()
    good, bad = queue_jobs(ws, dataset_file, count=2)
    scheduler = Scheduler(ws)
    await scheduler.run_once()
    good_step, bad_step = (get_job(ws, job_id=j.id).job.current_step for j in (good, bad))
    plan_status = transitions.plan_status

    def plan_or_break(claimed, report, **kwargs):
        if claimed.job.id == bad.id:
            raise RuntimeError("disk full")
        return plan_status(claimed, report, **kwargs)

    monkeypatch.setattr(transitions, "plan_status", plan_or_break)
    report = await scheduler.run_once()
    assert report.errors == 1
    assert get_job(ws, job_id=good.id).job.current_step > good_step
    assert get_job(ws, job_id=bad.id).job.current_step == bad_step
    monkeypatch.undo()
    # The broken job's claim is not lost for good: once it expires, a later cycle records it.
    set_job_columns(ws, bad.id, claim_expires_at=utcnow() - timedelta(seconds=1))
    await scheduler.run_once()
    assert get_job(ws, job_id=bad.id).job.current_step > bad_step


async def test_submit_attempts_come_from_the_settings(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace(max_submit_attempts=1)
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.fail_with(503, times=None, endpoint="submit")
    detail = await run_cycles(Scheduler(ws), ws, job.id, until="failed", limit=1)
    assert "could not submit after 1 attempt:" in detail.job.error_message


async def test_rounds_overlap_and_still_poll_every_job_once(
    make_workspace, fake_cluster, dataset_file, monkeypatch
):
    """While a round's answers are being written, the next round is claimed and polled; every
    job is still polled once per cycle and every answer recorded."""
    import time

    from core.scheduler import transitions

    ws = make_workspace()
    jobs = queue_jobs(ws, dataset_file, count=7)
    scheduler = Scheduler(ws, batch_size=3)  # rounds of 3, 3 and 1
    await scheduler.run_once()
    steps_before = {j.id: get_job(ws, job_id=j.id).job.current_step for j in jobs}
    polls_before = fake_cluster.status_calls
    record_statuses = transitions.record_statuses
    overlapped: list[bool] = []

    def record_after_next_round_polled(session, answers, **kwargs):
        if not overlapped:  # the first round's record waits for the second round's polls
            deadline = time.monotonic() + 10
            while fake_cluster.status_calls < polls_before + 6 and time.monotonic() < deadline:
                time.sleep(0.01)
            overlapped.append(fake_cluster.status_calls >= polls_before + 6)
        return record_statuses(session, answers, **kwargs)

    monkeypatch.setattr(transitions, "record_statuses", record_after_next_round_polled)
    report = await scheduler.run_once()

    assert overlapped == [True]
    assert report.polled == 7 and report.errors == 0
    assert fake_cluster.status_calls == polls_before + 7
    assert all(get_job(ws, job_id=j.id).job.current_step > steps_before[j.id] for j in jobs)
    assert not scheduler._in_hand  # every claim given back
