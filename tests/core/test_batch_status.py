"""The optional batch status endpoint (SPEC §4, docs/cluster-api.md): many jobs in one request,
each with its own outcome, and the per-job path for a cluster without it, remembered."""

from __future__ import annotations

from core.cluster import ClusterJobNotFoundError, ClusterTransientError
from core.cluster.http import HttpCluster
from core.jobs.service import get_job
from core.records import JobStatus
from core.scheduler import Scheduler
from tests.conftest import TOKEN
from tests.core.helpers import MetricPointRow, count, queue_jobs
from tests.fakes.cluster import FakeCluster, JobPlan


async def _running(ws, fake_cluster, dataset_file, n):
    jobs = queue_jobs(ws, dataset_file, count=n)
    for job in jobs:
        fake_cluster.plan_job(job.id, JobPlan(total_steps=1000, steps_per_poll=5))
    scheduler = Scheduler(ws)
    await scheduler.run_once()  # submits them and takes the first answers
    return scheduler, jobs


async def test_a_cycle_polls_every_job_in_one_request_and_records_their_points(
    make_workspace, fake_cluster, dataset_file
):
    fake_cluster.serve_batch()
    ws = make_workspace()
    scheduler, jobs = await _running(ws, fake_cluster, dataset_file, 30)
    status_before = fake_cluster.requests_by_endpoint["status"]
    batches_before = fake_cluster.requests_by_endpoint["batch"]

    report = await scheduler.run_once()

    assert report.polled == 30 and report.errors == 0
    assert fake_cluster.requests_by_endpoint["batch"] == batches_before + 1
    assert fake_cluster.requests_by_endpoint["status"] == status_before  # none job by job
    for job in jobs:
        detail = get_job(ws, job_id=job.id)
        assert detail.job.status is JobStatus.RUNNING and detail.job.current_step == 10
        assert [p.step for p in detail.metrics] == list(range(1, 11))


async def test_a_job_the_batch_answer_does_not_know_is_not_found_alone(
    make_workspace, fake_cluster, dataset_file
):
    fake_cluster.serve_batch()
    ws = make_workspace()
    scheduler, (gone, kept) = await _running(ws, fake_cluster, dataset_file, 2)
    fake_cluster.forget_job(get_job(ws, job_id=gone.id).job.external_job_id)
    for _ in range(3):  # three polls in a row answering 404 (SPEC §4)
        await scheduler.run_once()
    assert get_job(ws, job_id=gone.id).job.error_message == "job not found on the cluster"
    assert get_job(ws, job_id=gone.id).job.status is JobStatus.FAILED
    assert get_job(ws, job_id=kept.id).job.current_step == 20
    assert fake_cluster.requests_by_endpoint["status"] == 0


async def test_without_the_endpoint_each_job_is_polled_and_the_404_is_remembered(
    make_workspace, fake_cluster, dataset_file
):
    ws = make_workspace()  # the fake cluster serves no batch endpoint unless told
    scheduler, jobs = await _running(ws, fake_cluster, dataset_file, 3)
    assert fake_cluster.requests_by_endpoint["batch"] == 1  # asked once, answered 404
    await scheduler.run_once()
    await scheduler.run_once()
    assert fake_cluster.requests_by_endpoint["batch"] == 1  # not asked again
    assert fake_cluster.requests_by_endpoint["status"] == 3 * 3
    for job in jobs:
        assert count(ws, MetricPointRow, job_id=job.id) == 15


async def test_a_failed_batch_request_is_each_jobs_transient_failure(fake_cluster: FakeCluster):
    fake_cluster.serve_batch()
    async with HttpCluster(fake_cluster.url, TOKEN) as cluster:
        fake_cluster.fail_with(503, endpoint="batch")
        outcomes = await cluster.statuses([("a", None), ("b", 3)])
        assert [type(o) for o in outcomes] == [ClusterTransientError, ClusterTransientError]
        assert cluster.batches is None  # a 503 says nothing about the endpoint
        outcomes = await cluster.statuses([("a", None)])
        assert isinstance(outcomes[0], ClusterJobNotFoundError) and cluster.batches is True


async def test_more_jobs_than_one_request_takes_go_in_several(fake_cluster: FakeCluster):
    fake_cluster.serve_batch()
    async with HttpCluster(fake_cluster.url, TOKEN) as cluster:
        outcomes = await cluster.statuses([(f"x{i}", None) for i in range(1200)])
    assert len(outcomes) == 1200 and all(isinstance(o, ClusterJobNotFoundError) for o in outcomes)
    assert fake_cluster.requests_by_endpoint["batch"] == 3  # 500 + 500 + 200


async def test_a_malformed_entry_is_that_jobs_alone(make_workspace, fake_cluster, dataset_file):
    fake_cluster.serve_batch()
    ws = make_workspace()
    scheduler, (bad, good) = await _running(ws, fake_cluster, dataset_file, 2)
    bad_external = get_job(ws, job_id=bad.id).job.external_job_id
    original = fake_cluster._status

    def answer(external_id, since_step):
        code, body = original(external_id, since_step)
        return (code, {**body, "status": "exploded"}) if external_id == bad_external else (code, body)

    fake_cluster._status = answer  # type: ignore[method-assign]
    await scheduler.run_once()
    assert "exploded" in (get_job(ws, job_id=bad.id).job.error_message or "")
    assert get_job(ws, job_id=bad.id).job.current_step == 5
    assert get_job(ws, job_id=good.id).job.current_step == 10


async def test_the_claim_follows_the_batch_endpoint(make_workspace, fake_cluster, dataset_file):
    fake_cluster.serve_batch()
    ws = make_workspace(max_in_flight=4)
    ws.use_backend(HttpCluster(fake_cluster.url, TOKEN, max_in_flight=4))
    scheduler = Scheduler(ws)
    assert scheduler.claim_size() == 4  # the cap, until the cluster showed its batch endpoint
    await ws.backend().statuses([("x", None)])
    assert scheduler.claim_size() > 4
