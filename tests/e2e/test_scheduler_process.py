"""A headless `loradesk scheduler` as a person runs it: SIGTERM stops it whatever is in flight,
and it stops by itself, saying why, when the database moves past its schema (issue 23, 6 and 10)."""

# ruff: noqa: F811 - `cli` is test_cli's fixture, taken as an argument

from __future__ import annotations

import signal
import subprocess
import sys
import time

from sqlalchemy import create_engine, text

from core.db.migrate import HEAD_REVISION
from tests.e2e.test_cli import cli  # noqa: F401 - the fixture
from tests.fakes.cluster import JobPlan


def _start(cli, dataset_file, fake_cluster, *, drip: bool = False) -> subprocess.Popen[str]:
    """A headless scheduler with one submitted job to poll (its answers dripping, if told)."""
    fake_cluster.default_plan = JobPlan(total_steps=1000, steps_per_poll=1)
    cli("datasets", "add", str(dataset_file), "--name", "sums")
    cli("jobs", "submit", "--dataset", "sums")
    cli("scheduler", "--once")  # submitted: from now on each cycle polls it
    if drip:
        fake_cluster.drip(1.0)
    return subprocess.Popen(
        [sys.executable, "-m", "loradesk", "scheduler"],
        env={**cli.env, "LORADESK_POLL_INTERVAL": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _until(condition, what: str, guard: float = 60.0) -> None:
    end = time.monotonic() + guard  # a guard against hanging, not a measurement
    while not condition():
        assert time.monotonic() < end, f"never saw {what}"
        time.sleep(0.05)


def test_sigterm_stops_a_scheduler_whose_poll_drips(cli, fake_cluster, dataset_file):
    """The status answer drips 1 byte/s (its 30 s deadline far away): SIGTERM still ends the
    process, cutting the poll short, and the dripping answer was never finished."""
    scheduler = _start(cli, dataset_file, fake_cluster, drip=True)
    polls = fake_cluster.requests_by_endpoint["status"]
    try:
        _until(lambda: fake_cluster.requests_by_endpoint["status"] > polls, "a poll in flight")
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(timeout=25) == 0  # under the request's 30 s deadline
        err = scheduler.stderr.read()
        assert "cut short" in err and "Traceback" not in err
        _until(lambda: fake_cluster.cut_answers >= 1, "the drip cut off by the client")
    finally:
        scheduler.kill()


def test_a_scheduler_stops_when_the_database_moves_past_its_schema(
    cli, fake_cluster, dataset_file, database_url
):
    scheduler = _start(cli, dataset_file, fake_cluster)
    try:
        polls = fake_cluster.requests_by_endpoint["status"]
        _until(lambda: fake_cluster.requests_by_endpoint["status"] > polls, "a cycle")
        engine = create_engine(database_url)
        try:
            with engine.begin() as conn:  # what a newer Loradesk's `db upgrade` leaves behind
                conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
        finally:
            engine.dispose()
        assert scheduler.wait(timeout=60) == 1
        err = scheduler.stderr.read()
        assert err.splitlines()[-1] == (
            "loradesk: the database is now at schema revision 0099_future, which this Loradesk "
            f"({HEAD_REVISION}) does not know; the scheduler stopped: upgrade Loradesk"
        )
        assert "Traceback" not in err
    finally:
        scheduler.kill()
