"""Figures of the `ray` backend on a real Ray head started here on loopback (tests/ray_head.py).

    python benchmarks/bench_ray.py [--runs N] [--steps N]

- submit → first point: from `create_job` until the job's first metric point is in the database,
  with the scheduler cycling every 0.25 s (the monitor polls the job on screen every second),
  local storage, the tiny model; beside the floor of a cold start on a Ray node (a fresh Python
  that imports torch, transformers and peft) and Ray's own share (submit → the job RUNNING);
- per-poll cost of a long run's metrics: a job that prints N `LORADESK_METRIC` lines (as a run of
  N steps does) is polled as the scheduler polls it: a re-attach (nothing stored: the whole log),
  then steady polls that each find a few new steps (the log's tail); beside the rival, the Jobs
  API's `GET /api/jobs/{id}/logs`, which answers the whole log every time.

The machine's load average is printed at start and end: the figures move with it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from core.cluster.ray import RayCluster
from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.jobs.service import create_job, get_job
from core.scheduler import Scheduler
from core.storage import open_storage
from core.workspace import Workspace
from tests.ray_head import RayHead

SAMPLE = Path(__file__).resolve().parent.parent / "resources" / "sample-dataset.jsonl"


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


async def first_point(head: RayHead, home: Path) -> tuple[float, float]:
    """(submit → first point stored, submit → Ray reports RUNNING), seconds."""
    settings = load_settings(
        {"home": str(home), "user": "bench", "cluster": "ray", "cluster_url": head.url}, environ={}
    )
    ws = Workspace.open(settings)
    ws.use_backend(RayCluster(head.url, head.token, open_storage(settings), settings))
    dataset = add_dataset(ws, file=SAMPLE, name=f"sample-{time.monotonic_ns()}")
    scheduler = Scheduler(ws)
    began = time.perf_counter()
    job = create_job(ws, dataset_id=dataset.id, gpu_type="cpu", hyperparameters={"max_steps": 20})
    running_at = None
    try:
        while True:
            await scheduler.run_once()
            detail = get_job(ws, job_id=job.id)
            if running_at is None and detail.job.status.value == "running":
                running_at = time.perf_counter() - began
            if detail.metrics:
                return time.perf_counter() - began, running_at or time.perf_counter() - began
            if detail.job.status.is_terminal:
                raise RuntimeError(f"job ended {detail.job.status.value}: {detail.job.error_message}")
            await asyncio.sleep(0.25)
    finally:
        for _ in range(240):  # let the run end before the next one starts (one node, two CPUs)
            await scheduler.run_once()
            if get_job(ws, job_id=job.id).job.status.is_terminal:
                break
            await asyncio.sleep(0.5)
        await ws.aclose()
        ws.close()


async def poll_cost(head: RayHead, home: Path, steps: int, polls: int) -> dict[str, float]:
    settings = load_settings({"home": str(home), "cluster": "ray", "cluster_url": head.url}, environ={})
    backend = RayCluster(head.url, head.token, open_storage(settings), settings)
    point = {
        "epoch": 1,
        "training_loss": 1.2345678,
        "learning_rate": 0.0002,
        "throughput": 4321.0,
        "gpu_utilization": None,
        "gpu_memory_used": None,
        "total_steps": steps,
        "total_epochs": 1,
    }
    script = (
        "import json, sys, time\n"
        f"point = json.loads({json.dumps(point)!r})\n"
        f"for step in range(1, {steps} + 1):\n"
        "    sys.stdout.write('LORADESK_METRIC ' + json.dumps({'step': step, **point}) + '\\n')\n"
        "sys.stdout.flush()\n"
        "time.sleep(600)\n"  # stays RUNNING while it is polled
    )
    job_id = f"bench-log-{time.monotonic_ns()}"
    async with aiohttp.ClientSession(
        head.url, headers=head.headers, timeout=aiohttp.ClientTimeout(total=120), raise_for_status=True
    ) as client:
        body = {"submission_id": job_id, "entrypoint": f"python -c {shlex.quote(script)}"}
        async with client.post("/api/jobs/", json=body):
            pass
        while True:  # until every line is in the log
            report = await backend.status(job_id, steps - 1)
            if report.current_step == steps:
                break
            await asyncio.sleep(0.5)
        figures: dict[str, float] = {}
        backend._windows.forget(job_id)
        started = time.perf_counter()
        first = await backend.status(job_id, None)
        figures["reattach_s"] = time.perf_counter() - started
        assert len(first.metrics_history or []) == steps
        steady = []
        for n in range(polls):
            started = time.perf_counter()
            report = await backend.status(job_id, steps - 3)  # three steps new since the last poll
            steady.append(time.perf_counter() - started)
            assert [p["step"] for p in report.metrics_history or []] == [steps - 2, steps - 1, steps], n
        figures["steady_ms"] = statistics.median(steady) * 1000
        figures["steady_max_ms"] = max(steady) * 1000
        whole = []
        size = 0
        for _ in range(max(3, polls // 4)):
            started = time.perf_counter()
            async with client.get(f"/api/jobs/{job_id}/logs") as logs:
                size = len(await logs.read())
            whole.append(time.perf_counter() - started)
        figures["whole_log_ms"] = statistics.median(whole) * 1000
        figures["whole_log_mb"] = size / 1e6
        async with client.post(f"/api/jobs/{job_id}/stop"):
            pass
    await backend.aclose()
    return figures


def cold_import_floor() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, transformers, peft"], check=True)
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--polls", type=int, default=20)
    args = parser.parse_args()
    print(f"load average at start: {load()}")
    head = RayHead()
    started = time.perf_counter()
    head.start()
    print(f"Ray head up in {time.perf_counter() - started:.1f} s ({head.url})")
    try:
        with tempfile.TemporaryDirectory() as scratch:
            firsts, runnings = [], []
            for run in range(args.runs):
                first, running = await first_point(head, Path(scratch) / f"home{run}")
                firsts.append(first)
                runnings.append(running)
                print(f"run {run + 1}: submit → first point {first:.2f} s (RUNNING after {running:.2f} s)")
            floor = cold_import_floor()
            print(
                f"submit → first point stored: median {statistics.median(firsts):.2f} s, "
                f"max {max(firsts):.2f} s; Ray RUNNING after median {statistics.median(runnings):.2f} s; "
                f"floor (cold `import torch, transformers, peft`) {floor:.2f} s; load {load()}"
            )
            cost = await poll_cost(head, Path(scratch) / "poll", args.steps, args.polls)
            print(
                f"{args.steps:,}-step run, one poll: re-attach (whole log) {cost['reattach_s']:.2f} s; "
                f"steady poll (3 new steps) median {cost['steady_ms']:.1f} ms, "
                f"max {cost['steady_max_ms']:.1f} ms; "
                f"rival GET /api/jobs/{{id}}/logs (whole log, {cost['whole_log_mb']:.1f} MB) "
                f"median {cost['whole_log_ms']:.0f} ms"
            )
    finally:
        head.stop()
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    asyncio.run(main())
