"""CPU per request of the HTTP stacks a cluster backend could speak, side by side.

    python benchmarks/bench_http_stack.py [--requests 2000] [--in-flight 1 100] [--rounds 5]

The fake GPU cluster (tests/fakes/cluster.py) runs in its own process on loopback, so only the
client's CPU is measured (`time.process_time`, every thread of this process). Each stack polls one
job's status (`GET /training/status/{id}`, about 0.5 KB of JSON) `--requests` times with
`--in-flight` requests at once, reading the body in chunks as the backends do:

- aiohttp: one `ClientSession` (core/cluster/http.py's stack);
- httpx over aiohttp (`httpx-aiohttp`'s transport): httpx's API, aiohttp underneath;
- httpx over its own httpcore (what core/cluster/ray.py spoke until this comparison).

The stacks take turns, round after round, so a change in the machine's load falls on all of them;
each figure is the median of the rounds, printed with the load average. Issue 22 asks for httpx
over aiohttp where its CPU per request is within 1.2× of plain aiohttp. httpx and httpx-aiohttp
come with the `bench` extra (`pip install -e '.[bench]'`); the app itself needs neither.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
NEVER = 10**9  # the job's steps: it never ends
RIVAL_LIMIT = 1.2  # issue 22: httpx over aiohttp is taken if it costs at most this × aiohttp

Poll = Callable[[str], Awaitable[int]]


@contextmanager
def fake_cluster_process() -> Iterator[str]:
    """The fake cluster in its own process, answering at once, a step further each poll; its URL."""
    command = ["--token", TOKEN, "--total-steps", str(NEVER), "--steps-per-poll", "1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.cluster", *command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def submit_one_job(base: str) -> str:
    body = {
        "job_id": "bench-job",
        "dataset_url": "file:///pairs.jsonl",
        "hyperparameters": {},
        "gpu_config": {"gpu_type": "cpu", "gpu_count": 1},
    }
    request = urllib.request.Request(
        f"{base}/training/submit",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(json.loads(answer.read())["external_job_id"])


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Stack:
    """One HTTP client, opened inside the running loop, polling with a path."""

    name = ""

    async def open(self, base: str, in_flight: int) -> None: ...

    async def poll(self, path: str) -> int: ...

    async def close(self) -> None: ...


class Aiohttp(Stack):
    name = "aiohttp"

    async def open(self, base: str, in_flight: int) -> None:
        self.base = base
        connector = aiohttp.TCPConnector(limit=in_flight, keepalive_timeout=30.0)
        self.session = aiohttp.ClientSession(
            connector=connector, headers={"Authorization": f"Bearer {TOKEN}", "User-Agent": "loradesk"}
        )

    async def poll(self, path: str) -> int:
        async with self.session.get(self.base + path) as answer:
            body = bytearray()
            async for chunk in answer.content.iter_chunked(256 * 1024):
                body += chunk
            return len(body)

    async def close(self) -> None:
        await self.session.close()


class Httpx(Stack):
    name = "httpx (httpcore)"

    def transport(self, in_flight: int) -> httpx.AsyncBaseTransport | None:
        return None

    async def open(self, base: str, in_flight: int) -> None:
        limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
        self.client = httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {TOKEN}", "User-Agent": "loradesk"},
            limits=limits,
            transport=self.transport(in_flight),
            timeout=httpx.Timeout(30.0, connect=5.0),
        )

    async def poll(self, path: str) -> int:
        async with self.client.stream("GET", path) as answer:
            body = bytearray()
            async for chunk in answer.aiter_bytes():
                body += chunk
            return len(body)

    async def close(self) -> None:
        await self.client.aclose()


class HttpxOverAiohttp(Httpx):
    name = "httpx over aiohttp (httpx-aiohttp)"

    def transport(self, in_flight: int) -> httpx.AsyncBaseTransport | None:
        limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
        return AiohttpTransport(limits=limits)


async def cpu_per_request(stack: Stack, base: str, path: str, requests: int, in_flight: int) -> float:
    """Milliseconds of this process's CPU per request, connections already open."""
    await stack.open(base, in_flight)
    try:
        gate = asyncio.Semaphore(in_flight)

        async def one() -> int:
            async with gate:
                return await stack.poll(path)

        await asyncio.gather(*(one() for _ in range(in_flight * 2)))  # connections open, code warm
        cpu = time.process_time()
        sizes = await asyncio.gather(*(one() for _ in range(requests)))
        cpu = time.process_time() - cpu
        assert all(sizes), "an empty answer: the fake cluster is not answering status polls"
        return cpu / requests * 1000
    finally:
        await stack.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    stacks: list[Stack] = [Aiohttp(), HttpxOverAiohttp(), Httpx()]
    with fake_cluster_process() as base:
        # Points after a step the job never reaches: every answer is the same size (~0.5 KB).
        path = f"/training/status/{submit_one_job(base)}?since_step={NEVER}"
        print(
            f"{args.requests:,} status polls per round, {args.rounds} rounds; fake cluster at {base}",
            flush=True,
        )
        for in_flight in args.in_flight:
            start_load = loadavg()
            figures: dict[str, list[float]] = {stack.name: [] for stack in stacks}
            for _ in range(args.rounds):
                for stack in stacks:
                    cost = await cpu_per_request(stack, base, path, args.requests, in_flight)
                    figures[stack.name].append(cost)
            print(f"\n{in_flight} in flight (load average {start_load} → {loadavg()})", flush=True)
            floor = statistics.median(figures[Aiohttp.name])
            for stack in stacks:
                median = statistics.median(figures[stack.name])
                spread = f"{min(figures[stack.name]):.3f}–{max(figures[stack.name]):.3f}"
                print(
                    f"  {stack.name:<36} {median:.3f} ms CPU/request ({spread})  {median / floor:.2f}×",
                    flush=True,
                )
            rival = statistics.median(figures[HttpxOverAiohttp.name]) / floor
            verdict = "within" if rival <= RIVAL_LIMIT else "beyond"
            print(
                f"  httpx over aiohttp is {rival:.2f}× aiohttp: {verdict} the {RIVAL_LIMIT}× limit",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())
