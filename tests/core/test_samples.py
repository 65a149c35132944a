"""Sample answers travel from the cluster to the database: http answers, the local metrics file,
Ray log lines; stored once each, bounded, seen by other app instances."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psutil
import pytest

from core.cluster.local import PROCESS_FILE, SPEC_FILE, LocalCluster
from core.cluster.metrics_file import MetricsIndex
from core.cluster.ray import RayCluster
from core.cluster.ray_log import parse_tail
from core.db.models import SampleRow
from core.events import SamplesAppended
from core.formats.sample_answers import MAX_SAMPLE_CHARS, MAX_SAMPLES_PER_ANSWER, sample_answers
from core.jobs import samples as sample_service
from core.jobs.service import delete_job, get_job, jobs_changed_since
from core.records import JobStatus
from core.scheduler import Scheduler
from core.storage.folder import LocalStorage
from core.trainer.report import METRICS_FILE, SAMPLES_PREFIX, RunReport
from tests.core.helpers import count, queue_jobs, run_cycles, set_job_columns
from tests.core.test_ray_cluster import TOKEN as RAY_TOKEN
from tests.core.test_ray_cluster import fake_ray  # noqa: F401  the fake Ray dashboard
from tests.fakes.cluster import JobPlan


def items(step: int, prompts: int = 2, output: str = "out") -> list[dict[str, object]]:
    return [
        {"step": step, "prompt_index": i, "prompt": f"p{i}", "expected": f"e{i}", "output": f"{output} {i}"}
        for i in range(prompts)
    ]


# -- the http path -------------------------------------------------------------------------------


async def test_http_samples_reach_the_table_once_each(make_workspace, fake_cluster, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(
        job.id, JobPlan(total_steps=40, steps_per_poll=7, sample_every=10, sample_prompts=3)
    )
    seen: list[SamplesAppended] = []
    ws.events.subscribe(lambda event: seen.append(event) if isinstance(event, SamplesAppended) else None)
    scheduler = Scheduler(ws)
    await run_cycles(scheduler, ws, job.id, until="completed")

    found = sample_service.job_samples(ws, job_id=job.id)
    assert found.steps == [10, 20, 30, 40]
    assert [(s.step, s.prompt_index) for s in found.at(20)] == [(20, 0), (20, 1), (20, 2)]
    assert found.at(30)[1].output == "answer 1 at step 30"
    assert found.at(30)[1].prompt == "prompt 1" and found.at(30)[1].expected == "expected 1"
    assert {event.job_id for event in seen} == {job.id}
    assert sorted(s.step for event in seen for s in event.samples) == sorted([10, 20, 30, 40] * 3)
    delete_job(ws, job_id=job.id)  # a deleted job takes its samples with it
    assert count(ws, SampleRow, job_id=job.id) == 0


async def test_samples_sent_again_are_stored_once(make_workspace, fake_cluster, dataset_file):
    """A cluster (or our own backends, whose reads overlap) may send a sample again."""
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=30, steps_per_poll=10, extra_samples=items(5)))
    other = Scheduler(ws)
    scheduler = Scheduler(ws)
    await scheduler.run_once()
    await other.run_once()
    await run_cycles(scheduler, ws, job.id, until="completed")
    assert count(ws, SampleRow, job_id=job.id) == 2
    assert [s.output for s in sample_service.job_samples(ws, job_id=job.id).at(5)] == ["out 0", "out 1"]


async def test_huge_and_broken_samples_are_bounded_and_cost_only_themselves(
    make_workspace, fake_cluster, dataset_file
):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    broken = [
        {"step": -1, "prompt_index": 0, "prompt": "p", "output": "negative step"},
        {"step": 3, "prompt_index": "x", "prompt": "p", "output": "index not a number"},
        {"step": 3, "prompt_index": 1, "prompt": 7, "output": "prompt not text"},
        "not an object",
    ]
    plan = JobPlan(
        total_steps=20, steps_per_poll=20, sample_every=10, sample_output="x" * 100_000, extra_samples=broken
    )
    fake_cluster.plan_job(job.id, plan)
    detail = await run_cycles(Scheduler(ws), ws, job.id, until="completed")
    assert [p.step for p in detail.metrics] == list(range(1, 21))  # the points are all there
    found = sample_service.job_samples(ws, job_id=job.id)
    assert found.steps == [10, 20]
    assert {len(s.output) for s in found.samples} == {MAX_SAMPLE_CHARS}
    assert found.samples[0].output.endswith("…")


def test_an_answer_brings_at_most_the_cap_earliest_first():
    raw = [item for step in range(MAX_SAMPLES_PER_ANSWER, 0, -1) for item in items(step, prompts=2)]
    answers = sample_answers(raw)
    assert len(answers) == MAX_SAMPLES_PER_ANSWER
    assert answers[0].step == 1 and answers[-1].step == MAX_SAMPLES_PER_ANSWER // 2


async def test_another_app_instance_sees_new_samples_through_the_change_feed(
    make_workspace, fake_cluster, dataset_file
):
    ws = make_workspace()
    viewer = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    fake_cluster.plan_job(job.id, JobPlan(total_steps=40, steps_per_poll=0, sample_every=10))
    scheduler = Scheduler(ws)
    await scheduler.run_once()
    since = jobs_changed_since(viewer, since=None).latest
    fake_cluster.advance(get_job(ws, job_id=job.id).job.external_job_id or "", 10)
    await scheduler.run_once()
    changed = jobs_changed_since(viewer, since=since)
    assert [j.id for j in changed.jobs] == [job.id]  # the job's change number moved with them
    assert [s.step for s in sample_service.samples_after(viewer, job_id=job.id, after_step=None)] == [10, 10]
    assert sample_service.samples_after(viewer, job_id=job.id, after_step=10) == []
    assert sample_service.samples_after(make_workspace(user="bob"), job_id=job.id, after_step=None) == []


# -- the local path: the trainer's metrics file ---------------------------------------------------


def test_samples_written_after_a_stored_point_are_read_again(tmp_path: Path):
    """The trainer writes step 4's point, then (after generating) step 4's samples. A poll between
    the two stores the point; the next poll asks for steps after 4, or after 5 if a point came
    too: step 4's samples still come."""
    report = RunReport(tmp_path)
    index = MetricsIndex(tmp_path / METRICS_FILE)
    for step in range(1, 5):
        report.add_metrics({"step": step, "training_loss": 1.0})
    history, _ = index.read_after(None)
    assert [p["step"] for p in history] == [1, 2, 3, 4] and index.samples_after(None) == ()
    report.add_samples(items(4), seconds=0.5)
    report.add_metrics({"step": 5, "training_loss": 0.9})
    history, _ = index.read_after(4)
    assert [p["step"] for p in history] == [5]  # the samples line is not taken for a point
    assert [(s.step, s.prompt_index) for s in index.samples_after(4)] == [(4, 0), (4, 1)]
    index.read_after(5)
    assert [s.step for s in index.samples_after(5)] == []  # after point 5: nothing new
    report.add_samples(items(5), seconds=0.5)
    index.read_after(5)
    assert [s.step for s in index.samples_after(5)] == [5, 5]


