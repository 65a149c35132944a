"""The `ray` backend against a fake Ray dashboard on loopback: what it sends, how each answer
class of SPEC §4 maps, that a long run's log is read from its tail, not whole, every poll, and that
a round of polls reads Ray's job list once and only the logs of jobs that may have moved."""

from __future__ import annotations

import json
import shlex
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.cluster import bounds
from core.cluster.base import (
    ClusterAuthError,
    ClusterConflictError,
    ClusterJobNotFoundError,
    ClusterRejectedError,
    ClusterTransientError,
    StatusReport,
    SubmitRequest,
)
from core.cluster.ray import RayCluster
from core.cluster.ray_log import FIRST_WINDOW, parse_tail
from core.config import load_settings
from core.jobs.service import get_job
from core.scheduler import Scheduler
from core.storage import open_storage
from core.storage.folder import LocalStorage
from core.workspace import Workspace
from tests.core.helpers import queue_jobs
from tests.fakes.ray_head import FakeRayHead, request_kinds
from tests.ray_head import free_port

TOKEN = "ray-secret-token"


@pytest.fixture
async def fake_ray() -> AsyncIterator[FakeRayHead]:
    head = await FakeRayHead().start()
    yield head
    await head.stop()


@pytest.fixture
async def ray(fake_ray: FakeRayHead, tmp_path: Path) -> AsyncIterator[RayCluster]:
    options = {"home": str(tmp_path), "cluster": "ray", "cluster_url": fake_ray.url}
    settings = load_settings(options, environ={})
    backend = RayCluster(
        fake_ray.url, TOKEN, LocalStorage(tmp_path / "storage"), settings, timeout=2.0, poll_wait=0.01
    )
    yield backend
    await backend.aclose()


def request(job_id: str = "job-1", gpu_type: str = "cpu", gpu_count: int = 1) -> SubmitRequest:
    url = "file:///data.jsonl?expires=1&signature=x"
    return SubmitRequest(job_id, url, {"epochs": 1}, gpu_type, gpu_count)


async def test_submit_sends_one_ray_job_under_the_job_id(ray: RayCluster, fake_ray: FakeRayHead, tmp_path):
    result = await ray.submit(request(gpu_type="A100-80GB", gpu_count=2))
    assert (result.external_job_id, result.status) == ("job-1", "initializing")
    body = fake_ray.jobs["job-1"].body
    assert body["submission_id"] == "job-1"
    assert body["entrypoint_num_gpus"] == 2
    assert body["entrypoint_resources"] == {"accelerator_type:A100-80G": 0.001}  # Ray's name
    words = shlex.split(body["entrypoint"])
    # Two GPUs: two trainers, data-parallel, under torchrun on the node Ray gives them.
    launch = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    assert words[:8] == ["python", *launch, "-m", "core.trainer", "--spec-json"]
    spec = json.loads(words[8])
    assert spec["job_id"] == "job-1" and spec["log_metrics"] is True
    assert spec["output_dir"] == str(tmp_path / "jobs" / "job-1")  # local storage: the job's folder
    assert body["runtime_env"]["env_vars"]["RAY_JOB_STOP_WAIT_TIME_S"] == "20"


async def test_a_cpu_job_asks_ray_for_no_gpu(ray: RayCluster, fake_ray: FakeRayHead):
    await ray.submit(request(gpu_type="cpu"))
    body = fake_ray.jobs["job-1"].body
    assert "entrypoint_num_gpus" not in body and "entrypoint_resources" not in body


async def test_a_second_submit_finds_the_first_job(ray: RayCluster, fake_ray: FakeRayHead):
    await ray.submit(request())
    fake_ray.jobs["job-1"].status = "RUNNING"
    again = await ray.submit(request())
    assert (again.external_job_id, again.status) == ("job-1", "running")
    assert len(fake_ray.jobs) == 1
    assert fake_ray.requests.count("POST /api/jobs/") == 1


async def test_a_racing_submit_read_from_rays_relayed_refusal_finds_the_job(ray, fake_ray):
    await ray.submit(request())
    # Another scheduler submitted between our look and our submit: Ray refuses (as a relayed 500).
    body = {"submission_id": "job-1", "entrypoint": "x"}
    async with ray._dashboard.session().post(f"{fake_ray.url}/api/jobs/", json=body) as answer:
        assert answer.status == 500 and "already exists" in await answer.text()
    with pytest.raises(ClusterRejectedError, match="already exists"):
        await ray._dashboard.request(
            "POST", "/api/jobs/", "submit", json={"submission_id": "job-1", "entrypoint": "x"}
        )


