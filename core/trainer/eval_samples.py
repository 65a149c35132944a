"""Sample answers during training: at each evaluation, the model answers a few fixed prompts.

A `transformers.TrainerCallback`, like the loggers of W&B and MLflow: it runs in `on_evaluate`, so
never more often than the evaluation, and on the main process only. The prompts are the job's
`sample_prompts`, else the first validation prompts with their expected completions. Decoding is
greedy (the same answer for the same weights, so a change between evaluations is the training's),
at most `max_new_tokens` per answer, all prompts in one left-padded batch. The time it takes is
written with the samples and its share of the training's wall time (from the start of training: no
imports, loading or saving) is logged, each time and at the end.

Generation is budgeted: an evaluation's samples are skipped when making them (as long as the last
ones took) would take sample generation past SAMPLE_SHARE of the training time so far. Where
training steps are cheap next to decoding (the tiny model on a CPU: 128 tokens cost about eight
training steps) that keeps the run's time; on a real model the budget is never reached. The first
evaluation and the last are always sampled: the first answers to watch, and the run's result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from core.formats.hyperparameters import DEFAULT_SAMPLE_PROMPTS, Hyperparameters
from core.formats.sample_answers import clip
from core.trainer.report import RunReport
from core.trainer.tokenizer import TextCodec

SAMPLE_SHARE = 0.10  # of the training's wall time that sample generation may take (SPEC §8)


@dataclass(frozen=True)
class SamplePrompt:
    prompt: str
    expected: str | None  # the validation pair's completion; None for a prompt the user gave


def choose_prompts(hp: Hyperparameters, validation: Sequence[tuple[str, str]]) -> list[SamplePrompt]:
    """The job's own prompts, or the first validation pairs' (none: samples are off)."""
    if hp.sample_prompts is not None:
        return [SamplePrompt(prompt, None) for prompt in hp.sample_prompts]
    return [SamplePrompt(prompt, expected) for prompt, expected in validation[:DEFAULT_SAMPLE_PROMPTS]]


@torch.no_grad()
def generate_answers(
    model: Any, prompts: Sequence[str], codec: TextCodec, *, max_new_tokens: int, max_prompt_tokens: int
) -> list[str]:
    """Greedy answers to `prompts`, decoded up to the end-of-sequence token."""
    bos = [codec.bos_id] if codec.bos_id is not None else []
    encoded = [(bos + codec.encode(prompt))[-max_prompt_tokens:] for prompt in prompts]
    width = max(len(ids) for ids in encoded)
    device = next(model.parameters()).device
    # Left padding: every prompt ends where its answer begins, so one batch serves them all.
    input_ids = torch.tensor([[codec.pad_id] * (width - len(ids)) + ids for ids in encoded], device=device)
    mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded], device=device)
    was_training = model.training
    threads = torch.get_num_threads()
    if device.type == "cpu":
        # One token at a time: small products that gain nothing from threads, and on a busy
        # machine threads waiting on each other made two answers take 132 s instead of 5 s.
        torch.set_num_threads(1)
    model.eval()
    try:
        output = model.generate(
            input_ids=input_ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=codec.pad_id,
            eos_token_id=codec.eos_id,
            use_cache=True,
        )
    finally:
        model.train(was_training)
        torch.set_num_threads(threads)
    answers = []
    for row in output[:, width:].tolist():
        ids = row[: row.index(codec.eos_id)] if codec.eos_id in row else row
        answers.append(codec.decode(ids))
    return answers


class SampleCallback(TrainerCallback):
    """Writes each evaluation's sample answers through the run's report and logs their cost."""

    def __init__(
        self,
        prompts: Sequence[SamplePrompt],
        codec: TextCodec,
        report: RunReport,
        log: Callable[[str], None],
        *,
        max_new_tokens: int,
        max_prompt_tokens: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.prompts = list(prompts)
        self.codec = codec
        self.report = report
        self.log = log
        self.max_new_tokens = max_new_tokens
        self.max_prompt_tokens = max_prompt_tokens
        self.clock = clock
        self.seconds = 0.0  # spent generating so far
        self.evaluations = 0
        self.skipped = 0
        self._last_cost: float | None = None  # seconds the last generation took
        self._began = clock()
        self._last_step: int | None = None

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._began = self.clock()

    def on_evaluate(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        model = kwargs.get("model")
        step = state.global_step
        if not self.prompts or model is None or not state.is_world_process_zero or step == self._last_step:
            return
        self._last_step = step
        final = state.max_steps > 0 and step >= state.max_steps
        if not final and not self._affordable():
            self.skipped += 1
            if self.skipped == 1:  # the reason once; the end of the run counts the others
                self.log(
                    f"samples at step {step} skipped: about {self._last_cost:.2f} s more would take "
                    f"sample generation past {SAMPLE_SHARE:.0%} of the training time"
                )
            return
        started = self.clock()
        answers = generate_answers(
            model,
            [p.prompt for p in self.prompts],
            self.codec,
            max_new_tokens=self.max_new_tokens,
            max_prompt_tokens=self.max_prompt_tokens,
        )
        seconds = self.clock() - started
        self._last_cost = seconds
        self.seconds += seconds
        self.evaluations += 1
        items = [
            {
                "step": step,
                "prompt_index": index,
                "prompt": clip(prompt.prompt),
                "expected": None if prompt.expected is None else clip(prompt.expected),
                "output": clip(answer),
            }
            for index, (prompt, answer) in enumerate(zip(self.prompts, answers, strict=True))
        ]
        self.report.add_samples(items, seconds)
        self.log(
            f"samples at step {step}: {len(items)} answers in {seconds:.2f} s; "
            f"sample generation so far {self.share():.1f} % of the training time"
        )

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.evaluations and state.is_world_process_zero:
            wall = self.clock() - self._began
            skipped = f" ({self.skipped} more skipped for time)" if self.skipped else ""
            self.log(
                f"sample generation took {self.seconds:.2f} s over {self.evaluations} evaluations"
                f"{skipped}, {self.share():.1f} % of the training's {wall:.1f} s"
            )

    def _affordable(self) -> bool:
        """Whether this evaluation's samples, costing what the last ones did, keep generation
        within SAMPLE_SHARE of the wall time (the first always is: nothing is known yet)."""
        if self._last_cost is None:
            return True
        elapsed = self.clock() - self._began
        return self.seconds + self._last_cost <= SAMPLE_SHARE * (elapsed + self._last_cost)

    def share(self) -> float:
        """Sample generation's part of the wall time since training began, in %."""
        wall = self.clock() - self._began
        return 100.0 * self.seconds / wall if wall > 0 else 0.0
