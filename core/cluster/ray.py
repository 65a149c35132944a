"""The `ray` backend: a Ray cluster's Jobs REST API (SPEC §4b), spoken with aiohttp; no `ray` import.

One Ray job per Loradesk job, `submission_id` = the job id, so a resubmit after a crash finds the
first one (Ray refuses a second job of one submission id, and that refusal is read as "found").
The entrypoint runs `python -m core.trainer --spec-json …` in the cluster's Python, which has
`loradesk[trainer]` (the `ray` extra). What the trainer needs travels in that spec: the dataset's
signed URL, and where the adapter goes: presigned PUT URLs on S3 storage, so nodes need no
credentials, or the job's folder under LORADESK_HOME when storage is local (a head on this machine,
or one that shares the folder).

Metrics come from the trainer's `LORADESK_METRIC` lines in the job's log, read from its tail
(core.cluster.ray_log). aiohttp, as the `http` backend: one HTTP stack for both, the cheapest in
CPU per request (benchmarks/bench_http_stack.py, docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from core.cluster.answer_errors import error_for_answer
from core.cluster.base import (
    ClusterConflictError,
    ClusterError,
    ClusterJobNotFoundError,
    ClusterMalformedError,
    ClusterTransientError,
    LogChunk,
    StatusReport,
    SubmitRequest,
    SubmitResult,
)
from core.cluster.bounds import DEADLINE, MAX_POINTS, MalformedAnswer, decode, read_capped
from core.cluster.ray_log import WHOLE_LOG, LogTail, TailWindows, parse_tail
from core.config import Settings
from core.records import METRIC_FIELDS
from core.s3_storage import S3Storage
from core.storage import Storage, local_storage_root
from core.trainer.checkpoint_files import checkpoint_dir, latest_checkpoint
from core.trainer.distributed import launcher
from core.trainer.report import METRIC_PREFIX, RESULT_PREFIX, SAMPLES_PREFIX

# Ray's job statuses → Loradesk's (SPEC §4b).
STATUSES = {
    "PENDING": "initializing",
    "RUNNING": "running",
    "SUCCEEDED": "completed",
    "FAILED": "failed",
    "STOPPED": "cancelled",
}
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
# The files peft writes for a LoRA adapter; each gets a presigned PUT URL.
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "README.md")
# Ray's names of GPU types where they differ from Loradesk's rates table; others pass as they are.
RAY_ACCELERATOR_NAMES = {"A100-40GB": "A100-40G", "A100-80GB": "A100-80G"}
# Seconds Ray gives a stopped trainer to finish its step and save (and upload) its partial
# adapter before it kills it; the cancel waits a little longer for the job to end.
STOP_GRACE = 20
_MAX_MESSAGE = 1000
# A finished job whose log cannot be read this many polls in a row ends without its last points.
_LOG_FAILURES_TOLERATED = 3
_MACHINE_LINES = (METRIC_PREFIX, SAMPLES_PREFIX, RESULT_PREFIX)
_RELAYED = re.compile(r"Request failed with status code (4\d\d)")
_EXCEPTION_LINE = re.compile(r"^(?:[\w.]+(?:Error|Exception)): (.+)$")


class RayCluster:
    """ClusterBackend over a Ray dashboard's Jobs API. Use from one event loop; `aclose()` it."""

    name = "ray"

    def __init__(
        self,
        base_url: str,
        token: str | None,
        storage: Storage,
        settings: Settings,
        *,
        timeout: float = 30.0,
        stop_grace: int = STOP_GRACE,
        poll_wait: float = 0.5,
        deadline: float = DEADLINE,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._host = urlsplit(base_url).netloc.rpartition("@")[2] or base_url
        self._token = token or None
        self._storage = storage
        self._jobs_dir = settings.home / "jobs"
        self._storage_root = local_storage_root(settings)
        self._timeout = aiohttp.ClientTimeout(
            total=deadline,  # from sending the request to the answer's last byte (SPEC §4)
            sock_connect=5.0,
            sock_read=timeout,
        )
        self._stop_grace = stop_grace
        self._poll_wait = poll_wait
        self._session: aiohttp.ClientSession | None = None
        self._windows = TailWindows()
        self._log_failures: dict[str, int] = {}

    # -- submit ---------------------------------------------------------------------------------

    async def submit(self, request: SubmitRequest) -> SubmitResult:
        # Submitted before (a scheduler died before recording it)? Then that job is this one.
        try:
            return SubmitResult(request.job_id, (await self._details(request.job_id))[0])
        except ClusterJobNotFoundError:
            pass
        payload = self.submission(request)
        try:
            await self._request("POST", "/api/jobs/", "submit", json=payload)
        except ClusterError as exc:
            if "already exists" not in str(exc):
                raise
            # Another scheduler's submit got there between the look and ours.
            return SubmitResult(request.job_id, (await self._details(request.job_id))[0])
        return SubmitResult(request.job_id, "initializing")

    def submission(self, request: SubmitRequest) -> dict[str, Any]:
        """The body of `POST /api/jobs/` for a job."""
        spec = self._trainer_spec(request)
        # Several GPUs: the entrypoint (which Ray gives them all, on one node) starts one trainer
        # per GPU under torchrun, data-parallel, as the local backend does.
        command = ["python", *launcher(request.gpu_count), "-m", "core.trainer", "--spec-json"]
        payload: dict[str, Any] = {
            "submission_id": request.job_id,
            "entrypoint": f"{' '.join(command)} {shlex.quote(json.dumps(spec))}",
            "runtime_env": {
                "env_vars": {"RAY_JOB_STOP_WAIT_TIME_S": str(self._stop_grace), "PYTHONUNBUFFERED": "1"}
            },
            "metadata": {"loradesk_job_id": request.job_id},
        }
        if request.gpu_type != "cpu":
            payload["entrypoint_num_gpus"] = request.gpu_count
            accelerator = RAY_ACCELERATOR_NAMES.get(request.gpu_type, request.gpu_type)
            # Ray's own way to ask for a GPU type: a sliver of the node's accelerator resource.
            payload["entrypoint_resources"] = {f"accelerator_type:{accelerator}": 0.001}
        return payload

    def _trainer_spec(self, request: SubmitRequest) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "job_id": request.job_id,
            "dataset_url": request.dataset_url,
            "hyperparameters": request.hyperparameters,
            "log_metrics": True,
        }
        parent, step = request.resume_from_job, request.resume_from_step
        if isinstance(self._storage, S3Storage):
            spec["adapter_upload"] = self._storage.adapter_upload_urls(request.job_id, ADAPTER_FILES)
            spec["artifact_url"] = self._storage.adapter_url(request.job_id)
            spec["checkpoint_upload"] = self._storage.checkpoint_upload_urls(request.job_id)
            if parent is not None and step is not None:
                spec["resume_checkpoint_url"] = self._storage.checkpoint_download_url(parent)
        else:
            # Local storage: the head shares this machine's folders; the job folder holds the run.
            spec["output_dir"] = str(self._jobs_dir / request.job_id)
            spec["storage_root"] = str(self._storage_root)
            if parent is not None and step is not None:
                spec["resume_from_checkpoint"] = str(checkpoint_dir(self._jobs_dir / parent, step))
        return spec

    async def latest_checkpoint(self, external_job_id: str) -> int | None:
        """The step of the run's latest checkpoint: the one it uploaded to S3 storage, or the one
        in its folder when storage is local (CheckpointKeeper)."""
        if isinstance(self._storage, S3Storage):
            return await asyncio.to_thread(self._storage.checkpoint_step, external_job_id)
        found = await asyncio.to_thread(latest_checkpoint, self._jobs_dir / external_job_id)
        return found[0] if found else None

    # -- status ---------------------------------------------------------------------------------

    async def status(self, external_job_id: str, since_step: int | None) -> StatusReport:
        status, details = await self._details(external_job_id)
        ray_status = details["status"]
        tail = LogTail()
        if details.get("driver_node_id"):
            tail = await self._read_tail(external_job_id, details, since_step, ray_status in TERMINAL)
        if ray_status in TERMINAL:
            self._windows.forget(external_job_id)
            self._log_failures.pop(external_job_id, None)
        history = tail.after(since_step)
        more_points = len(history) > MAX_POINTS
        history = history[:MAX_POINTS]  # in step order; the rest comes with the next poll
        last = tail.points[-1] if tail.points else None
        result = tail.result or {}
        step = last["step"] if last else None
        total_steps = last.get("total_steps") if last else None
        if status == "completed":
            progress: float | None = 100.0
        elif step and total_steps:
            progress = min(100.0, 100.0 * step / total_steps)
        else:
            progress = None
        return StatusReport(
            status=status,
            progress=progress,
            current_epoch=last.get("epoch") if last else None,
            total_epochs=last.get("total_epochs") if last else None,
            current_step=step,
            total_steps=total_steps,
            metrics={k: last[k] for k in METRIC_FIELDS if last and k in last},
            metrics_history=history,
            more_points=more_points,
            error_message=self._failure(details, result) if status == "failed" else None,
            artifact_url=_text(result.get("artifact_url")) if status in ("completed", "cancelled") else None,
            started_at=_moment(details.get("start_time")),
            completed_at=_moment(details.get("end_time")) if ray_status in TERMINAL else None,
            samples=tail.samples_after(since_step),
        )

    async def _details(self, job_id: str) -> tuple[str, dict[str, Any]]:
        details = await self._request("GET", f"/api/jobs/{quote(job_id, safe='')}", "status")
        if not isinstance(details, dict) or details.get("status") not in STATUSES:
            raise ClusterTransientError("malformed answer from the Ray cluster: no job status")
        return STATUSES[details["status"]], details

    async def _read_tail(
        self, job_id: str, details: dict[str, Any], since_step: int | None, terminal: bool
    ) -> LogTail:
        """The window of the log that holds every point after `since_step`."""
        lines = self._windows.first(job_id)
        while True:
            try:
                text = await self._log_lines(job_id, str(details["driver_node_id"]), lines)
            except ClusterTransientError:
                if not terminal:
                    raise
                failures = self._log_failures[job_id] = self._log_failures.get(job_id, 0) + 1
                if failures < _LOG_FAILURES_TOLERATED:
                    raise
                return LogTail()  # its node is gone for good: end the job without the last points
            tail, count = parse_tail(text, since_step)
            if lines == WHOLE_LOG or count < lines or tail.reaches(since_step):
                # A first read (nothing stored) says nothing about the pace of later polls.
                self._windows.learn(job_id, tail.lines_after if since_step is not None else 0)
                return tail
            lines = self._windows.wider(lines)

    async def _log_lines(self, job_id: str, node_id: str, lines: int) -> str:
        params = {"submission_id": job_id, "node_id": node_id, "lines": str(lines)}
        return str(await self._request("GET", "/api/v0/logs/file", "logs", params=params, text=True))

    def _failure(self, details: dict[str, Any], result: dict[str, Any]) -> str:
        """Ray's message (its first line; the rest is the log's tail) with the reason: the
        trainer's, or else the log's last line (a trainer that never ran: Loradesk missing there)."""
        lines = [line.strip() for line in str(details.get("message") or "").splitlines() if line.strip()]
        ray_message = lines[0] if lines else ""
        reason = _text(result.get("error_message")) or (lines[-1] if len(lines) > 1 else "")
        if "No module named core" in reason or "No module named 'core" in reason:
            reason = f"{reason} (the cluster's Python needs pip install 'loradesk[ray]'; see docs/ray.md)"
        message = ": ".join(part.rstrip(":") for part in (ray_message, reason) if part)
        message = message or "the Ray job failed without a message"
        return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"

    # -- cancel ---------------------------------------------------------------------------------

    async def cancel(self, external_job_id: str) -> str | None:
        """Stop the Ray job, then wait for the trainer to save and upload its partial adapter
        (Ray gives it `stop_grace` seconds); that adapter's URL, None when it saved none."""
        path = f"/api/jobs/{quote(external_job_id, safe='')}/stop"
        answer = await self._request("POST", path, "cancel")
        if isinstance(answer, dict) and answer.get("stopped") is False:
            status, _ = await self._details(external_job_id)
            raise ClusterConflictError(f"the job has already ended on the Ray cluster ({status})")
        deadline = time.monotonic() + self._stop_grace + 10
        while time.monotonic() < deadline:
            await asyncio.sleep(self._poll_wait)
            try:
                report = await self.status(external_job_id, since_step=None)
            except ClusterTransientError:
                continue
            if report.status in ("cancelled", "completed", "failed"):
                return report.artifact_url if report.status == "cancelled" else None
        return None

    # -- the log --------------------------------------------------------------------------------

    async def read_log(self, external_job_id: str, offset: int) -> LogChunk:
        """The job's log from byte `offset`, whole lines, without the trainer's machine-readable
        lines. Ray's Jobs API answers the whole log each time (it has no offset): fine for the one
        log a person reads, not for the polls, which read the tail instead."""
        path = f"/api/jobs/{quote(external_job_id, safe='')}/logs"
        answer = await self._request("GET", path, "status")
        logs = answer.get("logs") if isinstance(answer, dict) else None
        if not isinstance(logs, str):
            raise ClusterTransientError("malformed answer from the Ray cluster: no logs")
        data = logs.encode("utf-8")
        start = min(max(0, offset), len(data))
        end = data.rfind(b"\n", start) + 1 or start  # whole lines only; the rest comes next time
        lines = data[start:end].decode("utf-8", "replace").splitlines(keepends=True)
        text = "".join(line for line in lines if not line.startswith(_MACHINE_LINES))
        return LogChunk(text=text, next_offset=end)

    # -- HTTP -----------------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        """The session, made on first use inside the event loop that will use it."""
        if self._session is None or self._session.closed:
            headers = {"User-Agent": "loradesk"}
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            self._session = aiohttp.ClientSession(headers=headers, timeout=self._timeout)
        return self._session

    async def _request(
        self, method: str, path: str, endpoint: str, *, text: bool = False, **kwargs: Any
    ) -> Any:
        """One request under the total deadline, its body read no further than MAX_BODY and its
        JSON no deeper than MAX_DEPTH (SPEC §4)."""
        try:
            async with self._http().request(method, self._base + path, **kwargs) as answer:
                code = answer.status
                body = await read_capped(answer.content.iter_chunked(256 * 1024), answer.content_length)
        except MalformedAnswer as exc:
            raise ClusterMalformedError(f"malformed answer from the Ray cluster: {exc}") from None
        except TimeoutError as exc:  # aiohttp's connect and read timeouts are TimeoutErrors too
            raise ClusterTransientError(f"timed out waiting for the Ray cluster at {self._host}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            reason = self._clean(str(exc)) or type(exc).__name__
            raise ClusterTransientError(f"could not reach the Ray cluster at {self._host}: {reason}") from exc
        error = self._error_for(code, body.decode("utf-8", "replace"), endpoint)
        if error is not None:
            raise error
        if text:
            return body.decode("utf-8", "replace")
        try:
            return decode(body)
        except MalformedAnswer as exc:
            raise ClusterMalformedError(f"malformed answer from the Ray cluster: {exc}") from None

    def _error_for(self, code: int, body: str, endpoint: str) -> ClusterError | None:
        """The class SPEC §4 gives an answer, with Ray's own words."""
        if 200 <= code < 300:
            return None
        message = self._clean(_ray_reason(body))
        # The head hands a submission to a node's agent, and answers that agent's refusal (a 400)
        # as its own 500 "Request failed with status code 400: <traceback>": a refusal still.
        relayed = _RELAYED.search(body)
        if endpoint == "submit" and code >= 500 and relayed:
            code = int(relayed.group(1))
        return error_for_answer(code, endpoint, message, cluster="the Ray cluster", token="token")

    def _clean(self, text: str) -> str:
        line = " ".join(text.split())
        if self._token:
            line = line.replace(self._token, "***")
        return line if len(line) <= 300 else line[:299] + "…"

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _ray_reason(body: str) -> str:
    """Ray answers errors with a Python traceback: its last `SomeError: reason` line is the
    reason; otherwise the last line of the text."""
    lines = [line.strip() for line in body.strip().splitlines() if line.strip(" .")]
    for line in reversed(lines):
        found = _EXCEPTION_LINE.match(line)
        if found:
            return found.group(1).rstrip(".") + "."
    return lines[-1] if lines else ""


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _moment(milliseconds: Any) -> datetime | None:
    if not isinstance(milliseconds, int | float) or isinstance(milliseconds, bool) or milliseconds <= 0:
        return None
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)