async def test_a_refused_submission_is_rejected_with_rays_reason(ray: RayCluster, fake_ray: FakeRayHead):
    fake_ray.refuse_submit = "Traceback (most recent call last):\nValueError: runtime_env is not valid"
    with pytest.raises(ClusterRejectedError, match="rejected the job: runtime_env is not valid"):
        await ray.submit(request())


@pytest.mark.parametrize("code", [500, 502, 503, 429, 408])
async def test_busy_or_failing_head_is_transient(ray: RayCluster, fake_ray: FakeRayHead, code: int):
    fake_ray.fail_with = (code, "No available agent to submit job, please try again later.")
    with pytest.raises(ClusterTransientError, match=f"HTTP {code}"):
        await ray.submit(request())
    with pytest.raises(ClusterTransientError):
        await ray.status("job-1", None)


@pytest.mark.parametrize("code", [401, 403])
async def test_refused_token_is_an_auth_problem_and_never_echoed(ray, fake_ray, code: int):
    fake_ray.fail_with = (code, f"Unauthorized: bad token {TOKEN}")
    with pytest.raises(ClusterAuthError) as refused:
        await ray.status("job-1", None)
    assert TOKEN not in str(refused.value)


async def test_garbage_timeouts_and_a_closed_port_are_transient(ray, fake_ray, tmp_path):
    await ray.submit(request())
    fake_ray.garbage = True
    with pytest.raises(ClusterTransientError, match="malformed answer"):
        await ray.status("job-1", None)
    fake_ray.garbage, fake_ray.stall = False, 3.0
    with pytest.raises(ClusterTransientError, match="timed out"):
        await ray.status("job-1", None)
    settings = load_settings({"home": str(tmp_path)}, environ={})
    closed = RayCluster(f"http://127.0.0.1:{free_port()}", TOKEN, LocalStorage(tmp_path), settings)
    with pytest.raises(ClusterTransientError, match="could not reach the Ray cluster"):
        await closed.submit(request())
    await closed.aclose()


async def test_unknown_job_is_not_found(ray: RayCluster):
    with pytest.raises(ClusterJobNotFoundError):
        await ray.status("nobody", None)
    with pytest.raises(ClusterJobNotFoundError):
        await ray.cancel("nobody")


async def test_statuses_map_and_a_failure_keeps_rays_message(ray: RayCluster, fake_ray: FakeRayHead):
    await ray.submit(request())
    job = fake_ray.jobs["job-1"]
    assert (await ray.status("job-1", None)).status == "initializing"
    job.status = "RUNNING"
    assert (await ray.status("job-1", None)).status == "running"
    job.status = "FAILED"
    job.message = "Job entrypoint command failed with exit code 1, last available logs:\nboom\nmore"
    job.log_lines.append('LORADESK_RESULT {"status": "failed", "error_message": "the dataset is empty"}')
    report = await ray.status("job-1", None)
    assert report.status == "failed"
    assert report.error_message == (
        "Job entrypoint command failed with exit code 1, last available logs: the dataset is empty"
    )
    assert report.completed_at is not None and report.started_at is not None


async def test_cancel_stops_the_job_and_returns_the_partial_adapter(ray, fake_ray):
    await ray.submit(request())
    fake_ray.jobs["job-1"].status = "RUNNING"
    assert await ray.cancel("job-1") == "s3://b/adapters/x/"
    assert fake_ray.jobs["job-1"].status == "STOPPED"
    assert (await ray.status("job-1", None)).status == "cancelled"
    with pytest.raises(ClusterConflictError, match="already ended"):
        await ray.cancel("job-1")


async def test_a_long_runs_polls_read_the_logs_tail_not_the_whole_log(ray, fake_ray):
    await ray.submit(request())
    fake_ray.jobs["job-1"].status = "RUNNING"
    fake_ray.add_metric_lines("job-1", 1, 20_000, total=20_005)

    first = await ray.status("job-1", None)  # a re-attach: everything is new, so all of it is read
    # One answer brings at most 10,000 points (SPEC §4): the first, and the rest next poll.
    assert [p["step"] for p in first.metrics_history or []] == list(range(1, 10_001))
    assert first.more_points
    assert first.current_step == 20_000 and first.total_steps == 20_005
    assert first.progress == pytest.approx(100 * 20_000 / 20_005)

    fake_ray.log_requests.clear()
    for last in range(20_001, 20_006):  # one step per poll, as a live run goes
        fake_ray.add_metric_lines("job-1", last, last, total=20_005)
        report = await ray.status("job-1", last - 1)
        assert [p["step"] for p in report.metrics_history or []] == [last]
    assert fake_ray.log_requests == [FIRST_WINDOW] * 5  # a few lines each, not 40,000

    fake_ray.add_metric_lines("job-1", 20_006, 20_400, total=20_400)  # a burst while the app slept
    burst = await ray.status("job-1", 20_005)
    assert [p["step"] for p in burst.metrics_history or []] == list(range(20_006, 20_401))
    assert max(fake_ray.log_requests) < 4 * 800 + 1 and -1 not in fake_ray.log_requests[5:]


