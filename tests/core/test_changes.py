"""Changes ordered by the database: change numbers, not clocks; signals that wake a watcher."""

from __future__ import annotations

import threading
from datetime import timedelta

import numpy as np
import pytest

from core import notifications
from core.change_feed import ChangeFeed
from core.db.models import utcnow
from core.jobs import service as jobs_service
from core.jobs.metric_columns import read_metric_columns
from core.records import MetricPoint
from core.scheduler import Scheduler
from core.scheduler.metric_points import store_metric_points
from tests.core.helpers import queue_jobs
from tests.fakes.cluster import JobPlan


async def test_a_writer_whose_clock_is_off_loses_nothing(
    make_workspace, fake_cluster, dataset_file, monkeypatch
):
    """Two machines on one database, one clock ten minutes behind: the other still sees every
    job change and notification it writes."""
    viewer, writer = make_workspace(), make_workspace()
    (job,) = queue_jobs(writer, dataset_file)
    jobs_mark = jobs_service.jobs_changed_since(viewer, since=None).latest
    _, notes_mark = notifications.notifications_since(viewer, since=None)

    behind = utcnow() - timedelta(minutes=10)
    for module in ("core.scheduler.worker", "core.notifications", "core.scheduler.cancelling"):
        monkeypatch.setattr(f"{module}.utcnow", lambda: behind)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=100, steps_per_poll=10))
    await Scheduler(writer).run_once()  # submitted and polled: running, job_started

    changes = jobs_service.jobs_changed_since(viewer, since=jobs_mark)
    changed, jobs_mark_2 = changes.jobs, changes.latest
    assert [(j.id, j.status.value) for j in changed] == [(job.id, "running")]
    assert jobs_mark_2 > jobs_mark
    notes, _ = notifications.notifications_since(viewer, since=notes_mark)
    assert [n.type.value for n in notes] == ["job_started"]
    # and nothing comes twice once seen
    assert jobs_service.jobs_changed_since(viewer, since=jobs_mark_2).jobs == []


async def test_change_numbers_follow_commit_order(make_workspace, dataset_file):
    ws = make_workspace()
    first, second = queue_jobs(ws, dataset_file, count=2)
    changes = jobs_service.jobs_changed_since(ws, since=None)
    changed, mark = changes.jobs, changes.latest
    assert [j.id for j in changed] == [first.id, second.id]
    assert first.change_seq < second.change_seq <= mark
    await jobs_service.cancel_job(ws, job_id=first.id)
    changed = jobs_service.jobs_changed_since(ws, since=mark).jobs
    assert [(j.id, j.status.value) for j in changed] == [(first.id, "cancelled")]


async def test_the_feed_wakes_a_watcher_when_another_connection_commits(make_workspace, dataset_file):
    watcher, writer = make_workspace(), make_workspace()
    feed = ChangeFeed(watcher.db)
    try:
        assert feed.wait(0.2) is False  # nothing happened
        woke = threading.Event()
        thread = threading.Thread(target=lambda: feed.wait(10) and woke.set())
        thread.start()
        queue_jobs(writer, dataset_file)
        thread.join(10)
        assert woke.is_set()
    finally:
        feed.close()


@pytest.mark.parametrize("every", [1, 3])
async def test_metric_columns_come_from_the_driver(make_workspace, dataset_file, every):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    points = [
        MetricPoint(
            job_id=job.id,
            step=step,
            epoch=1,
            training_loss=None if step == 5 else 1.0 / step,
            throughput=100.0 + step,
            recorded_at=utcnow(),
        )
        for step in range(1, 11)
    ]
    with ws.db.write() as session:
        store_metric_points(session, points)
    with ws.db.read() as session:
        everything = read_metric_columns(session, job.id, every=every)
        after = read_metric_columns(session, job.id, after_step=7)
    steps = [s for s in range(1, 11) if s % every == 0]
    assert everything["step"].tolist() == steps
    loss = everything["training_loss"]
    assert np.isnan(loss[steps.index(5)]) if 5 in steps else True
    assert loss[0] == 1.0 / steps[0] and everything["throughput"].tolist() == [100.0 + s for s in steps]
    assert np.isnan(everything["validation_loss"]).all()
    assert after["step"].tolist() == [8, 9, 10] and after.last_step == 10
    detail = jobs_service.first_look_metrics(ws, job_id=job.id, at_most=4)
    assert detail is not None
    assert not detail.complete and detail.columns["step"].tolist() == [3, 6, 9]  # 10 / 4: every 3rd
    assert jobs_service.first_look_metrics(ws, job_id=job.id, at_most=10) is None  # as quick in full
    assert jobs_service.get_job_metrics(ws, job_id=job.id).complete


async def test_a_large_batch_of_points_is_stored_once(make_workspace, dataset_file):
    """Past COPY_FROM points PostgreSQL takes them by COPY; either way a step is stored once."""
    from core.scheduler.metric_points import COPY_FROM

    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    count = COPY_FROM + 500
    points = [
        MetricPoint(job_id=job.id, step=s, epoch=1, training_loss=1.0 / s, recorded_at=utcnow())
        for s in range(1, count + 1)
    ]
    for batch in (points[:100], points, points):  # overlapping batches, one in the same transaction
        with ws.db.write() as session:
            store_metric_points(session, batch)
            if batch is points:
                store_metric_points(session, points[-10:])
    with ws.db.read() as session:
        columns = read_metric_columns(session, job.id)
    assert columns["step"].tolist() == list(range(1, count + 1))
    assert np.allclose(columns["training_loss"], 1.0 / columns["step"])


async def test_a_large_new_batch_keeps_every_value_and_instant(make_workspace, dataset_file):
    """New points past COPY_FROM go straight into the table (binary COPY on PostgreSQL): each
    value and each instant comes back as it went in."""
    from sqlalchemy import select

    from core.db.models import MetricPointRow
    from core.scheduler.metric_points import COPY_FROM

    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    start = utcnow()
    points = [
        MetricPoint(job_id=job.id, step=s, epoch=1, training_loss=1.0 / s, validation_loss=None,
                    throughput=float(s), grad_norm=s / 7, recorded_at=start + timedelta(seconds=s))
        for s in range(1, COPY_FROM + 2)
    ]  # fmt: skip
    with ws.db.write() as session:
        store_metric_points(session, points)
    with ws.db.read() as session:
        rows = session.execute(
            select(MetricPointRow.step, MetricPointRow.training_loss, MetricPointRow.validation_loss,
                   MetricPointRow.throughput, MetricPointRow.grad_norm, MetricPointRow.recorded_at)
            .where(MetricPointRow.job_id == job.id).order_by(MetricPointRow.step)
        ).all()  # fmt: skip
    assert [tuple(row) for row in rows] == [
        (p.step, p.training_loss, None, p.throughput, p.grad_norm, p.recorded_at) for p in points
    ]
