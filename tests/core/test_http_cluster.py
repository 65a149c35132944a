"""HttpCluster against FakeCluster over real loopback HTTP: one test per answer class of SPEC §4."""

from __future__ import annotations

import asyncio
import math
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.cluster import (
    ClusterAuthError,
    ClusterConflictError,
    ClusterError,
    ClusterJobNotFoundError,
    ClusterRejectedError,
    ClusterTransientError,
    SubmitRequest,
    make_backend,
)
from core.cluster.base import ReportedPoint
from core.cluster.http import HttpCluster
from core.config import Settings
from tests.fakes.cluster import FakeCluster, JobPlan

TOKEN = "tok-9f3b2c71e5d04a6b"


def request(job_id: str = "job-1") -> SubmitRequest:
    return SubmitRequest(
        job_id=job_id,
        dataset_url="https://storage.example/lora-datasets/d.jsonl?sig=abc",
        hyperparameters={"epochs": 3, "learning_rate": 2e-4, "lora_rank": 16},
        gpu_type="A100-80GB",
        gpu_count=2,
    )


@pytest.fixture
def fake() -> Iterator[FakeCluster]:
    # Jobs move only when a test advances them, so every answer below is exact.
    with FakeCluster(TOKEN, plan=JobPlan(total_steps=100, total_epochs=2, steps_per_poll=0)) as fake:
        yield fake


@pytest.fixture
async def cluster(fake: FakeCluster) -> AsyncIterator[HttpCluster]:
    async with HttpCluster(fake.url, TOKEN, read_timeout=2.0) as cluster:
        yield cluster


async def submitted(cluster: HttpCluster, job_id: str = "job-1") -> str:
    return (await cluster.submit(request(job_id))).external_job_id


# -- 2xx ------------------------------------------------------------------------------------------


async def test_submit_status_and_cancel_answers_are_parsed(fake: FakeCluster, cluster: HttpCluster) -> None:
    result = await cluster.submit(request())
    assert result.status == "initializing"
    job = fake.jobs[result.external_job_id]
    assert job.job_id == "job-1"
    assert job.request == {
        "job_id": "job-1",
        "dataset_url": "https://storage.example/lora-datasets/d.jsonl?sig=abc",
        "hyperparameters": {"epochs": 3, "learning_rate": 2e-4, "lora_rank": 16},
        "gpu_config": {"gpu_type": "A100-80GB", "gpu_count": 2},
    }

    fake.advance(result.external_job_id, 60)
    report = await cluster.status(result.external_job_id, None)
    assert (report.status, report.progress, report.current_step, report.total_steps) == (
        "running",
        60.0,
        60,
        100,
    )
    assert (report.current_epoch, report.total_epochs) == (2, 2)
    assert set(report.metrics) == {
        "training_loss",
        "validation_loss",
        "learning_rate",
        "throughput",
        "gpu_utilization",
        "gpu_memory_used",
        "grad_norm",
    }
    assert report.metrics_history is not None
    assert [p.step for p in report.metrics_history] == list(range(1, 61))
    assert report.metrics_history[0].epoch == 1
    assert report.metrics_history[0].grad_norm == pytest.approx(0.501)
    assert report.error_message is None and report.artifact_url is None

    await cluster.cancel(result.external_job_id)
    assert fake.jobs[result.external_job_id].status == "cancelled"
    assert fake.cancel_calls == 1


async def test_finished_job_reports_artifact_or_error(fake: FakeCluster, cluster: HttpCluster) -> None:
    fake.plan_job("bad", JobPlan(total_steps=10, outcome="failed", error_message="CUDA OOM"))
    good, bad = await submitted(cluster, "good"), await submitted(cluster, "bad")
    fake.advance(good, 100)
    fake.advance(bad, 10)

    done = await cluster.status(good, 100)
    assert done.status == "completed" and done.progress == 100.0
    assert done.artifact_url is not None and good in done.artifact_url
    assert done.metrics_history == []
    failed = await cluster.status(bad, None)
    assert (failed.status, failed.error_message, failed.artifact_url) == ("failed", "CUDA OOM", None)


async def test_numbers_sent_as_strings_or_floats_are_coerced(fake: FakeCluster, cluster: HttpCluster) -> None:
    fake.fail_with(
        200,
        {
            "status": "running",
            "progress": "42.5",
            "current_step": 17.0,
            "current_epoch": "1",
            "metrics": {"training_loss": "0.75", "gpu_utilization": 88},
            "metrics_history": [{"step": "17", "training_loss": 1}],
        },
        endpoint="status",
    )
    report = await cluster.status("any", None)
    assert report.progress == 42.5
    assert report.current_step == 17 and isinstance(report.current_step, int)
    assert report.current_epoch == 1
    assert report.metrics == {"training_loss": 0.75, "gpu_utilization": 88.0}
    assert report.metrics_history == [ReportedPoint(step=17, training_loss=1.0)]


