"""What the benchmarks of the app's window share: the database they fill, and the child process
that opens an offscreen MainWindow on it and watches how long the UI thread is blocked.

The measuring runs in a fresh process (`run_window_script`) so each one starts cold. Its script
begins with `WINDOW_PRELUDE`, which reads `url home` from the command line (the script reads the
rest), opens the workspace and the window, and defines what every measurement uses:
`show_window()`, `spin(condition, timeout)`, the 2 ms `ticker` whose `ui_blocks()` is the longest
UI-thread block, and `close()`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

METRIC_COLUMNS = ("job_id", "step", "epoch", "training_loss", "validation_loss", "learning_rate",
                  "throughput", "gpu_utilization", "gpu_memory_used", "recorded_at")  # fmt: skip

WINDOW_PRELUDE = r"""
import json, os, resource, sys, time
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
import psutil
from PySide6.QtCore import QElapsedTimer, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from core.config import load_settings
from core.workspace import Workspace
from desktop import theme
from desktop.core_events import CoreEvents
from desktop.main_window import MainWindow
from desktop.operations import Runner
from desktop.session import Session

url, home = sys.argv[1], sys.argv[2]
app = QApplication([])
theme.install(app, dark=False)
ws = Workspace.open(load_settings({"home": home, "database_url": url, "user": "bench"}, environ={}))
runner = Runner()
window = MainWindow()
def show_window():
    window.resize(1280, 800)
    window.show()
    window.attach(Session(ws, runner, CoreEvents()), live=False)
def spin(condition, timeout):
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise SystemExit("timed out")
        app.processEvents()
        time.sleep(0.001)
process = psutil.Process()
gaps, busy, clock = [], [], QElapsedTimer()
cpu = [0.0]
def tick():
    gaps.append(clock.restart())
    now = time.thread_time()  # the UI thread's own CPU time: what it spent, not what it waited
    busy.append((now - cpu[0]) * 1000)
    cpu[0] = now
ticker = QTimer(interval=2, timeout=tick)
def start_ticker():
    cpu[0] = time.thread_time()
    clock.start()
    ticker.start()
def ui_blocks():
    return {"block_ms": max(gaps[1:], default=0), "busy_ms": max(busy[1:], default=0)}
def close():
    window.detach()
    runner.shutdown()
    ws.close()
    os._exit(0)
"""


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@contextmanager
def bench_database(home: str, database_url: str | None) -> Iterator[str]:
    """A fresh SQLite file in `home`, or a fresh schema on the PostgreSQL server `database_url`."""
    if database_url and database_url.startswith("postgresql"):
        from tests.conftest import postgres_schema

        with postgres_schema(database_url) as url:
            yield url
    else:
        yield f"sqlite:///{home}/loradesk.db"


def open_bench_workspace(database_url: str, home: str) -> tuple[Any, str]:
    """The workspace of user `bench` and the id of a small dataset its jobs can name."""
    from core.config import load_settings
    from core.datasets.catalog import add_dataset
    from core.workspace import Workspace

    # Jobs on a cluster that bills the GPUs they name (the local backend offers only what this
    # machine has); no scheduler runs here, so the cluster is never asked.
    cluster = {"cluster": "http", "cluster_url": "http://127.0.0.1:9"}
    ws = Workspace.open(
        load_settings({"home": home, "database_url": database_url, "user": "bench", **cluster}, environ={})
    )
    data = Path(home) / "pairs.jsonl"
    data.write_text('{"prompt": "1 + 1", "completion": "2"}\n' * 20)
    return ws, add_dataset(ws, file=data, name="bench").id


def insert_metric_rows(conn: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows of `METRIC_COLUMNS`, through the plain driver: a benchmark's data, not the app's path."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    columns, marks = ", ".join(METRIC_COLUMNS), ", ".join([mark] * len(METRIC_COLUMNS))
    conn.exec_driver_sql(f"INSERT INTO metrics_points ({columns}) VALUES ({marks})", rows)


def run_window_script(script: str, *args: str, timeout: float) -> dict[str, float]:
    """Run `WINDOW_PRELUDE` + `script` in a fresh Python; the JSON object it prints last."""
    out = subprocess.run(
        [sys.executable, "-c", WINDOW_PRELUDE + script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr or out.stdout)
    return json.loads(out.stdout.strip().splitlines()[-1])
