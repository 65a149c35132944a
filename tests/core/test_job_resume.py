"""Continuing a failed or cancelled job from its checkpoint: the linked job it makes, what it
refuses, and what the `local` backend's trainer is told."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.cluster.base import ClusterRejectedError, SubmitRequest
from core.cluster.local import SPEC_FILE, LocalCluster, _keep_points_up_to
from core.datasets.catalog import list_datasets
from core.db.models import MetricPointRow
from core.errors import InvalidRequestError
from core.jobs.resume import continuable_step, continue_job, continued_name, earlier_points, lineage
from core.jobs.reuse import create_job_like
from core.records import Job
from core.scheduler.submitting import submit_request
from core.trainer.checkpoint_files import STATE_FILE, checkpoint_dir, latest_checkpoint, pack, unpack
from core.workspace import Workspace
from tests.core.helpers import queue_jobs, set_job_columns


def save_checkpoint(job_dir: Path, step: int, *, complete: bool = True) -> Path:
    """A checkpoint folder as transformers' Trainer leaves it (its state file last)."""
    folder = checkpoint_dir(job_dir, step)
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    if complete:
        (folder / STATE_FILE).write_text(json.dumps({"global_step": step}), encoding="utf-8")
    return folder


def ended_local_job(ws: Workspace, dataset_file: Path, status: str = "failed", **options: object):
    ws.use_backend(LocalCluster(ws.settings))
    (job,) = queue_jobs(ws, dataset_file, hyperparameters={"epochs": 2, "lora_rank": 4}, **options)
    return ended_in_its_folder(ws, job, status)


def ended_in_its_folder(ws: Workspace, job: Job, status: str = "failed") -> tuple[Job, Path]:
    set_job_columns(ws, job.id, status=status, external_job_id=job.id, current_step=37, total_steps=60)
    job_dir = ws.settings.home / "jobs" / job.id
    (job_dir).mkdir(parents=True)
    (job_dir / SPEC_FILE).write_text("{}", encoding="utf-8")
    return job, job_dir


async def test_a_continued_job_links_its_parent_and_starts_at_the_checkpoint(make_workspace, dataset_file):
    ws = make_workspace()
    parent, job_dir = ended_local_job(ws, dataset_file, gpu_type="cpu")
    save_checkpoint(job_dir, 20)
    save_checkpoint(job_dir, 30)
    save_checkpoint(job_dir, 35, complete=False)  # the trainer died writing it

    assert await continuable_step(ws, job_id=parent.id) == 30
    child = await continue_job(ws, job_id=parent.id, hyperparameters={"epochs": 3, "lora_rank": None})

    assert (child.parent_job_id, child.resume_from_step) == (parent.id, 30)
    assert child.status.value == "queued" and child.id != parent.id
    assert child.current_step == 30  # its progress counts from the checkpoint
    assert child.dataset_id == parent.dataset_id and child.gpu_type == "cpu"
    assert child.hyperparameters["epochs"] == 3 and child.hyperparameters["lora_rank"] == 4
    assert child.name == f"{parent.name} (from step 30)"

    (dataset,) = list_datasets(ws)
    request = submit_request(ws, child, dataset.storage_bucket, dataset.storage_path)
    assert (request.resume_from_job, request.resume_from_step) == (parent.id, 30)
    # A retry is linked too, but starts afresh.
    retried = create_job_like(ws, like_id=parent.id, retry=True)
    assert (retried.parent_job_id, retried.resume_from_step, retried.current_step) == (parent.id, None, 0)
    assert submit_request(ws, retried, dataset.storage_bucket, dataset.storage_path).resume_from_step is None


async def test_only_a_failed_or_cancelled_job_with_a_checkpoint_is_continued(make_workspace, dataset_file):
    ws = make_workspace()
    parent, job_dir = ended_local_job(ws, dataset_file, status="completed")
    save_checkpoint(job_dir, 10)
    assert await continuable_step(ws, job_id=parent.id) is None
    with pytest.raises(InvalidRequestError, match="is completed; only a failed or cancelled job"):
        await continue_job(ws, job_id=parent.id)

    set_job_columns(ws, parent.id, status="cancelled")
    with pytest.raises(InvalidRequestError, match=r"lora rank cannot change .* trained with 4"):
        await continue_job(ws, job_id=parent.id, hyperparameters={"lora_rank": 8})
    assert (await continue_job(ws, job_id=parent.id)).resume_from_step == 10

    bare, _ = ended_in_its_folder(ws, create_job_like(ws, like_id=parent.id))
    with pytest.raises(InvalidRequestError, match="has no checkpoint to continue from"):
        await continue_job(ws, job_id=bare.id)