def test_tail_parsing_skips_chatter_and_half_lines():
    text = (
        "Running entrypoint for job x\n"
        'LORADESK_METRIC {"step": 4, "training_loss": NaN, "total_steps": 9}\n'
        "warning: something\n"
        'LORADESK_METRIC {"step": 5, "training_loss": 1.5, "epoch": 2}\n'
        'LORADESK_METRIC {"step": 6, "trainin'
    )
    tail, count = parse_tail(text, since_step=4)
    assert count == 5
    assert [p["step"] for p in tail.points] == [4, 5]
    assert [p["step"] for p in tail.after(4)] == [5]
    assert tail.points[0]["training_loss"] != tail.points[0]["training_loss"]  # NaN kept for the warning
    assert tail.reaches(5) and tail.reaches(4) and not tail.reaches(3)  # the last stored point in it
    assert tail.lines_after == 3


async def test_the_log_a_person_reads_follows_by_offset_without_machine_lines(ray, fake_ray):
    await ray.submit(request())
    job = fake_ray.jobs["job-1"]
    job.status = "RUNNING"
    job.log_lines.append("loradesk-trainer: training 180 pairs")
    fake_ray.add_metric_lines("job-1", 1, 2, total=2)
    first = await ray.read_log("job-1", 0)
    assert first.text == (
        "loradesk-trainer: training 180 pairs\n"
        "loradesk-trainer: chatter after step 1\n"
        "loradesk-trainer: chatter after step 2\n"
    )
    job.log_lines.append("loradesk-trainer: completed after 2 of 2 steps")
    more = await ray.read_log("job-1", first.next_offset)
    assert more.text == "loradesk-trainer: completed after 2 of 2 steps\n"
    assert (await ray.read_log("job-1", more.next_offset)).text == ""


async def test_a_cluster_without_loradesk_fails_saying_what_to_install(ray, fake_ray):
    await ray.submit(request())
    job = fake_ray.jobs["job-1"]
    job.status = "FAILED"
    job.message = (
        "Job entrypoint command failed with exit code 1, last available logs (truncated to 20,000 chars):\n"
        "/usr/bin/python: No module named core.trainer\n"
    )
    report = await ray.status("job-1", None)
    assert report.error_message == (
        "Job entrypoint command failed with exit code 1, last available logs (truncated to 20,000 chars): "
        "/usr/bin/python: No module named core.trainer "
        "(the cluster's Python needs pip install 'loradesk[ray]'; see docs/ray.md)"
    )


async def test_sample_lines_of_the_log_come_with_the_status(ray, fake_ray):
    await ray.submit(request())
    job = fake_ray.jobs["job-1"]
    job.status = "RUNNING"
    fake_ray.add_metric_lines("job-1", 1, 4, total=10)
    sample = {"step": 4, "prompt_index": 0, "prompt": "Spell 7.", "expected": "seven", "output": "seven"}
    job.log_lines.append("LORADESK_SAMPLES " + json.dumps({"samples": [sample], "seconds": 0.2}))
    first = await ray.status("job-1", None)
    assert [(s.step, s.prompt, s.expected, s.output) for s in first.samples] == [
        (4, "Spell 7.", "seven", "seven")
    ]
    fake_ray.add_metric_lines("job-1", 5, 6, total=10)
    # Point 4 was stored before its samples were: they come again after it, not after point 6.
    assert [s.step for s in (await ray.status("job-1", 4)).samples] == [4]
    assert (await ray.status("job-1", 6)).samples == ()
    log = await ray.read_log("job-1", 0)
    assert "LORADESK_SAMPLES" not in log.text  # the person's log leaves machine lines out


def polls_of(head: FakeRayHead) -> dict[str, int]:
    return request_kinds(head.requests)


