"""The trainer alone, as the `local` backend runs it: `python -m core.trainer SPEC.json`."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from core.storage.folder import LocalStorage
from core.trainer.spec import TINY_LEARNING_RATE, SpecError, parse_hyperparameters

pytestmark = pytest.mark.trainer

ROOT = Path(__file__).resolve().parents[3]
SAMPLE_DATASET = ROOT / "resources" / "sample-dataset.jsonl"
METRIC_KEYS = {
    "step",
    "epoch",
    "training_loss",
    "learning_rate",
    "grad_norm",
    "throughput",
    "gpu_utilization",
    "gpu_memory_used",
}

# fmt: off
_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
         "nineteen"]
# fmt: on
_TENS = ["-", "-", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def spelled(number: int) -> str:
    if number < 20:
        return _ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    hundreds, rest = divmod(number, 100)
    return f"{_ONES[hundreds]} hundred" + (f" {spelled(rest)}" if rest else "")


def spelled_numbers(count: int, seed: int) -> list[dict[str, str]]:
    """The task of the shipped sample: numbers below 1,000 spelled out in words."""
    numbers = random.Random(seed).sample(range(1000), count)
    return [{"prompt": f"Spell {n} in words.\n", "completion": spelled(n)} for n in numbers]


def write_dataset(path: Path, pairs: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(pair) + "\n" for pair in pairs), encoding="utf-8")
    return path


def write_spec(
    folder: Path, dataset_url: str, storage_root: Path | None = None, **hyperparameters: Any
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "job_id": folder.name,
        "dataset_url": dataset_url,
        "storage_root": str(storage_root) if storage_root else None,
        "output_dir": str(folder / "out"),
        "hyperparameters": hyperparameters,
    }
    path = folder / "spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


# cwd=ROOT: `-m core.trainer` imports `core` from this tree, installed or not.
def start_trainer(spec: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "core.trainer", str(spec)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_trainer(spec: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "core.trainer", str(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )


def read_lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def read_metrics(out: Path) -> list[dict[str, Any]]:
    return [line for line in read_lines(out) if "samples" not in line]


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One complete run on 120 pairs × 3 epochs, read from a signed URL as the scheduler sends it."""
    folder = tmp_path_factory.mktemp("run")
    storage = LocalStorage(folder / "storage")
    dataset = write_dataset(folder / "pairs.jsonl", spelled_numbers(120, seed=5))
    storage.put("lora-datasets", "pairs.jsonl", dataset)
    url = storage.signed_url("lora-datasets", "pairs.jsonl")
    spec = write_spec(folder / "job", url, storage_root=folder / "storage", eval_interval=5)
    result = run_trainer(spec)
    assert result.returncode == 0, result.stderr
    return folder / "job" / "out"


def test_a_run_writes_one_metrics_line_per_step_and_completes(finished_run: Path) -> None:
    points = read_metrics(finished_run)
    status = read_json(finished_run / "status.json")
    # 120 pairs, 12 held out for validation, batches of 8: 14 steps an epoch.
    assert status["total_steps"] == 42 and status["total_epochs"] == 3
    assert [p["step"] for p in points] == list(range(1, 43))
    assert [p["epoch"] for p in points] == [1] * 14 + [2] * 14 + [3] * 14
    assert all(set(p) >= METRIC_KEYS for p in points)
    assert all(p["throughput"] > 0 and p["gpu_utilization"] is None for p in points)
    assert all(p["grad_norm"] > 0 for p in points)
    evaluated = [p["step"] for p in points if "validation_loss" in p]
    assert evaluated == [5, 10, 15, 20, 25, 30, 35, 40, 42]
    assert read_json(finished_run / "exit.json") == {
        "status": "completed",
        "error_message": None,
        "artifact_dir": str(finished_run / "adapter"),
    }


