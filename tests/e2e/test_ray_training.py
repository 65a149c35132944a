"""Real LoRA runs on a real Ray head (started on loopback for this module) through the scheduler
and the `ray` backend: local storage (the head shares this machine's folders) and S3 storage
(moto's server; the trainer gets presigned URLs only)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from core.cluster.base import ClusterAuthError, ClusterTransientError
from core.cluster.ray import RayCluster
from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.jobs.resume import continue_job
from core.jobs.service import cancel_job_explained, create_job, get_job
from core.notifications import list_notifications
from core.records import JobDetail
from core.scheduler import Scheduler
from core.scheduler.submitting import submit_request
from core.storage import open_storage
from core.storage.folder import file_url_path
from core.storage.s3 import S3Storage
from core.trainer.report import METRIC_PREFIX
from core.workspace import Workspace
from tests.core.helpers import set_job_columns
from tests.fakes.ray_head import request_kinds
from tests.ray_head import RayHead, free_port
from tests.s3_server import S3Server

pytestmark = pytest.mark.trainer

SAMPLE = Path(__file__).resolve().parents[2] / "resources" / "sample-dataset.jsonl"
BUCKET = "loradesk-ray"


@pytest.fixture(scope="module")
def ray_head() -> Iterator[RayHead]:
    head = RayHead()
    head.start()
    yield head
    head.stop()


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    server = S3Server().start()
    yield server
    server.stop()


class RequestLog:
    """What the `ray` backend asked of the head, recorded by aiohttp's request hooks."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.tails_of: set[str] = set()  # the jobs whose log tail was asked for
        self.hooks = aiohttp.TraceConfig()
        self.hooks.on_request_start.append(self._started)

    async def _started(
        self, session: object, context: object, params: aiohttp.TraceRequestStartParams
    ) -> None:
        self.requests.append(f"{params.method} {params.url.path}")
        if params.url.path == "/api/v0/logs/file":
            self.tails_of.add(params.url.query.get("submission_id", ""))

    def kinds(self) -> dict[str, int]:
        return request_kinds(self.requests)


@pytest.fixture
def ray_workspace(home: Path, ray_head: RayHead):
    opened: list[Workspace] = []

    def make(
        *,
        url: str | None = None,
        token: str | None = None,
        storage_url: str = "",
        log: RequestLog | None = None,
    ) -> Workspace:
        settings = load_settings(
            {
                "home": str(home),
                "user": "erin",
                "cluster": "ray",
                "cluster_url": url or ray_head.url,
                "storage_url": storage_url,
            }
        )
        ws = Workspace.open(settings)
        hooks = [log.hooks] if log is not None else []
        ws.use_backend(
            RayCluster(
                settings.cluster_url or "",
                token or ray_head.token,
                open_storage(settings),
                settings,
                trace_configs=hooks,
            )
        )
        opened.append(ws)
        return ws

    yield make
    for ws in opened:
        ws.close()


def queue_job(ws: Workspace, **hyperparameters: object) -> str:
    dataset = add_dataset(ws, file=SAMPLE, name=f"sample-{time.monotonic_ns()}")
    job = create_job(
        ws,
        dataset_id=dataset.id,
        gpu_type="cpu",
        hyperparameters={"epochs": 1, "batch_size": 8, **hyperparameters},
    )
    return job.id


async def cycle_until(
    scheduler: Scheduler, ws: Workspace, job_id: str, statuses: set[str], timeout: float = 240
) -> JobDetail:
    deadline = time.monotonic() + timeout
    while True:
        await scheduler.run_once()
        detail = get_job(ws, job_id=job_id)
        if detail.job.status.value in statuses:
            return detail
        assert time.monotonic() < deadline, f"job stuck in {detail.job.status.value}"
        await asyncio.sleep(0.5)


def ray_jobs_of(head: RayHead, job_id: str) -> list[dict[str, object]]:
    return [job for job in head.jobs() if job.get("submission_id") == job_id]


