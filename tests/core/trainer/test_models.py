"""Base models by name: a Hugging Face id found in the Hub's cache (HF_HOME), an id that cannot be
had failing in one line before training, and settings this machine cannot run refused likewise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.core.trainer.test_trainer import (
    ROOT,
    read_json,
    read_metrics,
    spelled_numbers,
    write_dataset,
    write_spec,
)

pytestmark = pytest.mark.trainer

MODEL_ID = "loradesk-tests/tiny-bytes"


def run_with(spec: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env["OMP_NUM_THREADS"] = "1"  # the tiny model by another name: threads only slow it down
    return subprocess.run(
        [sys.executable, "-m", "core.trainer", str(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**env, **environment},
    )


def cache_tiny_model(hf_home: Path, repo_id: str) -> None:
    """The tiny model and its tokenizer as the Hub's cache holds a download: the snapshot of a
    commit, and refs/main naming it."""
    from core.trainer.model import build_tiny_model, tiny_tokenizer

    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    build_tiny_model().save_pretrained(snapshot)
    tiny_tokenizer().save_pretrained(snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)


def error_of(job: Path) -> Any:
    return read_json(job / "out" / "exit.json")["error_message"]


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_hugging_face_id_trains_from_the_hub_cache(tmp_path: Path) -> None:
    cache_tiny_model(tmp_path / "hf", MODEL_ID)
    dataset = write_dataset(tmp_path / "pairs.jsonl", spelled_numbers(20, seed=21))
    spec = write_spec(tmp_path / "job", str(dataset), base_model=MODEL_ID, max_steps=2, batch_size=4)
    # Not offline: the cached copy is found without asking the (unreachable) Hub.
    result = run_with(spec, HF_HOME=str(tmp_path / "hf"))
    assert result.returncode == 0, result.stderr
    out = tmp_path / "job" / "out"
    assert [p["step"] for p in read_metrics(out)] == [1, 2]
    assert "(byte tokens)" not in result.stdout  # the cached tokenizer's
    # The adapter names its base model by the id, which reloads anywhere, not by a cache folder.
    assert read_json(out / "adapter" / "adapter_config.json")["base_model_name_or_path"] == MODEL_ID


def test_an_id_that_cannot_be_had_fails_in_one_line_before_training(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "pairs.jsonl", spelled_numbers(5, seed=22))
    spec = write_spec(tmp_path / "job", str(dataset), base_model="nobody/no-such-model")
    result = run_with(spec, HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    assert result.returncode == 1
    assert error_of(tmp_path / "job") == (
        f"cannot load base model 'nobody/no-such-model': not in the Hugging Face cache"
        f" ({tmp_path / 'hf' / 'hub'}) and HF_HUB_OFFLINE is set"
    )
    assert not (tmp_path / "job" / "out" / "metrics.jsonl").read_text()  # no step ran
    assert read_json(tmp_path / "job" / "out" / "status.json")["status"] == "initializing"
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"precision": "fp16"},
            "precision fp16 needs a CUDA GPU and this machine has none; use auto, bf16 or fp32",
        ),
        (
            {"quantization": "4bit"},
            "quantization 4bit needs a CUDA GPU (bitsandbytes) and this machine has none",
        ),
    ],
)
def test_what_needs_a_gpu_is_refused_in_one_line_on_the_cpu(
    tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    dataset = write_dataset(tmp_path / "pairs.jsonl", spelled_numbers(5, seed=23))
    result = run_with(write_spec(tmp_path / "job", str(dataset), **settings))
    assert result.returncode == 1
    assert error_of(tmp_path / "job") == message
    assert result.stderr.strip() == f"loradesk-trainer: job job failed: {message}"


def test_bf16_and_gradient_checkpointing_train_on_the_cpu(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "pairs.jsonl", spelled_numbers(20, seed=24))
    spec = write_spec(
        tmp_path / "job",
        str(dataset),
        precision="bf16",
        gradient_checkpointing=True,
        max_steps=2,
        batch_size=4,
    )
    result = run_with(spec)
    assert result.returncode == 0, result.stderr
    assert "on cpu in bf16" in result.stdout
    points = read_metrics(tmp_path / "job" / "out")
    assert [p["step"] for p in points] == [1, 2] and all(p["grad_norm"] > 0 for p in points)


def test_the_settings_names_are_checked_when_the_spec_is_read(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "pairs.jsonl", spelled_numbers(5, seed=25))
    result = run_with(write_spec(tmp_path / "job", str(dataset), precision="fp8"))
    assert result.returncode == 1
    # A spec that cannot be read reports beside it, in the job's folder, before any output folder.
    message = read_json(tmp_path / "job" / "exit.json")["error_message"]
    assert message == "precision must be one of auto, bf16, fp16, fp32, not 'fp8'"
    assert json.loads((tmp_path / "job" / "spec.json").read_text())["hyperparameters"] == {"precision": "fp8"}