async def test_a_cluster_that_keeps_no_checkpoints_has_none_to_continue(make_workspace, dataset_file):
    ws = make_workspace()  # the `http` backend (SPEC §4): no checkpoints it could name
    (job,) = queue_jobs(ws, dataset_file)
    set_job_columns(ws, job.id, status="failed", external_job_id="ext-1")
    assert await continuable_step(ws, job_id=job.id) is None
    with pytest.raises(InvalidRequestError, match="no checkpoint"):
        await continue_job(ws, job_id=job.id)


async def test_the_local_trainer_is_told_the_parents_checkpoint(tmp_path, make_workspace, dataset_file):
    ws = make_workspace()
    cluster = LocalCluster(ws.settings)
    parent_dir = ws.settings.home / "jobs" / "parent-1"
    request = SubmitRequest("child-1", "file:///nowhere", {"max_steps": 5}, "cpu", 1, "parent-1", 8)
    with pytest.raises(ClusterRejectedError, match="checkpoint at step 8 of job parent-1 is gone"):
        await cluster.submit(request)
    assert not (ws.settings.home / "jobs" / "child-1" / SPEC_FILE).exists()  # nothing started

    folder = save_checkpoint(parent_dir, 8)
    assert cluster._parent_checkpoint(request) == folder


def test_a_continued_run_keeps_the_dead_runs_points_up_to_its_checkpoint(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    lines = [json.dumps({"step": step, "training_loss": 1.0 / step}) + "\n" for step in range(1, 8)]
    samples = [
        json.dumps({"samples": [{"step": s, "prompt_index": 0, "output": "x"}]}) + "\n" for s in (4, 6)
    ]
    lines[4:4], lines[6:6] = [samples[0]], [samples[1]]
    metrics.write_text("".join(lines) + '{"step": 8, "train', encoding="utf-8")
    _keep_points_up_to(metrics, 5)
    kept = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [line.get("step") or line["samples"][0]["step"] for line in kept] == [1, 2, 3, 4, 4, 5]


def test_a_checkpoint_travels_as_one_archive(tmp_path):
    folder = save_checkpoint(tmp_path / "run", 12)
    archive = pack(folder, tmp_path / "checkpoint.tar")
    unpacked = unpack(archive, tmp_path / "other" / "checkpoints")
    assert unpacked.name == "checkpoint-12"
    assert (unpacked / "adapter_model.safetensors").read_bytes() == b"weights"
    assert latest_checkpoint(tmp_path / "other") == (12, unpacked)


def test_continued_names_do_not_stack():
    assert continued_name("rank 8", 40) == "rank 8 (from step 40)"
    assert continued_name("rank 8 (from step 40)", 90) == "rank 8 (from step 90)"
    assert len(continued_name("x" * 200, 5)) == 200


def add_points(ws: Workspace, job_id: str, steps: range) -> None:
    with ws.db.write() as session:
        session.add_all(MetricPointRow(job_id=job_id, step=s, training_loss=100.0 - s) for s in steps)


async def test_the_points_before_a_continued_job_are_its_ancestors_up_to_each_checkpoint(
    make_workspace, dataset_file
):
    ws = make_workspace()
    first, first_dir = ended_local_job(ws, dataset_file)
    add_points(ws, first.id, range(1, 28))  # died at 27, its checkpoint at 20
    save_checkpoint(first_dir, 20)
    second = await continue_job(ws, job_id=first.id)
    _, second_dir = ended_in_its_folder(ws, second)
    add_points(ws, second.id, range(21, 45))  # cancelled at 44, its checkpoint at 40
    save_checkpoint(second_dir, 40)
    third = await continue_job(ws, job_id=second.id)
    add_points(ws, third.id, range(41, 50))

    before = earlier_points(ws, job_id=third.id)
    assert before["step"].tolist() == list(range(1, 41))  # 1-20 of the first, 21-40 of the second
    assert before["training_loss"][-1] == 60.0
    assert earlier_points(ws, job_id=second.id)["step"].tolist() == list(range(1, 21))
    assert len(earlier_points(ws, job_id=first.id)) == 0  # started afresh
    assert lineage(third, second.name) == f"continues “{second.name}” ({second.id[:8]}) from step 40"
    assert lineage(create_job_like(ws, like_id=first.id, retry=True)) == f"retried from {first.id[:8]}"
    assert lineage(first) is None
