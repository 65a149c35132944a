"""Live figures of SPEC §8 for the local tiny model, measured on the path a user triggers.

    python benchmarks/bench_live.py [--runs N]

An offscreen MainWindow is attached to a real Session with the embedded scheduler, the `local`
backend and SQLite in a fresh home, as `loradesk gui` runs. Each run creates a job the way the
New job dialog does (`Session.create_job`, then the window selects it) and measures:

- submit → first point drawn: from `create_job` until the monitor's loss chart draws a point
  (target < 3 s), with the standby trainer ready (the app idle for a few seconds) and once cold
  (no standby), beside the floor of a cold start: `python -c "import torch, transformers, peft"`;
- trainer step → drawn: from the moment a step's line lands in the job's `metrics.jsonl` (a thread
  watches the file) until the chart draws that step (target < 1.5 s), beside the floor set by the
  one-second poll of the job on screen.

The machine's load average is printed at start and end: the figures move with it.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtWidgets import QApplication

from core.cluster.local import LocalCluster
from core.config import load_settings
from core.records import Job
from core.workspace import Workspace
from desktop import theme
from desktop.core_events import CoreEvents
from desktop.main_window import MainWindow
from desktop.operations import Runner
from desktop.session import Session


def report(name: str, value: float, unit: str, note: str) -> None:
    print(f"{name:<52} {value:>8.2f} {unit:<2} ({note})", flush=True)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def import_floor() -> float:
    """A cold trainer's unavoidable start: a new Python importing the heavy modules."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, transformers, peft"], check=True)
    return time.perf_counter() - start


class MetricsFileWatch(threading.Thread):
    """Notes when each step's line lands in a job's metrics.jsonl (the trainer's write time)."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.written: dict[int, float] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        offset, partial = 0, b""
        while not self.stopped.is_set():
            try:
                with self.path.open("rb") as metrics:
                    metrics.seek(offset)
                    chunk = metrics.read()
            except FileNotFoundError:
                chunk = b""
            now = time.perf_counter()
            offset += len(chunk)
            lines = (partial + chunk).split(b"\n")
            partial = lines.pop()
            for line in lines:
                step = line.split(b'"step": ', 1)[-1].split(b",", 1)[0]
                if step.isdigit():
                    self.written[int(step)] = now
            time.sleep(0.002)


def drawn_steps(window: MainWindow) -> int:
    x, _y = window.monitor.loss_chart.raw.getOriginalDataset()
    return 0 if x is None or not len(x) else int(x[-1])


def one_run(app: QApplication, window: MainWindow, session: Session, home: Path) -> dict:
    created: list[Job] = []

    def done(job: Job) -> None:
        created.append(job)
        window.toolbar.show_created_job(job)  # as the New job dialog's job_created does

    start = time.perf_counter()
    # The first-run demo (200 pairs × 3 epochs on the tiny model), as its button starts it.
    session.start_demo_job(
        on_done=done, on_error=lambda error: print(f"create_job failed: {error}", file=sys.stderr)
    )
    while not created:
        app.processEvents()
        time.sleep(0.001)
    job = created[0]
    watch = MetricsFileWatch(home / "jobs" / job.id / "metrics.jsonl")
    watch.start()
    first_drawn = None
    drawn_at: dict[int, float] = {}
    last = 0
    deadline = start + 180
    while time.perf_counter() < deadline:
        app.processEvents()
        step = drawn_steps(window)
        if step > last:
            window.monitor.loss_chart.plot_widget.repaint()
            now = time.perf_counter()
            first_drawn = first_drawn or now
            for s in range(last + 1, step + 1):
                drawn_at[s] = now
            last = step
        shown = window.model.job(job.id)
        if shown is not None and shown.status.is_terminal and step and step == shown.current_step:
            break
        time.sleep(0.002)
    watch.stopped.set()
    watch.join()
    if first_drawn is None:
        raise SystemExit(f"no point was drawn within 180 s; see {home / 'jobs' / job.id}")
    lags = [drawn_at[s] - watch.written[s] for s in drawn_at if s in watch.written]
    log = (home / "jobs" / job.id / "stdout.log").read_text()
    first_step = next((line for line in log.splitlines() if "first step recorded" in line), "")
    written = sorted(watch.written.values())
    return {
        "rate": (len(written) - 1) / (written[-1] - written[0]) if len(written) > 1 else 0.0,
        "total": max(drawn_at.values()) - start,
        "first": first_drawn - start,
        "first_written": (watch.written.get(1, first_drawn) - start),
        "lags": lags,
        "steps": last,
        "trainer": first_step.split("recorded ")[-1].split(" s")[0] if first_step else "?",
    }


def wait_standby(app: QApplication, backend: LocalCluster, timeout: float = 120) -> None:
    deadline = time.perf_counter() + timeout
    while not backend.standby.ready:
        if time.perf_counter() > deadline:
            raise SystemExit("the standby trainer never became ready")
        app.processEvents()
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3, help="warm runs (one cold run follows)")
    args = parser.parse_args()
    print(f"load average at start: {loadavg()} ({os.cpu_count()} cores)", flush=True)
    floor = min(import_floor() for _ in range(2))
    app = QApplication.instance() or QApplication([])
    theme.install(app, dark=False)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        settings = load_settings({"home": str(home), "user": "bench", "cluster": "local"}, environ={})
        ws = Workspace.open(settings)
        runner = Runner()
        window = MainWindow()
        window.resize(1280, 800)
        window.show()
        session = Session(ws, runner, CoreEvents())
        session.start_scheduler()  # as DesktopApp does once the workspace is open
        window.attach(session)
        backend = ws.backend()
        assert isinstance(backend, LocalCluster)

        warm, lags = [], []
        for _ in range(args.runs):
            wait_standby(app, backend)
            result = one_run(app, window, session, home)
            warm.append(result)
            lags += result["lags"]
            print(
                f"  warm run: first point drawn {result['first']:.2f} s after create_job"
                f" (line written at {result['first_written']:.2f} s; trainer: first step"
                f" {result['trainer']} s after its run began); {result['steps']} steps at"
                f" {result['rate']:.1f} steps/s, last drawn {result['total']:.1f} s after create_job",
                flush=True,
            )
        backend.standby.given_up = True  # no standby from now on: a cold start, as a fallback
        backend.standby.stop()
        cold = one_run(app, window, session, home)
        print(
            f"  cold run: first point drawn {cold['first']:.2f} s after create_job"
            f" (line written at {cold['first_written']:.2f} s)",
            flush=True,
        )
        lags += cold["lags"]

        report(
            "submit -> first point drawn, standby ready (median)",
            statistics.median(r["first"] for r in warm),
            "s",
            f"target < 3 s; max {max(r['first'] for r in warm):.2f} s",
        )
        report("submit -> first point drawn, cold start", cold["first"], "s", f"floor: imports {floor:.2f} s")
        report("  floor: python -c 'import torch, transformers, peft'", floor, "s", "a cold trainer's start")
        report(
            "trainer step written -> drawn (median)",
            statistics.median(lags),
            "s",
            f"target < 1.5 s; p95 {_p95(lags):.2f} s, max {max(lags):.2f} s, {len(lags)} steps",
        )
        report("  floor: the job on screen is polled every", 1.0, "s", "mean wait 0.5 s")
        window.detach()
        session.close()  # stops the scheduler, which ends the standby
        runner.shutdown()
    print(f"load average at end: {loadavg()}", flush=True)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


if __name__ == "__main__":
    main()
