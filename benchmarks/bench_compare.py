"""Comparing twenty runs of 100,000 points each in the app, database → drawn overlay.

    python benchmarks/bench_compare.py [--jobs 20] [--points 100000] [--database-url URL]

A database gets `--jobs` completed jobs of `--points` metric points each. A fresh process opens an
offscreen MainWindow on a real Session, clicks the first row and Shift-clicks the last (the
compare view replaces the monitor; each job loads on a worker thread through
`load_compared_run` and is drawn as it arrives), and waits until every run is drawn. It reports:

- time from the Shift-click until every curve holds every point and the chart has painted;
- resident memory added (after, and the process's peak) against before the click;
- the longest the UI thread was blocked meanwhile (a 2 ms timer's longest gap; and the UI
  thread's own CPU in that gap, which the machine's load does not inflate);
- one repaint of the whole overlay, and of a view zoomed to 1 % of the steps (every point there);

beside the floor: the same columns fetched by the plain driver into numpy, job after job
(`read_metric_columns`, no window). The load average is printed at start and end.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.app_process import (
    bench_database,
    insert_metric_rows,
    loadavg,
    open_bench_workspace,
    run_window_script,
)

TARGET_BLOCK_MS = 100


def build(database_url: str, home: str, jobs: int, points: int) -> list[str]:
    """`jobs` completed jobs of `points` points each; returns their ids."""
    import numpy as np

    from core.jobs.service import create_job

    ws, dataset_id = open_bench_workspace(database_url, home)
    ids = []
    steps = np.arange(1, points + 1)
    start_time = np.datetime64("2026-01-01T00:00:00")
    for n in range(jobs):
        job = create_job(
            ws, dataset_id=dataset_id, name=f"run {n:02d} lr {1e-4 * (n + 1):.0e}", gpu_type="A10G",
            hyperparameters={"lora_rank": 8 * (1 + n % 4), "learning_rate": 1e-4 * (n + 1)},
        )  # fmt: skip
        ids.append(job.id)
        rng = np.random.default_rng(n)
        loss = (2.5 - n * 0.03) * np.exp(-steps / (points / (3 + n % 5))) + 0.3 + rng.normal(0, 0.05, points)
        stamps = (start_time + (steps * (500 + 25 * n) // 1000).astype("timedelta64[s]")).astype(str)
        with ws.db.write() as session:
            conn = session.connection()
            conn.exec_driver_sql(
                f"UPDATE training_jobs SET status = 'completed', progress = 100, current_step = {points}, "
                f"total_steps = {points}, started_at = created_at, completed_at = created_at, "
                f"final_cost = 1.5, external_job_id = 'bench' WHERE id = '{job.id}'"
            )
            rows = [
                (job.id, int(s), 1, float(v), float(v) + 0.05 if s % 100 == 0 else None, 2e-4,
                 1800.0 + s % 97, 90.0 + s % 7, 20.5, f"{t}+00:00".replace("T", " "))
                for s, v, t in zip(steps, loss, stamps, strict=True)
            ]  # fmt: skip
            insert_metric_rows(conn, rows)
    ws.close()
    return ids


COMPARE = r"""
points = int(sys.argv[3])
show_window()
spin(lambda: window.model.rowCount() > 0, 600)
rows = window.model.rowCount()
def click(row, modifier):
    index = window.proxy.index(row, 0)
    window.table.scrollTo(index)
    point = window.table.visualRect(index).center()
    QTest.mouseClick(window.table.viewport(), Qt.MouseButton.LeftButton, modifier, point)
click(0, Qt.KeyboardModifier.NoModifier)
spin(lambda: window.monitor.loaded, 600)
for _ in range(50):
    app.processEvents()
before = process.memory_info().rss
chart = window.compare.chart
def drawn():
    counts = [c.getOriginalDataset()[0] for c in chart.curves()[::2]]
    return sum(0 if x is None else len(x) for x in counts)
start_ticker()
start = time.perf_counter()
click(rows - 1, Qt.KeyboardModifier.ShiftModifier)
spin(lambda: window.compare.is_loaded and drawn() == rows * points, 600)
chart.plot_widget.repaint()
elapsed = time.perf_counter() - start
ticker.stop()
after = process.memory_info().rss
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
def repaint_ms():
    times = []
    for _ in range(5):
        t = time.perf_counter()
        chart.plot_widget.grab()  # renders every item, as a paint of the window does
        times.append((time.perf_counter() - t) * 1000)
    return min(times)
chart.plot_widget.repaint()
whole = repaint_ms()
chart.plot_item.setXRange(points * 0.5, points * 0.51, padding=0)
app.processEvents()
zoomed = repaint_ms()
print(json.dumps({"elapsed": elapsed, "added_mb": (after - before) / 2**20,
                  "peak_added_mb": (peak - before) / 2**20, **ui_blocks(), "curves": len(chart.curves()),
                  "points": drawn(), "repaint_ms": whole, "zoomed_ms": zoomed}))
close()
"""


def compare(url: str, home: str, points: int) -> dict[str, float]:
    return run_window_script(COMPARE, url, home, str(points), timeout=1200)


def driver_floor(url: str, home: str, ids: list[str]) -> tuple[float, float]:
    """The plain driver fetch of the drawn columns of every job, one after another."""
    from core.config import load_settings
    from core.jobs.comparison import DRAWN
    from core.jobs.metric_columns import read_metric_columns
    from core.workspace import Workspace

    ws = Workspace.open(load_settings({"home": home, "database_url": url, "user": "bench"}, environ={}))
    start, size = time.perf_counter(), 0
    for job_id in ids:
        with ws.db.read() as session:
            columns = read_metric_columns(session, job_id, names=DRAWN)
        size += sum(values.nbytes for values in columns.columns.values())
    ws.close()
    return time.perf_counter() - start, size / 2**20


def line(name: str, value: str, target: str = "", ok: bool | None = None) -> None:
    verdict = "" if ok is None else ("ok" if ok else "MISSED")
    print(f"{name:<62} {value:>12}   {target:<12} {verdict}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, bench_database(home, args.database_url) as url:
        where = url.split("?")[0]
        print(f"load average {loadavg()}; building {args.jobs} × {args.points:,} points in {where}")
        ids = build(url, home, args.jobs, args.points)
        print(f"load average {loadavg()}; comparing", flush=True)
        result = compare(url, home, args.points)
        floor, floor_mb = driver_floor(url, home, ids)
        what = f"{args.jobs} × {args.points:,} points"
        line(f"{what}: Shift-click → every curve drawn", f"{result['elapsed']:.2f} s")
        line("  floor: the driver's fetch of those columns, job after job", f"{floor:.2f} s")
        line("  curves on the chart (training and validation per job)", f"{result['curves']:.0f}")
        line("  memory added", f"{result['added_mb']:.0f} MB")
        line("  peak memory added", f"{result['peak_added_mb']:.0f} MB")
        line("  floor: the columns themselves", f"{floor_mb:.0f} MB")
        target = f"< {TARGET_BLOCK_MS} ms"
        wall, busy = result["block_ms"], result["busy_ms"]
        line("  longest UI-thread block (wall clock)", f"{wall:.0f} ms", target, wall < TARGET_BLOCK_MS)
        line("  longest UI-thread block (its own CPU)", f"{busy:.0f} ms", target, busy < TARGET_BLOCK_MS)
        line("  repaint of the whole overlay", f"{result['repaint_ms']:.1f} ms")
        line("  repaint zoomed to 1 % of the steps", f"{result['zoomed_ms']:.1f} ms")
        print(f"load average {loadavg()}")


if __name__ == "__main__":
    main()