def test_the_run_answers_its_sample_prompts_at_evaluations(finished_run: Path) -> None:
    evaluations = [line for line in read_lines(finished_run) if "samples" in line]
    steps = [line["samples"][0]["step"] for line in evaluations]
    assert steps[0] == 5 and steps[-1] == 42  # the first evaluation and the last, at least
    assert set(steps) <= {5, 10, 15, 20, 25, 30, 35, 40, 42}
    for line in evaluations:
        assert [s["prompt_index"] for s in line["samples"]] == [0, 1, 2, 3]
        assert all(s["prompt"].startswith("Spell ") and s["expected"] for s in line["samples"])
        assert line["seconds"] > 0


def test_the_learning_rate_warms_up_then_decays(finished_run: Path) -> None:
    rates = [p["learning_rate"] for p in read_metrics(finished_run)]
    peak = rates.index(max(rates))
    assert max(rates) == pytest.approx(TINY_LEARNING_RATE)
    assert 0 < peak < 10  # warm-up: 10 % of 42 steps
    assert rates[:peak] == sorted(rates[:peak]) and rates[peak:] == sorted(rates[peak:], reverse=True)


def test_the_loss_falls(finished_run: Path) -> None:
    points = read_metrics(finished_run)
    losses = [p["training_loss"] for p in points]
    assert sum(losses[-5:]) / 5 < 0.75 * sum(losses[:5]) / 5
    validation = [p["validation_loss"] for p in points if "validation_loss" in p]
    assert validation[-1] < 0.75 * validation[0]


@pytest.mark.filterwarnings("ignore::FutureWarning")  # peft calling a deprecated transformers API
def test_the_saved_adapter_reloads_and_changes_the_output(finished_run: Path) -> None:
    import torch
    from peft import PeftModel

    from core.trainer.model import build_tiny_model

    adapter = finished_run / "adapter"
    assert (adapter / "adapter_model.safetensors").is_file()
    assert read_json(adapter / "adapter_config.json")["r"] == 8
    ids = torch.tensor([[257, *b"Spell 42 in words.\n"]])
    with torch.no_grad():
        base = build_tiny_model().eval()(input_ids=ids).logits
        tuned_model = PeftModel.from_pretrained(build_tiny_model(), adapter).eval()
        tuned = tuned_model(input_ids=ids).logits
        with tuned_model.disable_adapter():
            unadapted = tuned_model(input_ids=ids).logits
    assert torch.equal(unadapted, base)  # same built-in base model on every build
    assert (tuned - base).abs().max() > 0.1


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_local_model_folder_is_a_base_model(tmp_path: Path) -> None:
    from core.trainer.model import build_tiny_model

    folder = tmp_path / "my-model"
    build_tiny_model().save_pretrained(folder)  # weights and config, no tokenizer: bytes then
    dataset = write_dataset(tmp_path / "pairs.jsonl", spelled_numbers(20, seed=9))
    # No sample answers: the untrained model would ramble to max_new_tokens on many threads.
    spec = write_spec(tmp_path / "job", str(dataset), base_model=str(folder), max_steps=2, sample_prompts=[])
    result = run_trainer(spec)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "job" / "out"
    assert [p["step"] for p in read_metrics(out)] == [1, 2]
    assert read_metrics(out)[0]["learning_rate"] <= 2e-4  # the pretrained-model default
    config = read_json(out / "adapter" / "adapter_config.json")
    assert config["base_model_name_or_path"] == str(folder)


def test_a_missing_base_model_fails_clearly(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "pairs.jsonl", spelled_numbers(5, seed=10))
    result = run_trainer(write_spec(tmp_path / "job", str(dataset), base_model=str(tmp_path / "nope")))
    assert result.returncode == 1
    message = read_json(tmp_path / "job" / "out" / "exit.json")["error_message"]
    missing = str(tmp_path / "nope")
    assert message == (
        f"base model {missing!r} is neither 'tiny', a local model folder with a config.json,"
        " nor a Hugging Face model id"
    )
    assert "Traceback" not in result.stderr