async def test_local_backend_samples_reach_the_table(make_workspace, dataset_file):
    """The scheduler over the local backend, reading a job folder a trainer (here the test,
    through the trainer's own RunReport) writes."""
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    job_dir = ws.settings.home / "jobs" / job.id
    job_dir.mkdir(parents=True)
    (job_dir / SPEC_FILE).write_text("{}", encoding="utf-8")
    me = psutil.Process()
    (job_dir / PROCESS_FILE).write_text(json.dumps({"pid": os.getpid(), "create_time": me.create_time()}))
    report = RunReport(job_dir)
    report.update_status(status="running", total_steps=6, total_epochs=1)
    ws.use_backend(LocalCluster(ws.settings))
    set_job_columns(ws, job.id, status=JobStatus.RUNNING.value, external_job_id=job.id)
    scheduler = Scheduler(ws)
    for step in range(1, 4):
        report.add_metrics({"step": step, "epoch": 1, "training_loss": 2.0 / step})
    await scheduler.run_once()
    report.add_samples(items(3, output="first"), seconds=0.2)
    report.add_metrics({"step": 4, "epoch": 1, "training_loss": 0.4})
    await scheduler.run_once()
    report.add_metrics({"step": 5, "epoch": 1, "training_loss": 0.3})
    report.add_metrics({"step": 6, "epoch": 1, "training_loss": 0.2})
    report.add_samples(items(6, output="last"), seconds=0.2)
    report.finish("completed", None, None)
    detail = await run_cycles(scheduler, ws, job.id, until="completed")
    assert [p.step for p in detail.metrics] == [1, 2, 3, 4, 5, 6]
    found = sample_service.job_samples(ws, job_id=job.id)
    assert found.steps == [3, 6]
    assert [s.output for s in found.at(6)] == ["last 0", "last 1"]


