"""Clone and retry: a new job from an earlier one's dataset and settings; expected run time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.db.models import utcnow
from core.errors import NotFoundError
from core.jobs.reuse import create_job_like, estimate_run_time, find_settings
from tests.core.helpers import queue_jobs, set_job_columns


async def test_a_clone_keeps_dataset_and_settings_and_takes_the_changes(make_workspace, dataset_file):
    ws = make_workspace()
    (original,) = queue_jobs(
        ws,
        dataset_file,
        hyperparameters={"epochs": 2, "lora_rank": 16, "learning_rate": 1e-4, "base_model": "llama3-8b"},
        gpu_type="A100-80GB",
        gpu_count=2,
    )
    same = create_job_like(ws, like_id=original.id)
    assert same.id != original.id and same.status.value == "queued"
    assert (same.dataset_id, same.hyperparameters, same.gpu_type, same.gpu_count) == (
        original.dataset_id,
        original.hyperparameters,
        "A100-80GB",
        2,
    )
    assert same.notes == "" and same.tags == []

    changed = create_job_like(
        ws,
        like_id=original.id,
        name="rank 32",
        hyperparameters={"lora_rank": 32, "epochs": None},
        gpu_count=4,
    )
    assert changed.name == "rank 32" and changed.gpu_count == 4
    assert changed.hyperparameters["lora_rank"] == 32
    assert changed.hyperparameters["lora_alpha"] == 64  # follows the new rank, as in a new job
    assert changed.hyperparameters["epochs"] == 2 and changed.hyperparameters["learning_rate"] == 1e-4
    assert find_settings(ws, job_id=changed.id).gpu_type == "A100-80GB"

    with pytest.raises(NotFoundError):
        create_job_like(make_workspace(user="bob"), like_id=original.id)


async def test_expected_time_comes_from_finished_runs_of_the_dataset(make_workspace, dataset_file):
    ws = make_workspace()
    jobs = queue_jobs(ws, dataset_file, count=4)
    assert estimate_run_time(ws, dataset_id=jobs[0].dataset_id, epochs=3) is None  # none finished
    start = utcnow() - timedelta(days=1)
    # 1 h over 2 epochs, 3 h over 3 epochs, 0.9 h over 1 epoch: per epoch 0.5, 1.0, 0.9 h.
    for job, hours, epochs in zip(jobs, (1.0, 3.0, 0.9), (2, 3, 1), strict=False):
        set_job_columns(
            ws,
            job.id,
            status="completed",
            total_epochs=epochs,
            started_at=start,
            completed_at=start + timedelta(hours=hours),
        )
    late = start + timedelta(hours=50)
    set_job_columns(ws, jobs[3].id, status="failed", started_at=start, completed_at=late)

    estimate = estimate_run_time(ws, dataset_id=jobs[0].dataset_id, epochs=4)
    assert estimate is not None
    assert estimate.runs == 3 and estimate.hours_per_epoch == pytest.approx(0.9)
    assert estimate.hours == pytest.approx(3.6)
    assert estimate.describe() == "from 3 finished runs of this dataset (54 min per epoch)"
    assert estimate_run_time(make_workspace(user="bob"), dataset_id=jobs[0].dataset_id, epochs=1) is None