def test_sigterm_stops_at_the_next_step_and_saves_the_adapter_and_a_checkpoint(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "pairs.jsonl", spelled_numbers(40, seed=6))
    spec = write_spec(tmp_path / "job", str(dataset), epochs=500, batch_size=4, checkpoint_interval=1000)
    out = tmp_path / "job" / "out"
    trainer = start_trainer(spec)
    try:
        deadline = time.monotonic() + 120
        while not (out / "metrics.jsonl").exists() or not (out / "metrics.jsonl").read_text():
            assert trainer.poll() is None and time.monotonic() < deadline, trainer.stderr
            time.sleep(0.05)  # nothing to await across processes but the file
        trainer.send_signal(signal.SIGTERM)
        _, stderr = trainer.communicate(timeout=60)
    finally:
        trainer.kill()
    assert trainer.returncode == 0, stderr
    record = read_json(out / "exit.json")
    assert record["status"] == "cancelled" and record["artifact_dir"] == str(out / "adapter")
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    steps = [p["step"] for p in read_metrics(out)]
    assert 1 <= len(steps) < read_json(out / "status.json")["total_steps"]
    # The step it stopped at is saved whole, to be continued from.
    checkpoint = out / "checkpoints" / f"checkpoint-{steps[-1]}"
    for name in (
        "adapter_model.safetensors",
        "optimizer.pt",
        "scheduler.pt",
        "rng_state.pth",
        "trainer_state.json",
    ):
        assert (checkpoint / name).is_file(), name
    assert read_json(checkpoint / "trainer_state.json")["global_step"] == steps[-1]


def test_a_broken_dataset_fails_naming_the_line(tmp_path: Path) -> None:
    lines = [json.dumps(pair) for pair in spelled_numbers(3, seed=7)]
    lines.insert(2, '{"prompt": "Spell 3 in words.\\n", "completion": "three"')
    (tmp_path / "pairs.jsonl").write_text("\n".join(lines) + "\n")
    result = run_trainer(write_spec(tmp_path / "job", str(tmp_path / "pairs.jsonl")))
    assert result.returncode == 1
    assert read_json(tmp_path / "job" / "out" / "exit.json") == {
        "status": "failed",
        "error_message": "dataset line 3: not valid JSON (Expecting ',' delimiter)",
        "artifact_dir": None,
    }
    assert result.stderr.strip().splitlines() == [
        "loradesk-trainer: job job failed: dataset line 3: not valid JSON (Expecting ',' delimiter)"
    ]


def test_a_tampered_signed_url_is_refused(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    dataset = write_dataset(tmp_path / "pairs.jsonl", spelled_numbers(3, seed=8))
    storage.put("lora-datasets", "pairs.jsonl", dataset)
    url = storage.signed_url("lora-datasets", "pairs.jsonl").replace("signature=", "signature=0")
    result = run_trainer(write_spec(tmp_path / "job", url, storage_root=tmp_path / "storage"))
    assert result.returncode == 1
    message = read_json(tmp_path / "job" / "out" / "exit.json")["error_message"]
    assert message == "dataset URL: the dataset URL's signature does not match"


def test_an_unreadable_spec_fails_beside_it(tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text("{not json")
    result = run_trainer(tmp_path / "spec.json")
    assert result.returncode == 1
    record = read_json(tmp_path / "exit.json")
    assert record["status"] == "failed" and "is not valid JSON" in record["error_message"]


def test_hyperparameters_default_and_refuse_bad_values() -> None:
    tiny, ignored = parse_hyperparameters({"epochs": 2.0, "colour": "blue"})
    assert (tiny.epochs, tiny.learning_rate, tiny.lora_rank, ignored) == (
        2,
        TINY_LEARNING_RATE,
        8,
        ["colour"],
    )
    folder, _ = parse_hyperparameters({"base_model": "/models/llama"})
    assert folder.learning_rate == 2e-4
    with pytest.raises(SpecError, match="epochs must be a whole number from 1 to 10,000, not 0"):
        parse_hyperparameters({"epochs": 0})
    with pytest.raises(SpecError, match="learning rate must be a number above 0 and below 1, not 'fast'"):
        parse_hyperparameters({"learning_rate": "fast"})


def test_the_shipped_sample_is_the_spelled_numbers_task() -> None:
    shipped = [json.loads(line) for line in SAMPLE_DATASET.read_text().splitlines()]
    assert shipped == spelled_numbers(200, seed=2024)