async def test_many_jobs_are_read_from_one_job_list_and_only_moved_logs_are_read(ray, fake_ray):
    for job_id in ("waiting", "training", "done", "also-training"):
        await ray.submit(request(job_id))
    fake_ray.jobs["training"].status = fake_ray.jobs["also-training"].status = "RUNNING"
    fake_ray.add_metric_lines("training", 1, 3, total=10)
    fake_ray.add_metric_lines("also-training", 1, 1, total=10)
    done = fake_ray.jobs["done"]
    done.status = "SUCCEEDED"
    fake_ray.add_metric_lines("done", 1, 10, total=10)
    done.log_lines.append('LORADESK_RESULT {"status": "completed", "artifact_url": "s3://b/adapters/done/"}')
    fake_ray.requests.clear()

    asked = [("waiting", None), ("training", 1), ("done", 8), ("also-training", None), ("forgotten", None)]
    answers = await ray.statuses(asked)

    waiting, training, finished, also, forgotten = answers
    assert isinstance(waiting, StatusReport) and waiting.status == "initializing"
    assert isinstance(training, StatusReport) and training.status == "running"
    assert [p["step"] for p in training.metrics_history or []] == [2, 3]
    assert isinstance(finished, StatusReport) and finished.status == "completed"
    assert [p["step"] for p in finished.metrics_history or []] == [9, 10]
    assert finished.artifact_url == "s3://b/adapters/done/" and finished.completed_at is not None
    assert isinstance(also, StatusReport) and [p["step"] for p in also.metrics_history or []] == [1]
    assert isinstance(forgotten, ClusterJobNotFoundError)  # not listed: asked alone, and Ray says 404
    # One list for the five; a log tail for the three that ran (none for the pending job); one
    # job's details only for the job the list left out.
    assert polls_of(fake_ray) == {"list": 1, "details": 1, "log": 3}


async def test_a_job_list_past_one_answers_bound_falls_back_to_one_job_at_a_time(ray, fake_ray, monkeypatch):
    for job_id in ("a", "b"):
        await ray.submit(request(job_id))
        fake_ray.jobs[job_id].status = "RUNNING"
    monkeypatch.setattr(bounds, "MAX_BODY", 4096)  # a head keeping thousands of jobs, in small
    fake_ray.list_padding = 4096
    fake_ray.requests.clear()
    first = await ray.statuses([("a", None), ("b", None)])
    assert [a.status for a in first if isinstance(a, StatusReport)] == ["running", "running"]
    assert polls_of(fake_ray) == {"list": 1, "details": 2, "log": 2}
    fake_ray.requests.clear()
    await ray.statuses([("a", None), ("b", None)])
    assert polls_of(fake_ray) == {"list": 0, "details": 2, "log": 2}  # not asked again for a while


async def test_a_failing_job_list_fails_the_batch_with_its_class(ray, fake_ray):
    await ray.submit(request("a"))
    fake_ray.fail_with = (503, "the dashboard is restarting")
    with pytest.raises(ClusterTransientError, match="HTTP 503"):
        await ray.statuses([("a", None), ("b", None)])
    fake_ray.fail_with = None
    fake_ray.garbage = True
    with pytest.raises(ClusterTransientError, match="malformed answer"):
        await ray.statuses([("a", None), ("b", None)])


async def test_each_scheduler_cycle_reads_rays_job_list_once_not_each_job(
    home, fake_ray, dataset_file, tmp_path
):
    settings = load_settings(
        {"home": str(home), "user": "erin", "cluster": "ray", "cluster_url": fake_ray.url}, environ={}
    )
    ws = Workspace.open(settings)
    ws.use_backend(RayCluster(fake_ray.url, TOKEN, open_storage(settings), settings, timeout=2.0))
    jobs = queue_jobs(ws, dataset_file, count=4, gpu_type="cpu")
    scheduler = Scheduler(ws)
    try:
        await scheduler.run_once()  # submits the four
        assert sorted(fake_ray.jobs) == sorted(job.id for job in jobs)
        pending, *running = (fake_ray.jobs[job.id] for job in jobs)
        for cycle in range(1, 4):
            for job in running:
                job.status = "RUNNING"
                fake_ray.add_metric_lines(job.submission_id, cycle, cycle, total=10)
            fake_ray.requests.clear()
            report = await scheduler.run_once()
            assert report.polled == 4
            # One list for the cycle and a log tail per running job: per-job requests fail here.
            assert polls_of(fake_ray) == {"list": 1, "details": 0, "log": 3}, cycle
        for job in jobs[1:]:
            detail = get_job(ws, job_id=job.id)
            assert detail.job.status.value == "running"
            assert [p.step for p in detail.metrics] == [1, 2, 3]
        assert get_job(ws, job_id=jobs[0].id).job.status.value == "initializing"
        assert pending.status == "PENDING"
    finally:
        await ws.aclose()
        ws.close()
