"""The `ray` backend: a Ray cluster's Jobs REST API (SPEC §4b), spoken with aiohttp; no `ray` import.

One Ray job per Loradesk job, `submission_id` = the job id, so a resubmit after a crash finds the
first one (Ray refuses a second job of one submission id, and that refusal is read as "found").
The entrypoint runs `python -m core.trainer --spec-json …` in the cluster's Python, which has
`loradesk[trainer]` (the `ray` extra). What the trainer needs travels in that spec: the dataset's
signed URL, and where the adapter goes: presigned PUT URLs on S3 storage, so nodes need no
credentials, or the job's folder under LORADESK_HOME when storage is local (a head on this machine,
or one that shares the folder).

Metrics come from the trainer's `LORADESK_METRIC` lines in the job's log, read from its tail
(core.cluster.ray_log). A round of polls (`statuses`) reads every job's status from one request,
Ray's job list (core.cluster.ray_jobs), then the log tails of the jobs that may have moved. The
dashboard is spoken to with aiohttp (core.cluster.ray_http), as the `http` backend speaks: one HTTP
stack for both, the cheapest in CPU per request (benchmarks/bench_http_stack.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp

from core.cluster.base import (
    ClusterConflictError,
    ClusterError,
    ClusterJobNotFoundError,
    ClusterTransientError,
    LogChunk,
    StatusReport,
    SubmitRequest,
    SubmitResult,
)
from core.cluster.bounds import DEADLINE, MAX_POINTS
from core.cluster.ray_http import AnswerTooLarge, RayDashboard
from core.cluster.ray_jobs import STATUSES, RayJob, job_list, one_job
from core.cluster.ray_log import WHOLE_LOG, LogTail, TailWindows, parse_tail
from core.config import Settings
from core.records import METRIC_FIELDS
from core.storage.buckets import Storage
from core.storage.folder import local_storage_root
from core.storage.s3 import S3Storage
from core.trainer.checkpoint_files import checkpoint_dir, latest_checkpoint
from core.trainer.distributed import launcher
from core.trainer.report import METRIC_PREFIX, RESULT_PREFIX, SAMPLES_PREFIX

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
# Seconds a head whose job list is past one answer's bound is polled job by job before it is
# asked for its list again.
_LIST_RETRY = 600.0
_MACHINE_LINES = (METRIC_PREFIX, SAMPLES_PREFIX, RESULT_PREFIX)

log = logging.getLogger(__name__)


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
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
    ) -> None:
        self._dashboard = RayDashboard(
            base_url, token, timeout=timeout, deadline=deadline, trace_configs=trace_configs
        )
        self._storage = storage
        self._jobs_dir = settings.home / "jobs"
        self._storage_root = local_storage_root(settings)
        self._stop_grace = stop_grace
        self._poll_wait = poll_wait
        self._list_refused_until = 0.0  # monotonic time before which the job list is not asked
        self._windows = TailWindows()
        self._log_failures: dict[str, int] = {}

    # -- submit ---------------------------------------------------------------------------------

    async def submit(self, request: SubmitRequest) -> SubmitResult:
        # Submitted before (a scheduler died before recording it)? Then that job is this one.
        try:
            return SubmitResult(request.job_id, STATUSES[(await self._details(request.job_id)).status])
        except ClusterJobNotFoundError:
            pass
        payload = self.submission(request)
        try:
            await self._dashboard.request("POST", "/api/jobs/", "submit", json=payload)
        except ClusterError as exc:
            if "already exists" not in str(exc):
                raise
            # Another scheduler's submit got there between the look and ours.
            return SubmitResult(request.job_id, STATUSES[(await self._details(request.job_id)).status])
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
        return await self._report(external_job_id, await self._details(external_job_id), since_step)

    async def statuses(self, asked: Sequence[tuple[str, int | None]]) -> list[StatusReport | ClusterError]:
        """Many jobs' statuses from one read of Ray's job list (`GET /api/jobs/`), then the log
        tail of each job that may have moved (StatusBatches). A job the list leaves out, or every
        job when the list is past one answer's bound, is asked alone."""
        listed = await self._job_list() if len(asked) > 1 else None  # one job: its own details

        async def one(job_id: str, since_step: int | None) -> StatusReport | ClusterError:
            try:
                job = listed.get(job_id) if listed is not None else None
                if job is None:  # asked alone, which also tells a job Ray has forgotten (404)
                    job = await self._details(job_id)
                return await self._report(job_id, job, since_step)
            except ClusterError as exc:
                return exc

        return list(await asyncio.gather(*(one(job_id, since) for job_id, since in asked)))

    async def _report(self, job_id: str, job: RayJob, since_step: int | None) -> StatusReport:
        """The status answer of a job Ray described, with the points its log tail holds."""
        if not job.known:
            raise ClusterTransientError("malformed answer from the Ray cluster: no job status")
        status = STATUSES[job.status]
        tail = LogTail()
        if job.may_have_moved:
            tail = await self._read_tail(job_id, job, since_step)
        if job.ended:
            self._windows.forget(job_id)
            self._log_failures.pop(job_id, None)
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
            error_message=self._failure(job, result) if status == "failed" else None,
            artifact_url=_text(result.get("artifact_url")) if status in ("completed", "cancelled") else None,
            started_at=_moment(job.start_time),
            completed_at=_moment(job.end_time) if job.ended else None,
            samples=tail.samples_after(since_step),
        )

    async def _details(self, job_id: str) -> RayJob:
        """One job's details; ClusterJobNotFoundError when Ray does not know it."""
        body = await self._dashboard.exchange("GET", f"/api/jobs/{quote(job_id, safe='')}", "status")
        job = self._dashboard.decoded(one_job, body)
        if not job.known:
            raise ClusterTransientError("malformed answer from the Ray cluster: no job status")
        return job

    async def _job_list(self) -> dict[str, RayJob] | None:
        """Every job the head keeps, by submission id, in one request; None while the list is
        past one answer's bound (a head that kept thousands of jobs): then each is asked alone."""
        if time.monotonic() < self._list_refused_until:
            return None
        try:
            body = await self._dashboard.exchange("GET", "/api/jobs/", "status")
        except AnswerTooLarge:
            log.info(
                "the Ray cluster at %s keeps too many jobs to list: polling job by job", self._dashboard.host
            )
            self._list_refused_until = time.monotonic() + _LIST_RETRY
            return None
        return self._dashboard.decoded(job_list, body)

    async def _read_tail(self, job_id: str, job: RayJob, since_step: int | None) -> LogTail:
        """The window of the log that holds every point after `since_step`."""
        lines = self._windows.first(job_id)
        while True:
            try:
                text = await self._log_lines(job_id, str(job.driver_node_id), lines)
            except ClusterTransientError:
                if not job.ended:
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
        return str(
            await self._dashboard.request("GET", "/api/v0/logs/file", "logs", params=params, text=True)
        )

    def _failure(self, job: RayJob, result: dict[str, Any]) -> str:
        """Ray's message (its first line; the rest is the log's tail) with the reason: the
        trainer's, or else the log's last line (a trainer that never ran: Loradesk missing there)."""
        lines = [line.strip() for line in (job.message or "").splitlines() if line.strip()]
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
        answer = await self._dashboard.request("POST", path, "cancel")
        if isinstance(answer, dict) and answer.get("stopped") is False:
            status = STATUSES[(await self._details(external_job_id)).status]
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
        answer = await self._dashboard.request("GET", path, "status")
        logs = answer.get("logs") if isinstance(answer, dict) else None
        if not isinstance(logs, str):
            raise ClusterTransientError("malformed answer from the Ray cluster: no logs")
        data = logs.encode("utf-8")
        start = min(max(0, offset), len(data))
        end = data.rfind(b"\n", start) + 1 or start  # whole lines only; the rest comes next time
        lines = data[start:end].decode("utf-8", "replace").splitlines(keepends=True)
        text = "".join(line for line in lines if not line.startswith(_MACHINE_LINES))
        return LogChunk(text=text, next_offset=end)

    async def aclose(self) -> None:
        await self._dashboard.aclose()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _moment(milliseconds: Any) -> datetime | None:
    if not isinstance(milliseconds, int | float) or isinstance(milliseconds, bool) or milliseconds <= 0:
        return None
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)
