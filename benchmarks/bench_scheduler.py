"""Scheduler figures of SPEC §8, printed side by side with their targets and floors.

    python benchmarks/bench_scheduler.py [--jobs 1000 4000 10000] [--latency 0.05] [--database-url URL]

The fake GPU cluster runs in its own process (so its CPU is not charged to the scheduler) and
answers every request after `--latency` seconds. For each size of `--jobs`, in a fresh database:

1. the queued jobs submitted (one scheduler pass over the queue);
2. one poll cycle over them once active, beside the computed floor (jobs / in-flight cap × latency)
   and the cost per job; at the first size also the same work one job after another;
3. 100,000 metric points of one job written, beside the floor: PostgreSQL's `COPY` of the same
   rows (no conflict check), or on SQLite the same insert without the unique index.

The load average is printed beside each size: the figures move with it.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.cluster.http import HttpCluster  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.datasets import add_dataset  # noqa: E402
from core.db.models import JobRow, utcnow  # noqa: E402
from core.job_store import claim_active  # noqa: E402
from core.jobs import create_job  # noqa: E402
from core.records import MetricPoint  # noqa: E402
from core.scheduler import CycleReport, Scheduler  # noqa: E402
from core.scheduler import transitions as t  # noqa: E402
from core.scheduler.metric_points import store_metric_points  # noqa: E402
from core.scheduler.worker import CLAIM_SIZE  # noqa: E402
from core.workspace import Workspace  # noqa: E402
from tests.conftest import postgres_schema  # noqa: E402

TOKEN = "bench-token"
IN_FLIGHT = 100  # HttpCluster's default cap of requests in flight


@contextmanager
def fake_cluster_process(latency: float, steps_per_poll: int):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.cluster",
            "--latency",
            str(latency),
            "--token",
            TOKEN,
            "--total-steps",
            "1000000",
            "--steps-per-poll",
            str(steps_per_poll),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def open_workspace(home: Path, database_url: str | None, cluster_url: str) -> Workspace:
    settings = load_settings(
        {
            "home": str(home),
            "database_url": database_url,
            "user": "bench",
            "cluster": "http",
            "cluster_url": cluster_url,
        }
    )
    ws = Workspace.open(settings)
    ws.use_backend(HttpCluster(cluster_url, TOKEN))
    return ws


@contextmanager
def database(url: str | None):
    """SQLite in the temporary home by default; on PostgreSQL, a scratch schema dropped afterwards."""
    if not url or not url.startswith("postgresql"):
        yield url
        return
    with postgres_schema(url) as scratch_url:
        yield scratch_url


async def bench_submit(ws: Workspace, jobs: int, dataset: Path) -> float:
    data = add_dataset(ws, file=dataset, name="bench")
    for i in range(jobs):
        create_job(ws, dataset_id=data.id, name=f"bench {i}", gpu_type="A10G")
    scheduler = Scheduler(ws, batch_size=jobs)
    report = CycleReport()
    start = time.perf_counter()
    await scheduler.process_queued(report)
    elapsed = time.perf_counter() - start
    assert report.submitted == jobs, report
    return elapsed


async def bench_poll_cycle(ws: Workspace, jobs: int, batch_size: int | None = None) -> float:
    scheduler = Scheduler(ws, batch_size=batch_size or jobs)
    report = CycleReport()
    start = time.perf_counter()
    await scheduler.update_active(report)
    elapsed = time.perf_counter() - start
    assert report.polled == jobs and report.errors == 0, report
    return elapsed


async def bench_poll_one_by_one(ws: Workspace, jobs: int) -> float:
    """The same work as one cycle, one job after another: poll, record, commit, next."""
    scheduler = Scheduler(ws, batch_size=jobs)
    with ws.db.write() as session:
        claimed = claim_active(
            session,
            owner=scheduler.owner,
            user_id=None,
            limit=jobs,
            lease=timedelta(minutes=10),
            now=utcnow(),
        )
    backend = ws.backend()
    start = time.perf_counter()
    for item in claimed:
        answer = await backend.status(item.job.external_job_id or "", item.last_metric_step)
        with ws.db.write() as session:
            change = t.record_status(session, item, answer, owner=scheduler.owner, now=utcnow())
            store_metric_points(session, change.points)
    return time.perf_counter() - start


def bench_metric_points(ws: Workspace, points: int) -> float:
    with ws.db.read() as session:
        job_id = session.query(JobRow.id).first()[0]
    now = utcnow()
    rows = [
        MetricPoint(
            job_id=job_id,
            step=10_000_000 + i,
            epoch=1,
            training_loss=1.0 / (i + 1),
            validation_loss=None,
            learning_rate=2e-4,
            throughput=1234.5,
            gpu_utilization=91.0,
            gpu_memory_used=20.5,
            recorded_at=now,
        )
        for i in range(points)
    ]
    start = time.perf_counter()
    with ws.db.write() as session:
        store_metric_points(session, rows)
    return time.perf_counter() - start


def line(name: str, value: str, target: str = "", ok: bool | None = None) -> None:
    verdict = "" if ok is None else ("ok" if ok else "MISSED")
    print(f"{name:<58} {value:>12}   {'target ' + target if target else '':<26} {verdict}", flush=True)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def bench_points_floor(ws: Workspace, points: int) -> float:
    """The same rows with nothing checked: COPY on PostgreSQL, a table without indexes on SQLite."""
    columns = ("job_id", "step", "epoch", "training_loss", "validation_loss", "learning_rate",
               "throughput", "gpu_utilization", "gpu_memory_used", "recorded_at")  # fmt: skip
    now = utcnow()
    rows = [("floor", i, 1, 1.0 / (i + 1), None, 2e-4, 1234.5, 91.0, 20.5, now) for i in range(points)]
    with ws.db.write() as session:
        conn = session.connection()
        conn.exec_driver_sql(
            "CREATE TEMPORARY TABLE points_floor (job_id text, step integer, epoch integer, "
            "training_loss float, validation_loss float, learning_rate float, throughput float, "
            "gpu_utilization float, gpu_memory_used float, recorded_at timestamp)"
        )
        raw = conn.connection.driver_connection
        start = time.perf_counter()
        if ws.db.is_sqlite:
            raw.executemany(f"INSERT INTO points_floor VALUES ({', '.join('?' * len(columns))})", rows)
        else:
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY points_floor ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        elapsed = time.perf_counter() - start
        conn.exec_driver_sql("DROP TABLE points_floor")
    return elapsed


async def one_size(args: argparse.Namespace, jobs: int, first: bool) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        fake_cluster_process(args.latency, 10) as cluster_url,
        database(args.database_url) as database_url,
    ):
        home = Path(tmp)
        dataset = home / "pairs.jsonl"
        dataset.write_text('{"prompt": "1 + 1", "completion": "2"}\n' * 50)
        ws = open_workspace(home, database_url, cluster_url)
        print(f"\n{jobs:,} jobs, load average {loadavg()}", flush=True)
        submit = await bench_submit(ws, jobs, dataset)
        line(
            f"{jobs:,} queued jobs submitted",
            f"{submit:.2f} s",
            "< 1.5 s" if jobs == 1000 else "",
            submit < 1.5 if jobs == 1000 else None,
        )
        await bench_poll_cycle(ws, jobs)  # initializing → running, warms the connections
        cpu = time.process_time()
        cycle = await bench_poll_cycle(ws, jobs, CLAIM_SIZE)
        cpu = time.process_time() - cpu  # this process's CPU, every thread: what a busier machine can't hide
        floor = jobs / IN_FLIGHT * args.latency
        target = 1.0 if jobs <= 1000 else 5.0
        line(f"one poll cycle over {jobs:,} active jobs", f"{cycle:.2f} s", f"< {target:g} s, ≤ 2× floor",
             cycle < target and cycle <= 2 * floor)  # fmt: skip
        line(f"  as the scheduler runs it: claims of {CLAIM_SIZE}, overlapping rounds", "")
        line(
            f"  computed floor ({jobs:,} / {IN_FLIGHT} in flight × {args.latency * 1000:.0f} ms)",
            f"{floor:.2f} s",
        )
        line(
            "  cost per job (wall clock; CPU of the scheduler process)",
            f"{cycle / jobs * 1000:.2f} ms; {cpu / jobs * 1000:.2f} ms",
        )
        whole = await bench_poll_cycle(ws, jobs)
        line(f"  the same in one claim of all {jobs:,}", f"{whole:.2f} s")
        if first:
            sequential = await bench_poll_one_by_one(ws, jobs)
            ratio = sequential / cycle
            line(f"the same {jobs:,} polls one job after another", f"{sequential:.2f} s")
            line("  concurrent speed-up", f"{ratio:.1f}×", "≥ 40×", ratio >= 40)
            write = bench_metric_points(ws, args.points)
            line(f"{args.points:,} metric points of one job written", f"{write:.2f} s", "< 1 s", write < 1)
            floor_write = bench_points_floor(ws, args.points)
            what = "COPY" if not ws.db.is_sqlite else "insert without indexes"
            line(f"  floor: the same rows by {what}", f"{floor_write:.2f} s")
        print(f"load average {loadavg()}", flush=True)
        await ws.aclose()
        ws.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, nargs="+", default=[1000])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()
    print(
        f"database {args.database_url or 'SQLite'}; fake cluster answering after {args.latency * 1000:.0f} ms"
    )
    for n, jobs in enumerate(args.jobs):
        await one_size(args, jobs, first=n == 0)


if __name__ == "__main__":
    asyncio.run(main())