async def test_ray_job_trains_to_completion_and_a_resubmit_finds_it(ray_workspace, ray_head):
    ws = ray_workspace()
    job_id = queue_job(ws, max_steps=12, eval_interval=4)
    assert get_job(ws, job_id=job_id).job.status.value == "queued"
    scheduler = Scheduler(ws)

    running = await cycle_until(scheduler, ws, job_id, {"running", "completed", "failed"})
    assert running.job.status.value == "running", running.job.error_message
    assert running.job.external_job_id == job_id  # the submission id is the job id
    # A scheduler that died after submitting resubmits: Ray's job is found, none is added.
    again = await ws.backend().submit(submit_request(ws, running.job, *_dataset_of(ws, running)))
    assert again.external_job_id == job_id
    assert len(ray_jobs_of(ray_head, job_id)) == 1

    detail = await cycle_until(scheduler, ws, job_id, {"completed", "failed", "cancelled"})
    log = await ws.backend().read_log(job_id, 0)
    await ws.aclose()
    assert detail.job.status.value == "completed", detail.job.error_message
    assert "loradesk-trainer: completed after 12 of 12 steps" in log.text
    assert "LORADESK_METRIC" not in log.text  # the person reads the trainer's words, not its feed
    assert detail.job.progress == 100
    steps = [p.step for p in detail.metrics]
    assert steps == list(range(1, 13))  # every point once, none skipped between polls
    losses = [p.training_loss for p in detail.metrics]
    assert all(loss is not None for loss in losses)
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3  # it learns
    assert any(p.validation_loss is not None for p in detail.metrics)
    adapter = file_url_path(detail.job.artifact_url or "")
    assert adapter == ws.settings.home / "jobs" / job_id / "adapter"
    assert (adapter / "adapter_model.safetensors").is_file()
    assert [j["status"] for j in ray_jobs_of(ray_head, job_id)] == ["SUCCEEDED"]
    assert len(detail.cost_records) == 1


def trainer_like(seconds: int) -> str:
    """An entrypoint that prints two steps' metric lines as the trainer does, then lives on."""
    lines = [json.dumps({"step": step, "training_loss": 1.5, "total_steps": 4}) for step in (1, 2)]
    code = "import time\n"
    code += "".join(f"print({METRIC_PREFIX + line!r})\n" for line in lines)
    code += f"time.sleep({seconds})\n"
    return f"python -c {shlex.quote(code)}"


async def test_each_cycle_reads_the_real_heads_job_list_once_and_only_moved_logs(ray_workspace, ray_head):
    log = RequestLog()
    ws = ray_workspace(log=log)
    ended, running, waiting = (queue_job(ws) for _ in range(3))
    # Ray jobs that print what a trainer prints, without training: one that ends, one that runs
    # on, one that waits for a resource no node has (PENDING: its log is never read).
    ray_head.submit(ended, trainer_like(0))
    ray_head.submit(running, trainer_like(600))
    ray_head.submit(waiting, "python -c pass", entrypoint_resources={"loradesk-no-such-node": 1})
    for job_id in (ended, running, waiting):
        set_job_columns(ws, job_id, status="running", external_job_id=job_id)
    scheduler = Scheduler(ws)
    try:
        deadline = time.monotonic() + 120
        while True:  # until both printers' lines are in the database
            log.requests.clear()
            await scheduler.run_once()
            # Every cycle: one list for the three jobs, a log tail for each started one at most.
            kinds = log.kinds()
            assert kinds["list"] == 1 and kinds["details"] == 0 and kinds["log"] <= 2, log.requests
            assert waiting not in log.tails_of, log.requests
            if all(len(get_job(ws, job_id=j).metrics) == 2 for j in (ended, running)):
                break
            assert time.monotonic() < deadline, log.requests
            await asyncio.sleep(0.5)
        assert get_job(ws, job_id=ended).job.status.value == "completed"
        assert get_job(ws, job_id=running).job.status.value == "running"
        assert get_job(ws, job_id=waiting).job.status.value == "initializing"
        assert [j["status"] for j in ray_jobs_of(ray_head, waiting)] == ["PENDING"]
    finally:
        for job_id in (running, waiting):
            with contextlib.suppress(OSError):
                ray_head.stop_job(job_id)
        await ws.aclose()


