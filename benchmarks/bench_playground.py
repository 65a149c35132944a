"""Playground figures of SPEC §8 on the path a user triggers: the Try tab, offscreen.

    python benchmarks/bench_playground.py [--prompts N] [--adapter DIR]

A tiny adapter is trained first by the real trainer (a few steps: the figures do not depend on
what it learned) unless --adapter names one. A job whose adapter it is opens its Try tab (the
`PlaygroundView` the monitor shows), which starts the playground process of the trainer's Python
and loads the model once. Then, N times: the prompt box gets a prompt, Enter is pressed
(`QTest.keyClick`), and the clock runs until the first answer text is on screen in either pane,
then in both panes (target: under 2 s, tiny model, loaded).

Memory: the resident set of this process (the app: Qt, the core, no torch) before the tab opens,
once the model is loaded, and after the answers, beside the playground process's own. The app's
must not grow by the model: it lives in the other process.

The machine's load average is printed at start and end: the figures move with it.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from sqlalchemy import update

from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.db.models import JobRow
from core.jobs.service import create_job, find_job
from core.records import Job
from core.workspace import Workspace
from desktop import theme
from desktop.playground_view import PlaygroundView

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "resources" / "sample-dataset.jsonl"
TARGET = 2.0
PROMPTS = [f"Spell {n} in words.\n" for n in (7, 19, 42, 101, 512, 777, 903, 250, 64, 333)]


def train_adapter(folder: Path) -> Path:
    spec = {
        "job_id": "bench-playground",
        "dataset_url": str(SAMPLE),
        "output_dir": str(folder / "out"),
        "hyperparameters": {"max_steps": 10, "batch_size": 8, "eval_interval": 10},
    }
    (folder / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "core.trainer", str(folder / "spec.json")], cwd=ROOT, check=True)
    return folder / "out" / "adapter"


def job_owning(home: Path, adapter: Path) -> tuple[Job, Workspace]:
    settings = load_settings({"home": str(home), "user": "bench", "cluster": "local"})
    ws = Workspace.open(settings)
    dataset = add_dataset(ws, file=SAMPLE, name="spelled numbers")
    job = create_job(ws, dataset_id=dataset.id, name="bench", hyperparameters={"max_steps": 10})
    with ws.db.write() as session:
        session.execute(
            update(JobRow)
            .where(JobRow.id == job.id)
            .values(status="completed", artifact_url=adapter.as_uri())
        )
    return find_job(ws, job_id=job.id), ws


def wait_for(app: QApplication, condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until `condition` holds, the event loop turning meanwhile."""
    began = time.perf_counter()
    while not condition():
        app.processEvents()
        if time.perf_counter() - began > timeout:
            raise TimeoutError("gave up waiting")
        time.sleep(0.0005)
    return time.perf_counter() - began


def rss_mb(pid: int | None = None) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=10)
    parser.add_argument("--adapter", type=Path)
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    app = QApplication.instance() or QApplication([])
    theme.install(app, dark=False)
    with tempfile.TemporaryDirectory(prefix="bench-playground-") as tmp:
        adapter = args.adapter or train_adapter(Path(tmp))
        job, ws = job_owning(Path(tmp) / "home", adapter)
        app_before = rss_mb()
        view = PlaygroundView(ws.settings, job)
        view.resize(1100, 600)
        view.show()
        wait_for(app, lambda: view.connection.pid is not None, timeout=60)  # loading, drawn
        app_shown = rss_mb()
        load = wait_for(app, view.send_button.isEnabled, timeout=600)
        pid = view.connection.pid
        assert pid is not None
        app_loaded, playground_loaded = rss_mb(), rss_mb(pid)
        inside = ready_seconds(view)
        print(f"Try tab opened → model loaded: {load:.2f} s ({inside:.2f} s of it in the playground)")
        view.temperature.setValue(0.7)
        view.max_tokens.setValue(64)
        first_any, first_both = [], []
        panes = [view.base_pane.text, view.adapter_pane.text]
        for index in range(args.prompts):
            view.prompt.setPlainText(PROMPTS[index % len(PROMPTS)])
            app.processEvents()
            began = time.perf_counter()
            QTest.keyClick(view.prompt, Qt.Key.Key_Return)
            first_any.append(wait_for(app, lambda: any(p.toPlainText() for p in panes), 30))
            first_both.append(
                time.perf_counter() - began + wait_for(app, lambda: all(p.toPlainText() for p in panes), 30)
            )
            wait_for(app, lambda: not view.stop_button.isEnabled(), 60)  # both answers ended
        app_after = rss_mb()
        torch_here = "torch" in sys.modules
        view.close_playground()
        wait_for(app, lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie", 30)
        view.deleteLater()
        ws.close()
    print()
    print(
        f"Enter → first token on screen, {args.prompts} prompts (tiny model, loaded; target < {TARGET:.0f} s)"
    )
    for name, seconds in (("either pane", first_any), ("both panes", first_both)):
        median, worst = statistics.median(seconds) * 1000, max(seconds) * 1000
        print(f"  {name + ':':13s} median {median:.0f} ms, max {worst:.0f} ms")
    verdict = "meets" if max(first_both) < TARGET else "MISSES"
    print(f"  {verdict} the target")
    print()
    print("Resident memory (MB):")
    print(f"  app before the Try tab      {app_before:7.1f}")
    print(f"  app with the Try tab shown  {app_shown:7.1f}  ({app_shown - app_before:+.1f}: the widgets)")
    print(
        f"  app with the model loaded   {app_loaded:7.1f}  ({app_loaded - app_shown:+.1f} from the tab shown)"
    )
    answered = f"app after {args.prompts} answers"
    print(f"  {answered:27s} {app_after:7.1f}  ({app_after - app_shown:+.1f} from the tab shown)")
    print(f"  playground process          {playground_loaded:7.1f}  (the model, torch: not in the app)")
    print(f"  torch imported by the app:  {'YES' if torch_here else 'no'}")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def ready_seconds(view: PlaygroundView) -> float:
    """The playground's own load time, as its status line reports it ("… loaded … in 1.2 s")."""
    words = view.status.text().split(" in ")
    try:
        return float(words[-1].split(" s")[0])
    except ValueError:
        return float("nan")


if __name__ == "__main__":
    sys.exit(main())
