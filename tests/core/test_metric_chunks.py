"""A run's points kept as compressed column chunks: moved when a window closes or the run ends,
read back as they went in (columns for the monitor, records for `jobs show`), deleted with the
job, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from sqlalchemy import func, insert, select

from core.db.metric_chunks import CHUNK_STEPS, Recorded, pack_finished, pack_points, pack_recorded
from core.db.models import MetricChunkRow, MetricPointRow, utcnow
from core.jobs import service as jobs_service
from core.jobs.metric_columns import COLUMNS, RECORDED_AT, read_metric_columns
from core.records import MetricPoint
from core.scheduler import Scheduler
from core.scheduler.metric_points import store_metric_points
from tests.core.helpers import count, queue_jobs, run_cycles
from tests.fakes.cluster import JobPlan


def made_points(job_id: str, steps: range) -> list[MetricPoint]:
    """Values of at most seven significant digits (what a float32 keeps), some missing."""
    start = utcnow()
    return [
        MetricPoint(
            job_id=job_id,
            step=s,
            epoch=1 + s // 5000,
            training_loss=round(2.5 / (1 + s / 1000), 5),
            validation_loss=round(0.1 + s / 10**6, 6) if s % 1000 == 0 else None,
            learning_rate=2e-4,
            throughput=1800.0 + s % 97,
            gpu_utilization=None,
            gpu_memory_used=20.5,
            grad_norm=0.3,
            recorded_at=start + timedelta(microseconds=1001 * s),
        )
        for s in steps
    ]


def stored(ws, job_id):
    with ws.db.read() as session:
        rows = session.scalar(select(func.count()).where(MetricPointRow.job_id == job_id))
        chunks = session.execute(
            select(MetricChunkRow.first_step, MetricChunkRow.last_step, MetricChunkRow.points)
            .where(MetricChunkRow.job_id == job_id)
            .order_by(MetricChunkRow.first_step)
        ).all()
    return rows, [tuple(chunk) for chunk in chunks]


async def test_a_closed_window_moves_into_a_chunk_and_reads_back_as_it_went_in(make_workspace, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    points = made_points(job.id, range(1, 25_001))
    with ws.db.write() as session:
        store_metric_points(session, points)
        # A recording that reached step 25,000: the windows before 20,000 are over.
        pack_recorded(session, [Recorded(job.id, last_step_before=None, last_step=25_000, ended=False)])
    rows, chunks = stored(ws, job.id)
    assert rows == 5001  # the live tail: steps 20,000 to 25,000
    assert chunks == [(1, CHUNK_STEPS - 1, CHUNK_STEPS - 1), (CHUNK_STEPS, 2 * CHUNK_STEPS - 1, CHUNK_STEPS)]

    with ws.db.read() as session:
        columns = read_metric_columns(session, job.id, names=(*COLUMNS, RECORDED_AT))
        after = read_metric_columns(session, job.id, after_step=12_345)
        thinned = read_metric_columns(session, job.id, every=7)
    assert columns["step"].tolist() == list(range(1, 25_001))
    for name in ("training_loss", "learning_rate", "throughput", "gpu_memory_used", "grad_norm"):
        np.testing.assert_allclose(columns[name], [getattr(p, name) for p in points], rtol=1e-6)
    assert np.isnan(columns["gpu_utilization"]).all()
    assert np.flatnonzero(np.isfinite(columns["validation_loss"])).tolist() == [
        s - 1 for s in range(1000, 25_001, 1000)
    ]
    assert columns["epoch"].tolist() == [1 + s // 5000 for s in range(1, 25_001)]
    instants = [p.recorded_at.timestamp() for p in points]
    chunked = 2 * CHUNK_STEPS - 1  # to the microsecond; SQLite's rows to the millisecond
    np.testing.assert_allclose(columns[RECORDED_AT][:chunked], instants[:chunked], rtol=0, atol=1e-6)
    np.testing.assert_allclose(columns[RECORDED_AT], instants, rtol=0, atol=1e-3)
    assert after["step"].tolist() == list(range(12_346, 25_001))
    assert thinned["step"].tolist() == list(range(7, 25_001, 7))


async def test_a_finished_run_moves_whole_and_jobs_show_lists_the_same_points(make_workspace, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    with ws.db.write() as session:
        store_metric_points(session, made_points(job.id, range(1, 12_001)))
    before = jobs_service.get_job(ws, job_id=job.id).metrics
    with ws.db.write() as session:
        assert pack_finished(session, job.id) == 12_000
    rows, chunks = stored(ws, job.id)
    assert rows == 0 and [c[2] for c in chunks] == [CHUNK_STEPS - 1, 2001]
    after = jobs_service.get_job(ws, job_id=job.id).metrics
    assert after == before  # every value and instant as it was in its row: 0.1 reads 0.1
    assert after[999].validation_loss == 0.101


async def test_a_small_finished_run_stays_in_rows(make_workspace, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    with ws.db.write() as session:
        store_metric_points(session, made_points(job.id, range(1, 101)))
        assert pack_finished(session, job.id) == 0
    assert stored(ws, job.id) == (100, [])


async def test_a_point_read_twice_across_a_move_is_kept_once(make_workspace, dataset_file):
    """Rows are read before chunks: a move committed in between shows its points in both, and
    the chunk's copy stands (here: the same step left in rows beside its chunk)."""
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    with ws.db.write() as session:
        store_metric_points(session, made_points(job.id, range(1, 101)))
        pack_points(session, job.id)
        session.execute(insert(MetricPointRow), [{"job_id": job.id, "step": 50, "training_loss": 99.0}])
        session.execute(insert(MetricPointRow), [{"job_id": job.id, "step": 101, "training_loss": 7.0}])
    with ws.db.read() as session:
        columns = read_metric_columns(session, job.id)
    assert columns["step"].tolist() == list(range(1, 102))
    assert columns["training_loss"][49] != 99.0 and columns["training_loss"][100] == 7.0
    assert [p.step for p in jobs_service.get_job(ws, job_id=job.id).metrics] == list(range(1, 102))


