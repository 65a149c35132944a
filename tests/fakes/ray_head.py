"""A fake Ray dashboard on loopback: the Jobs API (one job, the job list) and the log tail, as the
real one answers them (checked against Ray 2.60's job_head.py and state_head.py), and told to fail
on demand. `requests` records every request ("GET /api/jobs/", "GET /api/v0/logs/file", ...)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeRayJob:
    submission_id: str
    body: dict[str, Any]
    status: str = "PENDING"
    message: str = "Job has not started yet."
    log_lines: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """The job as `GET /api/jobs/{id}` and the job list describe it."""
        return {
            "type": "SUBMISSION",
            "job_id": None,
            "submission_id": self.submission_id,
            "driver_info": None,
            "status": self.status,
            "entrypoint": self.body.get("entrypoint", ""),
            "message": self.message,
            "error_type": None,
            "start_time": 1_795_000_000_000,
            "end_time": 1_795_000_060_000 if self.status in ("SUCCEEDED", "FAILED", "STOPPED") else None,
            "metadata": self.body.get("metadata", {}),
            "runtime_env": self.body.get("runtime_env", {}),
            "driver_agent_http_address": None,
            "driver_node_id": None if self.status == "PENDING" else "node-1",
            "driver_exit_code": None,
        }


class FakeRayHead:
    def __init__(self) -> None:
        self.jobs: dict[str, FakeRayJob] = {}
        self.fail_with: tuple[int, str] | None = None  # (status, body) for every request
        self.garbage = False
        self.refuse_submit: str | None = None  # a 400's body for submissions
        self.stall = 0.0
        self.log_requests: list[int] = []  # the `lines` of each log request
        self.requests: list[str] = []
        self.list_padding = 0  # bytes of entrypoint added to each listed job (a head keeping many)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> FakeRayHead:
        app = web.Application(middlewares=[self._faults])
        app.router.add_post("/api/jobs/", self._submit)
        app.router.add_get("/api/jobs/", self._list)
        app.router.add_get("/api/jobs/{id}", self._details)
        app.router.add_post("/api/jobs/{id}/stop", self._stop)
        app.router.add_get("/api/v0/logs/file", self._logs)
        app.router.add_get("/api/jobs/{id}/logs", self._whole_log)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def add_metric_lines(self, job_id: str, first: int, last: int, total: int) -> None:
        for step in range(first, last + 1):
            point = {"step": step, "epoch": 1, "training_loss": 5.0 - step / total, "total_steps": total}
            self.jobs[job_id].log_lines.append("LORADESK_METRIC " + json.dumps(point))
            self.jobs[job_id].log_lines.append(f"loradesk-trainer: chatter after step {step}")

    @web.middleware
    async def _faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path}")
        if self.stall:
            await asyncio.sleep(self.stall)
        if self.fail_with is not None:
            return web.Response(status=self.fail_with[0], text=self.fail_with[1])
        if self.garbage:
            return web.Response(text="<html>proxy error page</html>", content_type="application/json")
        response: web.StreamResponse = await handler(request)
        return response

    async def _submit(self, request: web.Request) -> web.Response:
        if self.refuse_submit is not None:
            return web.Response(status=400, text=self.refuse_submit)
        body = await request.json()
        job_id = body["submission_id"]
        if job_id in self.jobs:
            # What the head answers: the node agent's 400, relayed as its own 500.
            return web.Response(
                status=500,
                text="Traceback (most recent call last):\nRuntimeError: Request failed with status code "
                "400: Traceback (most recent call last):\n  File x\nValueError: Job with submission_id "
                f"{job_id} already exists. Please use a different submission_id.\n.",
            )
        self.jobs[job_id] = FakeRayJob(job_id, body)
        return web.json_response({"submission_id": job_id, "job_id": None})

    async def _details(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return web.Response(status=404, text=f"Job {request.match_info['id']} does not exist")
        return web.json_response(job.record())

    async def _list(self, request: web.Request) -> web.Response:
        """Every job, as Ray lists them: the Jobs API's submissions, then a job a driver started
        itself (no submission id)."""
        listed = [job.record() for job in self.jobs.values()]
        for record in listed:
            record["entrypoint"] += " " * self.list_padding
        driver = {"type": "DRIVER", "job_id": "01000000", "submission_id": None, "status": "SUCCEEDED"}
        return web.json_response([*listed, driver])

    async def _stop(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return web.Response(status=404, text=f"Job {request.match_info['id']} does not exist")
        if job.status in ("SUCCEEDED", "FAILED", "STOPPED"):
            return web.json_response({"stopped": False})
        job.status, job.message = "STOPPED", "Job was intentionally stopped."
        job.log_lines.append('LORADESK_RESULT {"status": "cancelled", "artifact_url": "s3://b/adapters/x/"}')
        return web.json_response({"stopped": True})

    async def _whole_log(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return web.Response(status=404, text=f"Job {request.match_info['id']} does not exist")
        return web.json_response({"logs": "".join(line + "\n" for line in job.log_lines)})

    async def _logs(self, request: web.Request) -> web.Response:
        job = self.jobs[request.query["submission_id"]]
        assert request.query["node_id"] == "node-1"
        lines = int(request.query["lines"])
        self.log_requests.append(lines)
        chosen = job.log_lines if lines == -1 else job.log_lines[-lines:]
        return web.Response(text="".join(line + "\n" for line in chosen), content_type="text/plain")


def request_kinds(lines: Iterable[str]) -> dict[str, int]:
    """Requests to a Ray dashboard (`"GET /path"` lines) by kind: the job list, one job's
    details, log tails. The fake head's tests and the real head's test count them alike."""
    kinds = {"list": 0, "details": 0, "log": 0}
    for line in lines:
        if line == "GET /api/jobs/":
            kinds["list"] += 1
        elif line.startswith("GET /api/jobs/") and not line.endswith("/logs"):
            kinds["details"] += 1
        elif line == "GET /api/v0/logs/file":
            kinds["log"] += 1
    return kinds