async def test_resubmitting_a_job_id_returns_the_same_external_id(
    fake: FakeCluster, cluster: HttpCluster
) -> None:
    first = await cluster.submit(request("job-7"))
    again = await cluster.submit(request("job-7"))
    other = await cluster.submit(request("job-8"))

    assert again.external_job_id == first.external_job_id
    assert other.external_job_id != first.external_job_id
    assert fake.submit_calls == 3
    assert sorted(job.job_id for job in fake.jobs.values()) == ["job-7", "job-8"]


async def test_since_step_returns_only_later_points(fake: FakeCluster, cluster: HttpCluster) -> None:
    external_id = await submitted(cluster)
    fake.advance(external_id, 10)

    report = await cluster.status(external_id, since_step=7)

    assert [p.step for p in report.metrics_history or []] == [8, 9, 10]
    assert fake.recent_requests[-1] == ("GET", f"/training/status/{external_id}?since_step=7")


async def test_history_left_out_gives_none(fake: FakeCluster, cluster: HttpCluster) -> None:
    external_id = await submitted(cluster)
    fake.advance(external_id, 5)
    fake.omit_history(True)

    report = await cluster.status(external_id, since_step=0)

    assert report.metrics_history is None
    assert report.current_step == 5 and "training_loss" in report.metrics


async def test_nan_and_infinite_losses_pass_through(fake: FakeCluster, cluster: HttpCluster) -> None:
    external_id = await submitted(cluster)
    fake.set_loss(external_id, 3, math.nan)
    fake.set_loss(external_id, 4, math.inf)
    fake.advance(external_id, 4)

    report = await cluster.status(external_id, None)

    losses = [p.training_loss for p in report.metrics_history or []]
    assert math.isfinite(losses[0]) and math.isfinite(losses[1])
    assert math.isnan(losses[2])
    assert losses[3] == math.inf
    assert report.metrics["training_loss"] == math.inf


# -- credentials ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [401, 403])
@pytest.mark.parametrize("endpoint", ["submit", "status", "cancel"])
async def test_401_and_403_are_auth_errors(
    fake: FakeCluster, cluster: HttpCluster, code: int, endpoint: str
) -> None:
    fake.fail_with(code, endpoint=endpoint)
    with pytest.raises(ClusterAuthError, match=f"HTTP {code}"):
        await call(cluster, endpoint)


async def test_revoked_token_is_an_auth_error(fake: FakeCluster, cluster: HttpCluster) -> None:
    external_id = await submitted(cluster)
    fake.revoke_token()
    with pytest.raises(ClusterAuthError):
        await cluster.status(external_id, None)


async def test_without_token_nothing_is_sent(fake: FakeCluster) -> None:
    async with HttpCluster(fake.url, None) as cluster:
        with pytest.raises(ClusterAuthError, match=r"no API token.*LORADESK_CLUSTER_TOKEN"):
            await cluster.submit(request())
    assert sum(fake.requests_by_endpoint.values()) == 0


# -- transient ------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [408, 429, 500, 503])
@pytest.mark.parametrize("endpoint", ["submit", "status", "cancel"])
async def test_busy_or_failing_cluster_is_transient(
    fake: FakeCluster, cluster: HttpCluster, code: int, endpoint: str
) -> None:
    fake.fail_with(code, {"error": "overloaded"}, endpoint=endpoint)
    with pytest.raises(ClusterTransientError, match=rf"HTTP {code}.*overloaded"):
        await call(cluster, endpoint)
    # the fault was for one request only: the next one goes through
    if endpoint == "submit":
        await call(cluster, endpoint)


async def test_answer_slower_than_read_timeout_is_transient(fake: FakeCluster) -> None:
    fake.stall(5.0)
    async with HttpCluster(fake.url, TOKEN, read_timeout=0.2) as cluster:
        with pytest.raises(ClusterTransientError, match="timed out waiting for an answer"):
            await cluster.submit(request())


async def test_refused_connection_is_transient() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago, and is closed now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with HttpCluster(f"http://127.0.0.1:{port}", TOKEN) as cluster:
        with pytest.raises(ClusterTransientError, match=f"could not reach the cluster at 127.0.0.1:{port}"):
            await cluster.status("x", None)


@pytest.mark.parametrize("endpoint", ["submit", "status", "cancel"])
async def test_garbage_body_is_transient(fake: FakeCluster, cluster: HttpCluster, endpoint: str) -> None:
    fake.answer_garbage(endpoint=endpoint)
    with pytest.raises(ClusterTransientError, match="malformed answer from the cluster"):
        await call(cluster, endpoint)


