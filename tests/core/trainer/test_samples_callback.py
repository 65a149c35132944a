"""The sample callback on the tiny model: greedy answers at each evaluation, on the main process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import TrainerControl, TrainerState, TrainingArguments

from core.cluster.metrics_file import MetricsIndex
from core.formats.hyperparameters import Hyperparameters
from core.trainer import eval_samples as sample_module
from core.trainer.eval_samples import SampleCallback, SamplePrompt, choose_prompts, generate_answers
from core.trainer.model import build_tiny_model
from core.trainer.report import METRICS_FILE, SAMPLES_PREFIX, RunReport
from core.trainer.tokenizer import byte_codec

pytestmark = pytest.mark.trainer

PROMPTS = [SamplePrompt("What is 2 + 2?", "4"), SamplePrompt("Name a colour:", "blue")]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def greedy_by_hand(model: torch.nn.Module, prompt: str, new_tokens: int) -> str:
    """Argmax decoding one token at a time, without a cache or generate(): what greedy means."""
    codec = byte_codec()
    ids = [codec.bos_id, *codec.encode(prompt)]
    out: list[int] = []
    with torch.no_grad():
        for _ in range(new_tokens):
            logits = model(input_ids=torch.tensor([ids + out])).logits[0, -1]
            token = int(logits.argmax())
            if token == codec.eos_id:
                break
            out.append(token)
    return codec.decode(out)


def state(step: int, *, main: bool = True, max_steps: int = 0) -> TrainerState:
    found = TrainerState(global_step=step, max_steps=max_steps)
    found.is_world_process_zero = main
    return found


def evaluate(
    callback: SampleCallback, model: torch.nn.Module, step: int, *, main: bool = True, max_steps: int = 0
) -> None:
    args = TrainingArguments(output_dir="unused", report_to=[])
    callback.on_evaluate(args, state(step, main=main, max_steps=max_steps), TrainerControl(), model=model)


@pytest.fixture
def model() -> torch.nn.Module:
    torch.set_num_threads(1)
    return build_tiny_model()


def test_answers_are_the_greedy_continuations_batched_over_prompts_of_different_lengths(model):
    model.train()
    answers = generate_answers(
        model, [p.prompt for p in PROMPTS], byte_codec(), max_new_tokens=12, max_prompt_tokens=256
    )
    assert answers == [greedy_by_hand(model, p.prompt, 12) for p in PROMPTS]
    assert model.training  # left as training found it


def test_each_evaluation_writes_its_samples_and_logs_the_time_share(model, tmp_path: Path):
    clock, logged = Clock(), []
    report = RunReport(tmp_path, log_metrics=False)
    callback = SampleCallback(
        PROMPTS, byte_codec(), report, logged.append, max_new_tokens=8, max_prompt_tokens=256, clock=clock
    )
    callback.on_train_begin(None, state(0), TrainerControl())  # type: ignore[arg-type]
    report.add_metrics({"step": 10, "training_loss": 2.0})
    clock.now += 19.0  # training
    evaluate(callback, model, step=10)

    index = MetricsIndex(tmp_path / METRICS_FILE)
    history, _ = index.read_after(None)
    samples = index.samples_after(None)
    assert [p["step"] for p in history] == [10]
    assert [(s.step, s.prompt_index, s.prompt, s.expected) for s in samples] == [
        (10, 0, "What is 2 + 2?", "4"),
        (10, 1, "Name a colour:", "blue"),
    ]
    assert [s.output for s in samples] == [greedy_by_hand(model, p.prompt, 8) for p in PROMPTS]
    line = (tmp_path / METRICS_FILE).read_text().splitlines()[-1]
    assert "seconds" in json.loads(line)
    assert logged[-1].startswith("samples at step 10: 2 answers in ")
    assert logged[-1].endswith("of the training time")

    evaluate(callback, model, step=10)  # the same evaluation again: nothing more
    assert len(index.samples_after(None)) == 2

    callback.seconds, clock.now = 1.0, 120.0  # one second of sampling in a 20-second run so far
    callback.on_train_end(None, state(10), TrainerControl())  # type: ignore[arg-type]
    assert logged[-1] == "sample generation took 1.00 s over 1 evaluations, 5.0 % of the training's 20.0 s"


def test_generation_keeps_to_its_share_of_the_run_but_always_answers_first_and_last(
    model, tmp_path: Path, monkeypatch
):
    clock, logged = Clock(), []

    def two_seconds(model, prompts, codec, **options):
        clock.now += 2.0
        return ["answer"] * len(prompts)

    monkeypatch.setattr(sample_module, "generate_answers", two_seconds)
    report = RunReport(tmp_path)
    callback = SampleCallback(
        PROMPTS, byte_codec(), report, logged.append, max_new_tokens=8, max_prompt_tokens=64, clock=clock
    )
    callback.on_train_begin(None, state(0), TrainerControl())  # type: ignore[arg-type]
    steps_sampled = []
    for step, elapsed in ((10, 10.0), (20, 20.0), (30, 40.0), (40, 42.0), (50, 45.0)):
        clock.now = 100.0 + elapsed + callback.seconds
        before = callback.evaluations
        evaluate(callback, model, step, max_steps=50)
        if callback.evaluations > before:
            steps_sampled.append(step)
    # 10: the first; 20: 4 s of 24 would pass 10 %; 30: 4 s of 44 does not; 40: skipped; 50: the last
    assert steps_sampled == [10, 30, 50]
    assert logged[1] == (
        "samples at step 20 skipped: about 2.00 s more would take sample generation past 10% of the "
        "training time"
    )
    index = MetricsIndex(tmp_path / METRICS_FILE)
    index.read_after(None)
    assert [s.step for s in index.samples_after(None)] == [
        10,
        10,
        30,
        30,
        50,
        50,
    ]
    callback.on_train_end(None, state(50), TrainerControl())  # type: ignore[arg-type]
    assert "over 3 evaluations (2 more skipped for time)" in logged[-1]


def test_only_the_main_process_generates(model, tmp_path: Path):
    report = RunReport(tmp_path)
    callback = SampleCallback(PROMPTS, byte_codec(), report, print, max_new_tokens=4, max_prompt_tokens=64)
    evaluate(callback, model, step=5, main=False)
    evaluate(callback, model, step=6)  # the main process, for contrast
    index = MetricsIndex(tmp_path / METRICS_FILE)
    index.read_after(None)
    assert [s.step for s in index.samples_after(None)] == [6, 6]
    assert callback.evaluations == 1


def test_a_cluster_run_prints_its_samples_as_a_log_line(model, tmp_path: Path, capsys):
    report = RunReport(tmp_path, log_metrics=True)
    callback = SampleCallback(
        PROMPTS[:1], byte_codec(), report, print, max_new_tokens=4, max_prompt_tokens=64
    )
    evaluate(callback, model, step=3)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(SAMPLES_PREFIX)]
    assert len(lines) == 1
    sample = json.loads(lines[0][len(SAMPLES_PREFIX) :])["samples"][0]
    assert (sample["step"], sample["prompt"], sample["expected"]) == (3, "What is 2 + 2?", "4")


def test_prompts_are_the_jobs_own_or_the_first_four_validation_pairs():
    validation = [(f"q{i}", f"a{i}") for i in range(6)]
    default = choose_prompts(Hyperparameters(), validation)
    assert default == [SamplePrompt(f"q{i}", f"a{i}") for i in range(4)]
    own = choose_prompts(Hyperparameters(sample_prompts=("Hello",)), validation)
    assert own == [SamplePrompt("Hello", None)]
    assert choose_prompts(Hyperparameters(sample_prompts=()), validation) == []