async def test_deleting_a_job_deletes_its_chunks(make_workspace, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    with ws.db.write() as session:
        store_metric_points(session, made_points(job.id, range(1, 201)))
        pack_points(session, job.id)
    await jobs_service.cancel_job(ws, job_id=job.id)
    jobs_service.delete_job(ws, job_id=job.id)
    assert count(ws, MetricChunkRow) == 0 and count(ws, MetricPointRow) == 0


async def test_the_scheduler_moves_a_long_run_into_chunks_as_it_goes_and_when_it_ends(
    make_workspace, fake_cluster, dataset_file
):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=2 * CHUNK_STEPS + 500, steps_per_poll=7000))
    scheduler = Scheduler(ws)
    await run_cycles(scheduler, ws, job.id, until="running")
    windows_closed = False
    for _ in range(10):
        await scheduler.run_once()
        rows, chunks = stored(ws, job.id)
        detail = jobs_service.get_job(ws, job_id=job.id)
        if detail.job.status.is_terminal:
            break
        if chunks:  # while it runs: closed windows in chunks, the rest in rows
            windows_closed = True
            assert rows < CHUNK_STEPS + 7000 and chunks[-1][1] < detail.job.current_step
    assert windows_closed and detail.job.status.value == "completed"
    assert stored(ws, job.id)[0] == 0  # ended: every point in chunks
    with ws.db.read() as session:
        columns = read_metric_columns(session, job.id)
    assert columns["step"].tolist() == list(range(1, 2 * CHUNK_STEPS + 501))
    assert [p.step for p in detail.metrics] == list(range(1, 2 * CHUNK_STEPS + 501))


async def test_a_recording_moves_a_bounded_share_of_a_run_never_moved_before(
    make_workspace, dataset_file, monkeypatch
):
    """A run recorded before migration 0012 (all its points in rows) is not moved whole inside one
    cycle's transaction: each recording moves at most MOVES_A_RECORDING statements of windows,
    and what is left in rows reads as before."""
    from core.db import metric_chunks

    monkeypatch.setattr(metric_chunks, "_WINDOWS_A_MOVE", 1)  # a statement: one window
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    with ws.db.write() as session:
        store_metric_points(session, made_points(job.id, range(1, 35_001)))
    with ws.db.write() as session:
        pack_recorded(session, [Recorded(job.id, last_step_before=29_000, last_step=35_000, ended=False)])
    assert stored(ws, job.id) == (35_000 - (CHUNK_STEPS - 1), [(1, CHUNK_STEPS - 1, CHUNK_STEPS - 1)])
    with ws.db.write() as session:
        assert pack_finished(session, job.id) == CHUNK_STEPS  # ended: one more window
        assert pack_points(session, job.id) == 35_000 - 2 * CHUNK_STEPS + 1  # unbounded: the rest
    with ws.db.read() as session:
        assert read_metric_columns(session, job.id)["step"].tolist() == list(range(1, 35_001))
