"""FakeCluster: a real HTTP server on loopback that speaks the GPU cluster API of SPEC §4.

Jobs follow a deterministic plan (`JobPlan`): every status poll moves a job `steps_per_poll`
steps (0 = only `advance()` moves it) until `total_steps`, where it ends `completed` with an
`artifact_url` or `failed` with the plan's `error_message`. With `seconds_per_step` the job runs
on the clock instead, from its submit, however often (or seldom) it is polled; `report_times()`
adds the optional `started_at`/`completed_at` of SPEC §4 to status answers. Losses follow a fixed
curve unless the plan (or `set_loss`) says otherwise, which is how a test injects NaN or infinity
at a step.

The optional batch status endpoint (`POST /training/status`, SPEC §4) answers after
`serve_batch()`; until then it is 404, as on a cluster without it. Its endpoint name for faults
and counters is `"batch"`.

The optional logs endpoint (`GET /training/logs/{id}?offset=N`) answers the job's log from byte
N: a line at submit, then whatever `append_log` adds; after `keep_no_logs()` it answers 404.

Faults (`fail_with`, `stall`, `answer_garbage`, `reject_submissions`) apply to one endpoint
(`"submit"`, `"status"`, `"cancel"`, `"logs"`, `"batch"`) or to all (`endpoint=None`), for the
next `times` requests (`times=None`: until `clear_faults()`). They act before the token check, as
a proxy or a broken server would; `hold_submit_answers` instead carries the submit out and then
holds its answer.
Counters:

- `requests_by_endpoint`: every request received, faulted and unauthorised ones included;
- `submit_calls`, `status_calls`, `cancel_calls`: requests that reached the cluster's logic;
- `max_concurrent`: the most requests the server was answering at one moment;
- `held_submits`: (job_id, client port) of submits accepted and then held by `hold_submit_answers`.

In-process: `with FakeCluster(token="t") as fake: HttpCluster(fake.url, "t")`. As its own process
(benchmarks, so the client's CPU is measured alone), it prints its URL on the first line:
`python -m tests.fakes.cluster --port 0 --latency 0.05 --token T --steps-per-poll 10`.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

# "batch" is `POST /training/status` (SPEC §4, optional): many jobs' statuses in one request.
ENDPOINTS = ("submit", "status", "cancel", "logs", "batch")
TERMINAL = frozenset({"completed", "failed", "cancelled"})


@dataclass
class JobPlan:
    total_steps: int = 100
    total_epochs: int = 1
    steps_per_poll: int = 10
    outcome: str = "completed"  # or "failed"
    error_message: str = "training diverged"
    losses: dict[int, float] = field(default_factory=dict)  # step → training loss override
    seconds_per_step: float = 0.0  # > 0: the job runs on the clock, not per poll
    report_times: bool | None = None  # started_at/completed_at in answers; None: as report_times()
    keeps_partial_adapter: bool = False  # a cancelled job's answers name the adapter it saved
    # Every `sample_every` steps (0: never) an evaluation answers `sample_prompts` prompts; status
    # answers carry the samples of steps > since_step (SPEC §4), plus `extra_samples` as given.
    sample_every: int = 0
    sample_prompts: int = 2
    sample_output: str = "answer {prompt} at step {step}"
    extra_samples: list[Any] = field(default_factory=list)


@dataclass
class FakeJob:
    external_id: str
    job_id: str
    request: dict[str, Any]
    plan: JobPlan
    status: str = "initializing"
    current_step: int = 0
    forgotten: bool = False
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    completed_at: datetime | None = None

    def metrics_at(self, step: int) -> dict[str, Any]:
        loss = self.plan.losses.get(step, round(2.5 * math.exp(-3 * step / self.plan.total_steps), 6))
        return {
            "step": step,
            "epoch": self.epoch_at(step),
            "training_loss": loss,
            "validation_loss": loss + 0.05 if math.isfinite(loss) else loss,
            "learning_rate": 2e-4,
            "throughput": 1200.0 + step % 7,
            "gpu_utilization": 92.0,
            "gpu_memory_used": 21.5,
            "grad_norm": 0.5 + step / 1000,  # an extra metric the contract lets a cluster send
        }

    def samples_at(self, step: int) -> list[dict[str, Any]]:
        every = self.plan.sample_every
        if not every or step % every:
            return []
        return [
            {
                "step": step,
                "prompt_index": index,
                "prompt": f"prompt {index}",
                "expected": f"expected {index}",
                "output": self.plan.sample_output.format(prompt=index, step=step),
            }
            for index in range(self.plan.sample_prompts)
        ]

    def epoch_at(self, step: int) -> int:
        if step <= 0:
            return 0
        return min(self.plan.total_epochs, 1 + (step - 1) * self.plan.total_epochs // self.plan.total_steps)

    def move(self, steps: int) -> None:
        if self.status in TERMINAL or steps <= 0:
            return
        self.current_step = min(self.plan.total_steps, self.current_step + steps)
        self.status = "running"
        if self.current_step >= self.plan.total_steps:
            self.end(self.plan.outcome, datetime.now(UTC))

    def run_to(self, now: datetime) -> None:
        """A clock-driven job: where it stands at `now`, ending at its exact finishing time."""
        if self.status in TERMINAL:
            return
        per_step = self.plan.seconds_per_step
        step = int((now - self.started_at).total_seconds() / per_step)
        if step > self.current_step:
            self.current_step = min(self.plan.total_steps, step)
            self.status = "running"
        if self.current_step >= self.plan.total_steps:
            self.end(self.plan.outcome, self.started_at + timedelta(seconds=per_step * self.plan.total_steps))

    def end(self, status: str, at: datetime) -> None:
        self.status, self.completed_at = status, at


@dataclass
class _Fault:
    endpoint: str | None
    remaining: int | None
    status: int = 200
    body: bytes = b""
    stall: float = 0.0
    after_accepting: bool = False  # the request is carried out, then its answer is held
    job: str | None = None  # only requests about this cluster job (None: any)
    drip: float = 0.0  # > 0: the answer goes out this many bytes a second
    chunks: Callable[[], Iterator[bytes]] | None = None  # a body made while it is sent
    length: int = 0  # the length of `chunks`' body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the benchmark opens a hundred-odd connections at once
    fake: FakeCluster

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (timeouts, shutdown) is expected here; anything else is a bug.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses its connections
    disable_nagle_algorithm = True
    wbufsize = -1  # headers and body leave in one write, flushed by the base class
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def do_GET(self) -> None:
        self.server.fake._handle(self)

    def do_POST(self) -> None:
        self.server.fake._handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply_chunks(self, chunks: Iterator[bytes], length: int) -> None:
        """A 200 whose body goes out chunk by chunk as `chunks` makes it."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.flush()
        for chunk in chunks:
            self.wfile.write(chunk)
            self.wfile.flush()
        self.close_connection = True  # a drip cut short by close() leaves the body unfinished

    def reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FakeCluster:
    def __init__(
        self,
        token: str | None = "test-token",
        *,
        plan: JobPlan | None = None,
        latency: float = 0.0,
        port: int = 0,
    ) -> None:
        self.default_plan = plan or JobPlan()
        self._token = token
        self._latency = latency
        self._lock = threading.Lock()
        self._closing = threading.Event()  # cuts stalls and latency short on close()
        self._jobs: dict[str, FakeJob] = {}
        self._by_job_id: dict[str, str] = {}
        self._plans: dict[str, JobPlan] = {}
        self._faults: list[_Fault] = []
        self._omit_history = False
        self._logs: dict[str, bytearray] = {}
        self._keeps_logs = True
        # The batch status endpoint is optional (SPEC §4); off by default, as most tests script
        # one job's answers on the per-job endpoint. `serve_batch()` turns it on.
        self._serves_batch = False
        self._report_times = False
        self.held_submits: list[tuple[str, int]] = []
        self.cut_answers = 0  # answers a client hung up on while they were being sent
        self._connections: set[socket.socket] = set()
        self._in_flight = 0
        self.max_concurrent = 0
        self.submit_calls = self.status_calls = self.cancel_calls = 0
        self.requests_by_endpoint: collections.Counter[str] = collections.Counter()
        # (method, path with query) of recent requests, for tests that check what was sent
        self.recent_requests: collections.deque[tuple[str, str]] = collections.deque(maxlen=1000)
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.fake = self
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeCluster:
        # A short poll interval, as shutdown() waits for the serving loop to look up.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-cluster", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        with self._lock:  # idle keep-alive connections would hold their threads otherwise
            for conn in self._connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def __enter__(self) -> FakeCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- scripting jobs --------------------------------------------------------------------------

    @property
    def jobs(self) -> dict[str, FakeJob]:
        """The cluster's jobs as they stand now (clock-driven ones moved to this moment)."""
        with self._lock:
            now = datetime.now(UTC)
            for job in self._jobs.values():
                if job.plan.seconds_per_step > 0:
                    job.run_to(now)
            return dict(self._jobs)

    def plan_job(self, job_id: str, plan: JobPlan) -> None:
        """The plan for the job submitted later under `job_id` (else `default_plan`)."""
        with self._lock:
            self._plans[job_id] = plan

    def advance(self, external_id: str, steps: int) -> None:
        with self._lock:
            self._jobs[external_id].move(steps)

    def set_loss(self, external_id: str, step: int, loss: float) -> None:
        with self._lock:
            self._jobs[external_id].plan.losses[step] = loss

    def forget_job(self, external_id: str) -> None:
        with self._lock:
            self._jobs[external_id].forgotten = True

    def revoke_token(self) -> None:
        self.set_token(None)

    def set_token(self, token: str | None) -> None:
        with self._lock:
            self._token = token

    # -- faults ----------------------------------------------------------------------------------

    def fail_with(
        self, status_code: int, body: Any = None, times: int | None = 1, endpoint: str | None = None
    ) -> None:
        """Answer `status_code` with `body` (a dict/list is sent as JSON, str/bytes as is)."""
        if body is None:
            body = {"error": f"injected HTTP {status_code}"}
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self._add_fault(_Fault(endpoint, times, status=status_code, body=body))

    def stall(self, seconds: float, times: int | None = 1, endpoint: str | None = None) -> None:
        """Wait `seconds` before answering normally, long enough for a client to time out."""
        self._add_fault(_Fault(endpoint, times, status=0, stall=seconds))

    def hold_submit_answers(self, seconds: float, times: int | None = 1) -> None:
        """Accept the submit (the job exists on the cluster), then hold the answer `seconds`: the
        window in which a scheduler that dies leaves a cluster job it never recorded."""
        self._add_fault(_Fault("submit", times, status=0, stall=seconds, after_accepting=True))

    def answer_garbage(self, times: int | None = 1, endpoint: str | None = None) -> None:
        self.fail_with(200, b"<html>502 Bad Gateway</html>\x00\xff", times, endpoint)

    def drip(
        self,
        bytes_per_second: float = 1.0,
        *,
        job: str | None = None,
        times: int | None = None,
        endpoint: str | None = "status",
    ) -> None:
        """Send the (normal) answer a few bytes a second: a cluster behind a failing link. Only
        for cluster job `job`, if given. `cut_answers` counts the drips a client hung up on."""
        self._add_fault(_Fault(endpoint, times, status=0, job=job, drip=bytes_per_second))

    def answer_with(
        self,
        body: bytes | Callable[[], Iterator[bytes]],
        *,
        length: int | None = None,
        job: str | None = None,
        times: int | None = None,
        endpoint: str | None = "status",
    ) -> None:
        """Answer 200 with this body: bytes, or a function making its chunks (of `length` bytes
        in all) while they are sent, so that a 100 MB body never sits in memory here."""
        if isinstance(body, bytes):
            self._add_fault(_Fault(endpoint, times, status=200, body=body, job=job))
        else:
            assert length is not None, "a body made while sent needs its length"
            self._add_fault(_Fault(endpoint, times, status=200, job=job, chunks=body, length=length))

    def reject_submissions(
        self, status: int = 422, message: str = "invalid job", times: int | None = None
    ) -> None:
        self.fail_with(status, {"error": message}, times, endpoint="submit")

    def append_log(self, external_id: str, text: str) -> None:
        """More output of the job's trainer, as the cluster's logs endpoint will answer it."""
        with self._lock:
            self._logs.setdefault(external_id, bytearray()).extend(text.encode())

    def keep_no_logs(self, keep_none: bool = True) -> None:
        """Answer the logs endpoint with 404, as a cluster that keeps no logs does."""
        with self._lock:
            self._keeps_logs = not keep_none

    def serve_batch(self, serve: bool = True) -> None:
        """Answer the batch status endpoint, or (False, the default) 404 it as a cluster without one."""
        with self._lock:
            self._serves_batch = serve

    def omit_history(self, omit: bool = True) -> None:
        with self._lock:
            self._omit_history = omit

    def report_times(self, report: bool = True) -> None:
        """Put `started_at`/`completed_at` (SPEC §4, optional) in status answers."""
        with self._lock:
            self._report_times = report

    def latency(self, seconds: float) -> None:
        """Wait `seconds` before every answer (the benchmark's 50 ms cluster)."""
        with self._lock:
            self._latency = seconds

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _add_fault(self, fault: _Fault) -> None:
        if fault.endpoint not in (None, *ENDPOINTS):
            raise ValueError(f"endpoint must be one of {ENDPOINTS} or None")
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, endpoint: str | None, job: str | None = None) -> _Fault | None:
        for fault in self._faults:
            if fault.endpoint in (None, endpoint) and fault.job in (None, job):
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    # -- serving ---------------------------------------------------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def _handle(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""  # read it all: the socket is reused
        url = urlsplit(handler.path)
        parts = url.path.strip("/").split("/")
        endpoint = parts[1] if len(parts) >= 2 and parts[0] == "training" else None
        endpoint = endpoint if endpoint in ENDPOINTS else None
        if endpoint == "status" and handler.command == "POST" and len(parts) == 2:
            endpoint = "batch"
        with self._lock:
            self._in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self._in_flight)
            self.requests_by_endpoint[endpoint or "other"] += 1
            self.recent_requests.append((handler.command, handler.path))
            fault = self._take_fault(endpoint, unquote(parts[2]) if len(parts) > 2 else None)
            latency = self._latency
        try:
            if fault is not None and fault.after_accepting:
                status, answer = self._answer(handler, endpoint, parts, url.query, raw)
                if isinstance(answer, dict) and "external_job_id" in answer:
                    with self._lock:
                        self.held_submits.append((json.loads(raw)["job_id"], handler.client_address[1]))
                self._closing.wait(latency + fault.stall)
                handler.reply(status, json.dumps(answer).encode())
                return
            self._closing.wait(latency + (fault.stall if fault else 0.0))
            if fault is not None and fault.chunks is not None:
                handler.reply_chunks(fault.chunks(), fault.length)
                return
            if fault is not None and fault.status:
                status, body = fault.status, fault.body
            else:
                status, answer = self._answer(handler, endpoint, parts, url.query, raw)
                body = json.dumps(answer).encode()  # NaN and Infinity as Python writes them
            if fault is not None and fault.drip:
                handler.reply_chunks(self._dripping(body, fault.drip), len(body))
                return
            handler.reply(status, body)
        except (ConnectionError, TimeoutError):
            handler.close_connection = True
            if fault is not None and (fault.drip or fault.chunks):
                with self._lock:
                    self.cut_answers += 1
        finally:
            with self._lock:
                self._in_flight -= 1

    def _dripping(self, body: bytes, per_second: float) -> Iterator[bytes]:
        for index in range(len(body)):
            yield body[index : index + 1]
            if self._closing.wait(1.0 / per_second):
                return

    def _answer(
        self, handler: _Handler, endpoint: str | None, parts: list[str], query: str, raw: bytes
    ) -> tuple[int, Any]:
        with self._lock:
            token = self._token
        if token is None or handler.headers.get("Authorization") != f"Bearer {token}":
            return 401, {"error": "invalid or missing API token"}
        expected = {
            "submit": ("POST", 2),
            "status": ("GET", 3),
            "cancel": ("POST", 3),
            "logs": ("GET", 3),
            "batch": ("POST", 2),
        }
        with self._lock:
            no_batch = endpoint == "batch" and not self._serves_batch
        if endpoint is None or no_batch or (handler.command, len(parts)) != expected[endpoint]:
            return 404, {"error": f"no route for {handler.command} {urlsplit(handler.path).path}"}
        if endpoint == "submit":
            return self._submit(raw)
        if endpoint == "batch":
            return self._batch(raw)
        external_id = unquote(parts[2])
        if endpoint == "status":
            since = parse_qs(query).get("since_step", [None])[0]
            try:
                since_step = None if since is None else int(since)
            except ValueError:
                return 400, {"error": "since_step must be an integer"}
            return self._status(external_id, since_step)
        if endpoint == "logs":
            return self._log(external_id, parse_qs(query).get("offset", ["0"])[0])
        return self._cancel(external_id)

    def _submit(self, raw: bytes) -> tuple[int, Any]:
        try:
            request = json.loads(raw)
            gpu = request["gpu_config"]
            valid = (
                isinstance(request["job_id"], str)
                and isinstance(request["dataset_url"], str)
                and isinstance(request["hyperparameters"], dict)
                and isinstance(gpu["gpu_type"], str)
                and isinstance(gpu["gpu_count"], int)
            )
        except (ValueError, KeyError, TypeError):
            valid = False
        if not valid:
            return 422, {"error": "body must hold job_id, dataset_url, hyperparameters, gpu_config"}
        with self._lock:
            self.submit_calls += 1
            external_id = self._by_job_id.get(request["job_id"])
            if external_id is None:  # job_id is the idempotency key
                external_id = f"fake-{len(self._jobs) + 1:06d}"
                plan = self._plans.get(request["job_id"], self.default_plan)
                plan = replace(plan, losses=dict(plan.losses))
                self._jobs[external_id] = FakeJob(external_id, request["job_id"], request, plan)
                self._by_job_id[request["job_id"]] = external_id
                self._logs[external_id] = bytearray(f"accepted job {request['job_id']}\n".encode())
            return 200, {"external_job_id": external_id, "status": self._jobs[external_id].status}

    def _status(self, external_id: str, since_step: int | None) -> tuple[int, Any]:
        with self._lock:
            self.status_calls += 1
            job = self._jobs.get(external_id)
            if job is None or job.forgotten:
                return 404, {"error": "job not found"}
            if job.plan.seconds_per_step > 0:
                job.run_to(datetime.now(UTC))
            else:
                job.move(job.plan.steps_per_poll)
            step, plan = job.current_step, job.plan
            answer: dict[str, Any] = {
                "status": job.status,
                "progress": round(100.0 * step / plan.total_steps, 2),
                "current_epoch": job.epoch_at(step),
                "total_epochs": plan.total_epochs,
                "current_step": step,
                "total_steps": plan.total_steps,
                "metrics": {k: v for k, v in job.metrics_at(step).items() if k not in ("step", "epoch")}
                if step
                else {},
                "error_message": plan.error_message if job.status == "failed" else None,
                "artifact_url": f"{self.url}/artifacts/{external_id}/adapter"
                if job.status == "completed" or (job.status == "cancelled" and plan.keeps_partial_adapter)
                else None,
            }
            if self._report_times if plan.report_times is None else plan.report_times:
                answer["started_at"] = job.started_at.isoformat()
                answer["completed_at"] = job.completed_at.isoformat() if job.completed_at else None
            first = 1 if since_step is None else max(1, since_step + 1)
            if not self._omit_history:
                answer["metrics_history"] = [job.metrics_at(s) for s in range(first, step + 1)]
            if plan.sample_every or plan.extra_samples:
                found = [item for s in range(first, step + 1) for item in job.samples_at(s)]
                answer["samples"] = found + list(plan.extra_samples)
            return 200, answer

    def _batch(self, raw: bytes) -> tuple[int, Any]:
        """Each asked job's status answer, or {"error": 404} for one this cluster does not know."""
        try:
            asked = [(item["external_job_id"], item.get("since_step")) for item in json.loads(raw)["jobs"]]
            valid = len(asked) <= 500 and all(
                isinstance(e, str) and (s is None or isinstance(s, int)) for e, s in asked
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            valid = False
        if not valid:
            return 422, {"error": 'body must be {"jobs": [{"external_job_id", "since_step"}, …]} (≤ 500)'}
        statuses = {}
        for external_id, since_step in asked:
            code, answer = self._status(external_id, since_step)
            statuses[external_id] = answer if code == 200 else {"error": code}
        return 200, {"statuses": statuses}

    def _log(self, external_id: str, offset_text: str) -> tuple[int, Any]:
        with self._lock:
            job = self._jobs.get(external_id)
            if not self._keeps_logs or job is None or job.forgotten:
                return 404, {"error": "no logs"}
            try:
                offset = max(0, int(offset_text))
            except ValueError:
                return 400, {"error": "offset must be an integer"}
            log = bytes(self._logs.get(external_id, b""))
            return 200, {"text": log[offset:].decode("utf-8", "replace"), "next_offset": len(log)}

    def _cancel(self, external_id: str) -> tuple[int, Any]:
        with self._lock:
            self.cancel_calls += 1
            job = self._jobs.get(external_id)
            if job is None or job.forgotten:
                return 404, {"error": "job not found"}
            now = datetime.now(UTC)
            if job.plan.seconds_per_step > 0:
                job.run_to(now)
            if job.status in TERMINAL:
                return 409, {"error": f"job already {job.status}"}
            job.end("cancelled", now)
            return 200, {"status": "cancelled"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake GPU cluster on loopback.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before every answer")
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--steps-per-poll", type=int, default=10)
    parser.add_argument("--total-steps", type=int, default=100)
    parser.add_argument("--total-epochs", type=int, default=1)
    parser.add_argument("--batch", action="store_true", help="serve POST /training/status")
    args = parser.parse_args(argv)
    plan = JobPlan(args.total_steps, args.total_epochs, args.steps_per_poll)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with FakeCluster(args.token, plan=plan, latency=args.latency, port=args.port) as fake:
        fake.serve_batch(args.batch)
        print(fake.url, flush=True)  # the parent reads this line to know where to connect
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