def _dataset_of(ws: Workspace, detail: JobDetail) -> tuple[str | None, str]:
    from core.datasets.catalog import list_datasets

    dataset = next(d for d in list_datasets(ws) if d.id == detail.job.dataset_id)
    return dataset.storage_bucket, dataset.storage_path


async def test_cancel_stops_the_ray_job_and_keeps_its_partial_adapter_on_s3(
    ray_workspace, ray_head, s3_server, monkeypatch
):
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    storage = S3Storage(f"s3://{BUCKET}/runs")
    storage._s3().create_bucket(Bucket=BUCKET)
    ws = ray_workspace(storage_url=f"s3://{BUCKET}/runs")
    job_id = queue_job(ws, max_steps=5000, epochs=200)
    scheduler = Scheduler(ws)

    deadline = time.monotonic() + 240
    while not get_job(ws, job_id=job_id).metrics:  # training has begun and reported
        await scheduler.run_once()
        assert time.monotonic() < deadline
        await asyncio.sleep(0.5)
    result = await cancel_job_explained(ws, job_id=job_id)
    await ws.aclose()

    assert result.job.status.value == "cancelled", result.said
    assert [j["status"] for j in ray_jobs_of(ray_head, job_id)] == ["STOPPED"]
    assert result.job.artifact_url == f"s3://{BUCKET}/runs/adapters/{job_id}/"
    assert result.job.artifact_partial  # what the stopped run had learned, not a finished adapter
    keys = storage.list_keys(f"runs/adapters/{job_id}/")
    assert f"runs/adapters/{job_id}/adapter_model.safetensors" in keys
    assert len(storage.read_object(f"runs/adapters/{job_id}/adapter_model.safetensors")) > 1000


async def test_trainer_failure_ends_failed_with_rays_message(ray_workspace, ray_head):
    ws = ray_workspace()
    dataset = add_dataset(ws, file=SAMPLE, name="sample-failing")
    # A cluster's base models are the cluster's to check: this one is missing there.
    job = create_job(
        ws, dataset_id=dataset.id, gpu_type="cpu", hyperparameters={"base_model": "/no/such/model"}
    )
    detail = await cycle_until(Scheduler(ws), ws, job.id, {"completed", "failed", "cancelled"})
    await ws.aclose()

    assert detail.job.status.value == "failed"
    message = detail.job.error_message or ""
    assert message.startswith("Job entrypoint command failed with exit code 1")  # Ray's own words
    assert "/no/such/model" in message  # and the trainer's reason
    assert "\n" not in message
    assert [j["status"] for j in ray_jobs_of(ray_head, job.id)] == ["FAILED"]
    assert any(n.type.value == "job_failed" for n in detail.notifications)


async def test_a_wrong_token_is_an_auth_problem_and_changes_nothing(ray_workspace, ray_head):
    ws = ray_workspace(token="not-the-token")
    job_id = queue_job(ws)
    with pytest.raises(ClusterAuthError, match="refused the token"):
        await ws.backend().status(job_id, None)
    await Scheduler(ws).run_once()
    await ws.aclose()
    detail = get_job(ws, job_id=job_id)
    assert detail.job.status.value == "queued" and detail.job.external_job_id is None
    assert [n.type.value for n in list_notifications(ws)] == ["cluster_auth_failed"]
    assert ray_jobs_of(ray_head, job_id) == []


class LoopbackProxy:
    """A TCP relay in front of the head that can drop off the network and come back."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def close(self) -> None:
        """Refuse new connections and cut the open ones, as a head that went away."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        with contextlib.suppress(asyncio.CancelledError):  # the loop ends with the test
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))