@pytest.mark.parametrize(
    ("endpoint", "body", "field"),
    [
        ("submit", {"status": "queued"}, "external_job_id"),
        ("submit", {"external_job_id": ["x"], "status": "queued"}, "external_job_id"),
        ("submit", {"external_job_id": "x"}, "status"),
        ("submit", ["x", "queued"], "JSON object"),
        ("status", {"progress": 10}, "status"),
        ("status", {"status": 5}, "status"),
        ("status", {"status": "running", "progress": "ten"}, "progress"),
        ("status", {"status": "running", "current_step": None, "metrics": [1]}, "metrics"),
        ("status", {"status": "running", "metrics_history": {"step": 1}}, "metrics_history"),
        ("status", {"status": "running", "metrics_history": [{"epoch": 1}]}, "step"),
        ("status", {"status": "running", "error_message": 3}, "error_message"),
        ("cancel", {}, "status"),
    ],
)
async def test_2xx_that_breaks_the_contract_is_transient(
    fake: FakeCluster, cluster: HttpCluster, endpoint: str, body: object, field: str
) -> None:
    fake.fail_with(200, body, endpoint=endpoint)
    with pytest.raises(ClusterTransientError, match=rf"malformed answer from the cluster: .*{field}"):
        await call(cluster, endpoint)


# -- rejected, not found, conflict ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "body", "message"),
    [
        (422, {"error": "dataset has no rows"}, "dataset has no rows"),
        (400, {"detail": "gpu_type H200 is not offered"}, "gpu_type H200 is not offered"),
        (413, "  dataset\n too large  ", "dataset too large"),
        (404, {"message": "no such queue"}, "no such queue"),
    ],
)
async def test_other_4xx_on_submit_rejects_with_the_clusters_message(
    fake: FakeCluster, cluster: HttpCluster, code: int, body: object, message: str
) -> None:
    fake.fail_with(code, body, endpoint="submit")
    with pytest.raises(ClusterRejectedError) as caught:
        await cluster.submit(request())
    assert str(caught.value) == f"the cluster rejected the job: {message}"


async def test_reject_submissions_keeps_rejecting(fake: FakeCluster, cluster: HttpCluster) -> None:
    fake.reject_submissions(message="quota exceeded")
    for job_id in ("a", "b"):
        with pytest.raises(ClusterRejectedError, match="quota exceeded"):
            await cluster.submit(request(job_id))
    assert fake.jobs == {}


async def test_forgotten_job_is_not_found(fake: FakeCluster, cluster: HttpCluster) -> None:
    external_id = await submitted(cluster)
    fake.forget_job(external_id)
    with pytest.raises(ClusterJobNotFoundError, match="job not found on the cluster"):
        await cluster.status(external_id, None)
    with pytest.raises(ClusterJobNotFoundError):
        await cluster.cancel(external_id)


async def test_cancelling_a_finished_job_is_a_conflict(fake: FakeCluster, cluster: HttpCluster) -> None:
    external_id = await submitted(cluster)
    fake.advance(external_id, 100)
    with pytest.raises(ClusterConflictError, match="already finished"):
        await cluster.cancel(external_id)
    assert fake.jobs[external_id].status == "completed"


# -- messages and concurrency ---------------------------------------------------------------------


async def test_no_error_message_contains_the_token(fake: FakeCluster, tmp_path: Path) -> None:
    messages = []
    async with HttpCluster(fake.url, TOKEN, read_timeout=0.2) as cluster:
        # A cluster that echoes the credentials back is the worst case.
        fake.reject_submissions(message=f"token {TOKEN} may not submit", times=1)
        fake.fail_with(503, f"upstream saw Authorization: Bearer {TOKEN}", endpoint="status")
        fake.fail_with(401, {"error": f"bad token {TOKEN}"}, endpoint="cancel")
        fake.stall(5.0, endpoint="submit")
        for coro in (
            cluster.submit(request()),
            cluster.status("x", None),
            cluster.cancel("x"),
            cluster.submit(request()),
        ):
            with pytest.raises(ClusterError) as caught:
                await coro
            messages.append(str(caught.value))
        assert TOKEN not in repr(cluster)
    assert "token *** may not submit" in messages[0]
    for message in messages:
        assert TOKEN not in message and TOKEN[:8] not in message
        assert "\n" not in message


async def test_in_flight_requests_never_exceed_the_limit(fake: FakeCluster) -> None:
    fake.latency(0.05)  # answers overlap, so the client must hold requests back itself
    async with HttpCluster(fake.url, TOKEN, max_in_flight=20) as cluster:
        external_id = await submitted(cluster)
        reports = await asyncio.gather(*(cluster.status(external_id, None) for _ in range(200)))
    assert len(reports) == 200 and all(r.status == "initializing" for r in reports)
    assert fake.requests_by_endpoint["status"] == 200
    assert 10 <= fake.max_concurrent <= 20  # concurrent indeed, and never beyond the limit


async def test_make_backend_builds_an_http_cluster_with_the_env_token(
    fake: FakeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LORADESK_CLUSTER_TOKEN", TOKEN)
    settings = Settings(
        home=tmp_path, database_url="sqlite://", user="ada", cluster="http", cluster_url=fake.url
    )
    backend = make_backend(settings)
    try:
        assert backend.name == "http"
        assert (await backend.submit(request())).external_job_id in fake.jobs
    finally:
        await backend.aclose()


async def call(cluster: HttpCluster, endpoint: str) -> object:
    if endpoint == "submit":
        return await cluster.submit(request())
    if endpoint == "status":
        return await cluster.status("fake-000001", None)
    return await cluster.cancel("fake-000001")