# -- the Ray path: log lines ----------------------------------------------------------------------


def test_ray_log_samples_after_the_last_stored_point():
    lines = [
        'LORADESK_METRIC {"step": 4, "training_loss": 1.0}',
        SAMPLES_PREFIX + json.dumps({"samples": items(4), "seconds": 0.3}),
        'LORADESK_METRIC {"step": 5, "training_loss": 0.9}',
        SAMPLES_PREFIX + '{"samples": "garbage"}',
        SAMPLES_PREFIX + "{not json",
        SAMPLES_PREFIX + json.dumps({"samples": items(5, output="five"), "seconds": 0.3}),
    ]
    text = "\n".join(lines) + "\n"
    tail, _ = parse_tail(text, since_step=4)
    assert [(s.step, s.output) for s in tail.samples_after(4)] == [
        (4, "out 0"),
        (4, "out 1"),
        (5, "five 0"),
        (5, "five 1"),
    ]
    assert [s.step for s in tail.samples_after(5)] == [5, 5]
    # A window that starts after the point of the last stored step does not reach far enough.
    later, _ = parse_tail("\n".join(lines[1:]) + "\n", since_step=4)
    assert not later.reaches(4) and later.reaches(5)


@pytest.mark.parametrize("since", [None, 0])
def test_ray_log_samples_of_a_window_with_everything(since):
    text = "\n".join(
        [
            'LORADESK_METRIC {"step": 1, "training_loss": 1.0}',
            SAMPLES_PREFIX + json.dumps({"samples": items(1)}),
        ]
    )
    tail, _ = parse_tail(text + "\n", since_step=since)
    assert [s.step for s in tail.samples_after(since)] == [1, 1]


async def test_ray_backend_samples_reach_the_table(make_workspace, dataset_file, fake_ray, tmp_path):  # noqa: F811
    ws = make_workspace()
    ws.use_backend(
        RayCluster(fake_ray.url, RAY_TOKEN, LocalStorage(tmp_path / "storage"), ws.settings, timeout=2.0)
    )
    (job,) = queue_jobs(ws, dataset_file)
    scheduler = Scheduler(ws)
    await scheduler.run_once()  # submitted: the Ray job is named after ours
    ray_job = fake_ray.jobs[job.id]
    ray_job.status = "RUNNING"
    fake_ray.add_metric_lines(job.id, 1, 4, total=6)
    await scheduler.run_once()
    ray_job.log_lines.append(SAMPLES_PREFIX + json.dumps({"samples": items(4, output="early")}))
    fake_ray.add_metric_lines(job.id, 5, 6, total=6)
    ray_job.log_lines.append(SAMPLES_PREFIX + json.dumps({"samples": items(6, output="late")}))
    ray_job.status = "SUCCEEDED"
    detail = await run_cycles(scheduler, ws, job.id, until="completed")
    assert [p.step for p in detail.metrics] == [1, 2, 3, 4, 5, 6]
    found = sample_service.job_samples(ws, job_id=job.id)
    assert found.steps == [4, 6]
    assert [s.output for s in found.at(4)] == ["early 0", "early 1"]
