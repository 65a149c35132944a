"""The scheduler under a hostile cluster (SPEC §8): resident memory, the other jobs' poll interval,
and SIGTERM to exit, printed beside their targets (200 MB; the poll interval; 5 s).

    python benchmarks/bench_hostile.py [--jobs 20] [--seconds 12]

A headless `loradesk scheduler` (its own process, measured with psutil) polls `--jobs` healthy jobs
and one hostile one, every second, against the fake cluster on loopback, for each way of being
hostile in turn: 1,000,000 metric points in one 16 MiB answer, a 100 MB body, JSON nested 200,000
deep, and an answer dripping 1 byte/s. Then it gets SIGTERM while the hostile poll is in flight.
The load average is printed beside the figures: they move with it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.cluster.http import HttpCluster  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.datasets.catalog import add_dataset  # noqa: E402
from core.jobs.service import create_job, get_job  # noqa: E402
from core.scheduler import Scheduler  # noqa: E402
from core.workspace import Workspace  # noqa: E402
from tests.fakes.cluster import FakeCluster, JobPlan  # noqa: E402

TOKEN = "bench-token"
MB = 1024 * 1024


def million_points() -> bytes:
    """1,000,000 points of one job in one answer, just under the 16 MiB bound."""
    points = b",".join(b'{"step":%d}' % step for step in range(1, 1_000_001))
    return b'{"status": "running", "current_step": 1000000, "metrics_history": [' + points + b"]}"


def scenarios() -> dict[str, dict[str, object]]:
    deep = 200_000
    return {
        "1,000,000 points (16 MiB)": {"body": million_points()},
        "a 100 MB body": {"body": lambda: iter([b" " * MB] * 100), "length": 100 * MB},
        "JSON nested 200,000 deep": {
            "body": b'{"status": "running", "x": ' + b"[" * deep + b"]" * deep + b"}"
        },
        "dripping 1 byte/s": {"drip": True},
        "every job: 10,000 points": {"body": ten_thousand_points(), "everyone": True},
    }


def ten_thousand_points() -> bytes:
    """An answer any job may give after a long pause: 10,000 full points, the most one carries."""
    point = (
        b'{"step":%d,"epoch":1,"training_loss":1.25,"validation_loss":1.5,"learning_rate":0.0002,'
        b'"throughput":1200.5,"gpu_utilization":92.5,"gpu_memory_used":21.5}'
    )
    points = b",".join(point % step for step in range(1, 10_001))
    return b'{"status": "running", "current_step": 10000, "metrics_history": [' + points + b"]}"


def run(jobs: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeCluster(TOKEN) as fake:
        home = Path(tmp)
        settings = load_settings(
            {"home": str(home), "user": "bench", "cluster": "http", "cluster_url": fake.url}
        )
        ws = Workspace.open(settings)
        ws.use_backend(HttpCluster(fake.url, TOKEN))
        dataset = add_dataset(ws, file=ROOT / "resources" / "sample-dataset.jsonl")
        fake.default_plan = JobPlan(total_steps=10**9, steps_per_poll=1)
        made = [create_job(ws, dataset_id=dataset.id, name=f"job {i}") for i in range(jobs + 1)]
        asyncio.run(_submit(ws))
        externals = [get_job(ws, job_id=job.id).job.external_job_id for job in made]
        hostile, healthy = externals[0], set(externals[1:])
        ws.close()

        polled: dict[str, list[float]] = defaultdict(list)
        answer = fake._status

        def timed(external_id: str, since_step: int | None):  # type: ignore[no-untyped-def]
            polled[external_id].append(time.monotonic())
            return answer(external_id, since_step)

        fake._status = timed  # type: ignore[method-assign]
        env = {
            **os.environ,
            "LORADESK_HOME": str(home),
            "LORADESK_USER": "bench",
            "LORADESK_CLUSTER": "http",
            "LORADESK_CLUSTER_URL": fake.url,
            "LORADESK_CLUSTER_TOKEN": TOKEN,
            "LORADESK_POLL_INTERVAL": "1",
        }
        print(f"{jobs} healthy jobs and 1 hostile one, polled every 1 s, {seconds:.0f} s each")
        print(f"{'hostile answer':<28}{'peak RSS':>10}{'others polled every':>24}{'SIGTERM → exit':>18}")
        for name, fault in scenarios().items():
            fake.clear_faults()
            if fault.get("drip"):
                fake.drip(1.0, job=hostile)
            else:
                target = None if fault.get("everyone") else hostile
                fake.answer_with(fault["body"], length=fault.get("length"), job=target)  # type: ignore[arg-type]
            polled.clear()
            peak, gaps, stop_seconds = _measure(
                env, seconds, polled, set() if fault.get("everyone") else healthy
            )
            print(
                f"{name:<28}{peak / MB:>8.0f} MB"
                f"{f'median {statistics.median(gaps):.2f} s, max {max(gaps):.2f} s':>24}"
                f"{stop_seconds:>16.1f} s"
            )
    print(f"targets: under 200 MB; the poll interval (1 s); under 5 s. load average {os.getloadavg()[0]:.1f}")


async def _submit(ws: Workspace) -> None:
    try:
        await Scheduler(ws).run_once()
    finally:
        await ws.aclose()


def _measure(
    env: dict[str, str], seconds: float, polled: dict[str, list[float]], healthy: set[str]
) -> tuple[int, list[float], float]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "loradesk", "scheduler"], env=env, stderr=subprocess.DEVNULL
    )
    watched = psutil.Process(proc.pid)
    peak = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        peak = max(peak, watched.memory_info().rss)
        time.sleep(0.02)
    gaps = [b - a for job in healthy for a, b in zip(polled[job], polled[job][1:], strict=False)]
    asked = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    return peak, gaps or [float("nan")], time.monotonic() - asked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args()
    run(args.jobs, args.seconds)


if __name__ == "__main__":
    main()