@pytest.fixture
async def proxy(ray_head: RayHead) -> AsyncIterator[LoopbackProxy]:
    relay = LoopbackProxy(ray_head.dashboard_port)
    await relay.open()
    yield relay
    await relay.close()


async def test_head_out_of_reach_mid_run_is_transient_and_the_job_completes(ray_workspace, ray_head, proxy):
    ws = ray_workspace(url=f"http://127.0.0.1:{proxy.port}")
    job_id = queue_job(ws, max_steps=40, epochs=2)  # 23 steps an epoch
    scheduler = Scheduler(ws)
    running = await cycle_until(scheduler, ws, job_id, {"running", "completed", "failed"})
    assert running.job.status.value == "running", running.job.error_message

    await proxy.close()
    with pytest.raises(ClusterTransientError, match="could not reach the Ray cluster"):
        await ws.backend().status(job_id, None)
    for _ in range(3):
        await scheduler.run_once()
    during = get_job(ws, job_id=job_id)
    assert during.job.status.value == "running" and during.job.error_message is None

    await proxy.open()
    detail = await cycle_until(scheduler, ws, job_id, {"completed", "failed", "cancelled"})
    await ws.aclose()
    assert detail.job.status.value == "completed", detail.job.error_message
    assert [p.step for p in detail.metrics] == list(range(1, 41))
    with contextlib.suppress(OSError):
        assert len(ray_jobs_of(ray_head, job_id)) == 1


async def test_a_two_process_ray_job_sends_its_checkpoint_to_s3_and_a_continued_job_starts_from_it(
    ray_workspace, ray_head, s3_server, monkeypatch
):
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    storage = S3Storage(f"s3://{BUCKET}/resume")
    with contextlib.suppress(Exception):  # made by an earlier test of this module's server
        storage._s3().create_bucket(Bucket=BUCKET)
    ws = ray_workspace(storage_url=f"s3://{BUCKET}/resume")
    dataset = add_dataset(ws, file=SAMPLE, name="sample-resume")
    hp = {"epochs": 100, "batch_size": 4, "max_steps": 60, "checkpoint_interval": 5, "eval_interval": 30}
    parent = create_job(ws, dataset_id=dataset.id, gpu_type="cpu", gpu_count=2, hyperparameters=hp)
    scheduler = Scheduler(ws)
    deadline = time.monotonic() + 240
    while (storage.checkpoint_step(parent.id) or 0) < 5:  # a checkpoint reached storage mid-run
        await scheduler.run_once()
        assert get_job(ws, job_id=parent.id).job.status.value in ("queued", "initializing", "running")
        assert time.monotonic() < deadline
        await asyncio.sleep(0.5)
    stopped = await cancel_job_explained(ws, job_id=parent.id)
    assert stopped.job.status.value == "cancelled", stopped.said
    step = storage.checkpoint_step(parent.id)  # the one saved on the stop, sent before it exited
    assert step is not None and step >= 5
    assert await ws.backend().latest_checkpoint(parent.id) == step

    child = await continue_job(ws, job_id=parent.id)
    assert child.resume_from_step == step and child.gpu_count == 2
    detail = await cycle_until(scheduler, ws, child.id, {"completed", "failed", "cancelled"})
    log = await ws.backend().read_log(child.id, 0)
    await ws.aclose()
    assert detail.job.status.value == "completed", detail.job.error_message
    assert [p.step for p in detail.metrics] == list(range(step + 1, 61))  # numbered on, once each
    assert log.text.count("loradesk-trainer: continuing from the parent's checkpoint") == 2  # each process
    assert "checkpoint at step 60 uploaded" in log.text
    assert storage.checkpoint_step(child.id) == 60
    assert f"resume/adapters/{child.id}/adapter_model.safetensors" in storage.list_keys(
        f"resume/adapters/{child.id}/"
    )
