"""A headless scheduler or the app started while its PostgreSQL server is down waits for it,
saying so once, and carries on when it is back (issue 23, item 15)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.config import load_settings
from desktop.app import DesktopApp
from tests.e2e.throwaway_postgres import ThrowawayPostgres

pytestmark = pytest.mark.postgres


@pytest.fixture
def stopped_postgres():
    with ThrowawayPostgres() as server:
        server.stop()
        yield server


def _lines(stream, into: list[str]) -> threading.Thread:
    reader = threading.Thread(target=lambda: into.extend(iter(stream.readline, "")), daemon=True)
    reader.start()
    return reader


def _until(condition, what: str, guard: float = 120.0) -> None:
    end = time.monotonic() + guard  # a guard against hanging, not a measurement
    while not condition():
        assert time.monotonic() < end, f"never saw {what}"
        time.sleep(0.1)


def test_a_headless_scheduler_waits_for_its_database_and_then_runs(stopped_postgres, home: Path):
    env = {
        **os.environ,
        "LORADESK_HOME": str(home),
        "LORADESK_DATABASE_URL": stopped_postgres.url,
        "LORADESK_USER": "postgres",
        "LORADESK_POLL_INTERVAL": "1",
    }
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "loradesk", "scheduler"], env=env, stderr=subprocess.PIPE, text=True
    )
    err: list[str] = []
    reader = _lines(scheduler.stderr, err)
    try:
        _until(lambda: any("waiting for it" in line for line in err), "the wait said")
        time.sleep(4)  # down long enough for a few more tries (1 s, 2 s, …): none says it again
        assert scheduler.poll() is None
        stopped_postgres.start()
        _until(lambda: any("scheduler" in line and "started" in line for line in err), "the start")
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(timeout=30) == 0
        reader.join(10)
        waits = [line for line in err if "waiting for it" in line]
        assert len(waits) == 1 and "Connection refused" in waits[0]
        assert not any("Traceback" in line for line in err)
    finally:
        scheduler.kill()


def test_the_app_waits_for_its_database_saying_so_in_the_window(stopped_postgres, qapp, qtbot, home: Path):
    settings = load_settings({"home": str(home), "user": "postgres", "database_url": stopped_postgres.url})
    app = DesktopApp(qapp, settings)
    try:
        app.start()
        banner = app.window.banner
        qtbot.waitUntil(lambda: "Waiting for the database" in banner.text(), timeout=30_000)
        assert app.window.state_label.text() == "Waiting for the database…"
        stopped_postgres.start()
        qtbot.waitUntil(lambda: app.session is not None, timeout=60_000)
        qtbot.waitUntil(lambda: not banner.isVisible(), timeout=10_000)
    finally:
        app.shutdown()
        app.window.close()
        app.deleteLater()
