"""Another process's changes reach the window when the database signals them, not a second later."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.db.models import utcnow
from core.jobs.service import create_job, delete_job, find_job
from core.jobs.tombstones import KEEP
from core.records import MetricPoint
from core.scheduler.metric_points import store_metric_points
from core.workspace import Workspace
from desktop.core_events import CoreEvents
from desktop.live_updates import LiveUpdates
from desktop.operations import Runner
from desktop.session import Session
from tests.core.helpers import set_job_columns

NEVER_MS = 600_000  # the fallback poll never fires during a test: only the signal can wake it


@pytest.fixture
def live(qtbot, home: Path, database_url: str):
    ws = Workspace.open(load_settings({"home": str(home), "database_url": database_url, "user": "alice"}))
    runner = Runner()
    updates = LiveUpdates(Session(ws, runner, CoreEvents()), interval_ms=NEVER_MS)
    yield updates, ws
    updates.stop()
    qtbot.waitUntil(lambda: runner.in_flight == 0, timeout=5000)
    runner.shutdown()
    ws.close()


def test_a_job_another_process_creates_arrives_by_the_signal(live, dataset_file, qtbot):
    updates, ws = live
    updates.start(jobs=[], notifications=[])
    qtbot.waitUntil(lambda: updates.jobs_since is not None, timeout=3000)  # its first look is done
    other = Workspace.open(ws.settings)
    try:
        dataset = add_dataset(other, file=dataset_file, name="theirs")
        with qtbot.waitSignal(updates.jobs_changed, timeout=3000) as changed:
            job = create_job(other, dataset_id=dataset.id, name="from elsewhere", gpu_type="cpu")
        assert [j.id for j in changed.args[0]] == [job.id]
    finally:
        other.close()


def test_the_watched_jobs_new_points_arrive_as_columns(live, dataset_file, qtbot):
    updates, ws = live
    other = Workspace.open(ws.settings)
    try:
        job = create_job(other, dataset_id=add_dataset(other, file=dataset_file).id, gpu_type="cpu")
        updates.watch(job.id, lambda: 2)
        updates.start(jobs=[], notifications=[])
        qtbot.waitUntil(lambda: updates.jobs_since is not None, timeout=3000)  # its first look is done
        points = [
            MetricPoint(job_id=job.id, step=s, training_loss=1.0 / s, recorded_at=utcnow()) for s in (1, 2, 3)
        ]
        with qtbot.waitSignal(updates.metrics_polled, timeout=3000) as polled, other.db.write() as session:
            store_metric_points(session, points)
        job_id, columns = polled.args
        assert job_id == job.id
        assert columns["step"].tolist() == [3.0]  # only after the step already held
        assert np.isclose(columns["training_loss"][0], 1 / 3)
    finally:
        other.close()


def test_a_job_another_process_deletes_is_reported_by_the_signal(live, dataset_file, qtbot):
    updates, ws = live
    other = Workspace.open(ws.settings)
    try:
        job = create_job(other, dataset_id=add_dataset(other, file=dataset_file).id, gpu_type="cpu")
        set_job_columns(other, job.id, status="completed")
        updates.start(jobs=[], notifications=[])
        qtbot.waitUntil(lambda: updates.jobs_since is not None, timeout=3000)  # its first look is done
        with qtbot.waitSignal(updates.jobs_deleted, timeout=3000) as deleted:
            delete_job(other, job_id=job.id)
        assert deleted.args == [[job.id]]
    finally:
        other.close()


def test_a_look_from_before_the_kept_deletions_lists_every_job(live, dataset_file, qtbot, monkeypatch):
    """The laptop slept past a week of deletions: the first look back lists every job instead."""
    updates, ws = live
    other = Workspace.open(ws.settings)
    try:
        dataset = add_dataset(other, file=dataset_file)
        old, recent, kept = (create_job(other, dataset_id=dataset.id, gpu_type="cpu") for _ in range(3))
        for job in (old, recent):
            set_job_columns(other, job.id, status="failed")
        asleep = [find_job(ws, job_id=job.id) for job in (old, recent, kept)]
        delete_job(other, job_id=old.id)
        monkeypatch.setattr("core.jobs.service.utcnow", lambda: utcnow() + KEEP + timedelta(days=1))
        delete_job(other, job_id=recent.id)  # prunes the tombstone of `old`

        with qtbot.waitSignal(updates.jobs_listed, timeout=3000) as listed:
            updates.start(jobs=asleep, notifications=[])
        jobs, latest = listed.args
        assert [job.id for job in jobs] == [kept.id] and latest >= kept.change_seq
    finally:
        other.close()
