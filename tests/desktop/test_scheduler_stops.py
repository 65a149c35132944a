"""The app's embedded scheduler stops on quit whatever is in flight, and stops by itself, saying
why in the window, when the database moves past this build's schema (issue 23, items 6 and 10)."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from core.cluster.http import HttpCluster
from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.jobs.service import create_job
from core.workspace import Workspace
from desktop.app import DesktopApp
from desktop.scheduler_thread import SchedulerThread
from tests.conftest import TOKEN
from tests.fakes.cluster import FakeCluster


def _until(condition, guard: float = 60.0) -> None:
    end = time.monotonic() + guard  # a guard against hanging, not a measurement
    while not condition():
        assert time.monotonic() < end
        time.sleep(0.05)


def test_quitting_stops_the_embedded_scheduler_while_a_poll_drips(home: Path, dataset_file: Path):
    with FakeCluster(TOKEN) as fake:
        settings = load_settings(
            {
                "home": str(home),
                "user": "erin",
                "cluster": "http",
                "cluster_url": fake.url,
                "poll_interval": 1,
            }
        )
        ws = Workspace.open(settings)
        ws.use_backend(HttpCluster(fake.url, TOKEN))  # the 30 s deadline of SPEC §4
        dataset = add_dataset(ws, file=dataset_file)
        create_job(ws, dataset_id=dataset.id, name="dripping")
        fake.drip(1.0)  # every status answer, one byte a second
        thread = SchedulerThread(ws)
        thread.start()
        try:
            _until(lambda: fake.requests_by_endpoint["status"] > 0)
            thread.stop(timeout=25)
            assert not thread.running  # stopped under the poll's deadline, not after it
            _until(lambda: fake.cut_answers >= 1)  # the drip was cut, never finished
        finally:
            thread.stop()
            ws.close()


def test_the_window_says_why_the_scheduler_stopped_when_the_schema_moved(qapp, qtbot, home: Path):
    settings = load_settings({"home": str(home), "user": "erin", "poll_interval": 1})
    app = DesktopApp(qapp, settings)
    try:
        app.start()
        qtbot.waitUntil(lambda: app.session is not None and app.session.scheduler is not None, timeout=20_000)
        with app.session.ws.db.write() as session:  # a newer Loradesk upgraded the database
            session.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
        banner = app.window.banner
        qtbot.waitUntil(lambda: banner.isVisible() and "0099_future" in banner.text(), timeout=20_000)
        assert "the scheduler stopped: upgrade Loradesk" in banner.text()
        qtbot.waitUntil(lambda: not app.session.scheduler.running, timeout=20_000)
        app.window.status.show_state()
        assert app.window.status.state_label.text() == "Scheduler stopped"
    finally:
        app.shutdown()
        app.window.close()
        app.deleteLater()
