"""Checkpoints every `checkpoint_interval` steps, the last two kept, and a run continued from one:
the optimizer, scheduler and data order carry on, so its curve is the uninterrupted run's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.trainer.checkpoint_files import latest_checkpoint
from tests.core.trainer.test_trainer import (
    read_json,
    read_metrics,
    run_trainer,
    spelled_numbers,
    write_dataset,
)

pytestmark = pytest.mark.trainer

SETTINGS = {"max_steps": 6, "batch_size": 4, "checkpoint_interval": 2, "eval_interval": 3}


def resume_spec(folder: Path, dataset: Path, checkpoint: Path) -> Path:
    folder.mkdir(parents=True)
    spec = {
        "job_id": folder.name,
        "dataset_url": str(dataset),
        "output_dir": str(folder / "out"),
        "hyperparameters": SETTINGS,
        "resume_from_checkpoint": str(checkpoint),
    }
    (folder / "spec.json").write_text(json.dumps(spec))
    return folder / "spec.json"


def test_a_run_continued_from_a_checkpoint_numbers_on_and_follows_the_same_curve(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "pairs.jsonl", spelled_numbers(40, seed=11))
    whole = tmp_path / "whole"
    whole.mkdir()
    (whole / "spec.json").write_text(
        json.dumps(
            {
                "job_id": "whole",
                "dataset_url": str(dataset),
                "output_dir": str(whole / "out"),
                "hyperparameters": SETTINGS,
            }
        )
    )
    result = run_trainer(whole / "spec.json")
    assert result.returncode == 0, result.stderr
    checkpoints = sorted(p.name for p in (whole / "out" / "checkpoints").iterdir())
    assert checkpoints == ["checkpoint-4", "checkpoint-6"]  # every 2 steps, the last two kept
    assert latest_checkpoint(whole / "out") == (6, whole / "out" / "checkpoints" / "checkpoint-6")

    continued = tmp_path / "continued"
    result = run_trainer(resume_spec(continued, dataset, whole / "out" / "checkpoints" / "checkpoint-4"))
    assert result.returncode == 0, result.stderr
    assert "continuing from" in result.stdout
    points = read_metrics(continued / "out")
    assert [p["step"] for p in points] == [5, 6]
    assert read_json(continued / "out" / "status.json")["total_steps"] == 6
    uninterrupted = {p["step"]: p for p in read_metrics(whole / "out")}
    for point in points:
        before = uninterrupted[point["step"]]
        assert point["learning_rate"] == pytest.approx(before["learning_rate"])  # the scheduler's state
        assert point["training_loss"] == pytest.approx(before["training_loss"], rel=1e-4)  # optimizer, data
    assert points[-1]["validation_loss"] == pytest.approx(uninterrupted[6]["validation_loss"], rel=1e-4)
    assert (continued / "out" / "adapter" / "adapter_model.safetensors").is_file()


def test_a_missing_checkpoint_fails_before_training(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "pairs.jsonl", spelled_numbers(8, seed=12))
    result = run_trainer(resume_spec(tmp_path / "job", dataset, tmp_path / "gone" / "checkpoint-4"))
    assert result.returncode == 1
    message = read_json(tmp_path / "job" / "out" / "exit.json")["error_message"]
    assert message == f"the checkpoint to continue from, {tmp_path / 'gone' / 'checkpoint-4'}, does not exist"
