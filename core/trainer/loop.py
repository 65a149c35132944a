"""The training loop: LoRA adapters on the base model, one metrics line per optimizer step."""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from peft import LoraConfig, get_peft_model
from transformers import TrainerState

from core.trainer.data import IGNORE_INDEX, Example, encode_pairs
from core.trainer.gpu import GpuProbe
from core.trainer.model import load_base_model
from core.trainer.report import RunReport
from core.trainer.samples import SampleCallback, choose_prompts
from core.trainer.spec import TINY_MODEL, Hyperparameters

MAX_GRAD_NORM = 1.0  # clipping keeps the early, high-learning-rate steps from diverging


@dataclass(frozen=True)
class StepPlan:
    steps_per_epoch: int
    total_steps: int
    total_epochs: int
    warmup_steps: int
    eval_interval: int


def plan_steps(training_examples: int, hp: Hyperparameters) -> StepPlan:
    batches = math.ceil(training_examples / hp.batch_size)
    per_epoch = math.ceil(batches / hp.gradient_accumulation_steps)
    total = per_epoch * hp.epochs
    if hp.max_steps is not None:
        total = min(total, hp.max_steps)
    return StepPlan(
        steps_per_epoch=per_epoch,
        total_steps=total,
        total_epochs=math.ceil(total / per_epoch),
        warmup_steps=math.ceil(hp.warmup_ratio * total),
        eval_interval=hp.eval_interval or max(1, total // 10),
    )


def lr_factor(plan: StepPlan, step: int) -> float:
    """Linear warm-up to the full rate, then linear decay; never 0 for a step that runs."""
    if step < plan.warmup_steps:
        return (step + 1) / plan.warmup_steps
    return (plan.total_steps - step) / max(1, plan.total_steps - plan.warmup_steps)


def collate(examples: list[Example], pad_id: int, device: Any) -> dict[str, torch.Tensor]:
    width = max(len(example.input_ids) for example in examples)
    ids, labels, mask = [], [], []
    for example in examples:
        padding = width - len(example.input_ids)
        ids.append(example.input_ids + [pad_id] * padding)
        labels.append(example.labels + [IGNORE_INDEX] * padding)
        mask.append([1] * len(example.input_ids) + [0] * padding)
    return {
        "input_ids": torch.tensor(ids, device=device),
        "labels": torch.tensor(labels, device=device),
        "attention_mask": torch.tensor(mask, device=device),
    }


def epoch_steps(
    examples: list[Example], hp: Hyperparameters, rng: random.Random
) -> Iterator[list[list[Example]]]:
    """The micro-batches of each optimizer step of one epoch, in a fresh seeded order."""
    order = examples[:]
    rng.shuffle(order)
    batches = [order[i : i + hp.batch_size] for i in range(0, len(order), hp.batch_size)]
    accumulation = hp.gradient_accumulation_steps
    for start in range(0, len(batches), accumulation):
        yield batches[start : start + accumulation]


def planned_steps(
    examples: list[Example], hp: Hyperparameters, plan: StepPlan
) -> Iterator[tuple[int, list[list[Example]]]]:
    """(epoch, micro-batches) of each optimizer step of the run, `plan.total_steps` of them."""
    order = random.Random(hp.seed)
    steps = (
        (epoch, micro_batches)
        for epoch in range(1, plan.total_epochs + 1)
        for micro_batches in epoch_steps(examples, hp, order)
    )
    return itertools.islice(steps, plan.total_steps)


def attach_lora(model: Any, hp: Hyperparameters) -> Any:
    targets = hp.target_modules
    config = LoraConfig(
        r=hp.lora_rank,
        lora_alpha=hp.lora_alpha,
        lora_dropout=hp.lora_dropout,
        target_modules=list(targets) if isinstance(targets, tuple) else targets,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


class _Trainer:
    def __init__(self, model: Any, hp: Hyperparameters, plan: StepPlan, pad_id: int) -> None:
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device)
        self.pad_id = pad_id
        trainable = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=hp.learning_rate)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: lr_factor(plan, step))
        self.gpu = GpuProbe(self.device)

    def step(self, micro_batches: list[list[Example]]) -> dict[str, Any]:
        """One optimizer step over its micro-batches; the loss is the mean over their labels."""
        started = time.perf_counter()
        self.model.train()
        tensors = [collate(batch, self.pad_id, self.device) for batch in micro_batches]
        label_counts = [int((t["labels"] != IGNORE_INDEX).sum()) for t in tensors]
        total_labels = max(1, sum(label_counts))
        loss_sum, tokens = 0.0, 0
        for batch, labels in zip(tensors, label_counts, strict=True):
            loss = self.model(**batch).loss * (labels / total_labels)
            loss.backward()
            loss_sum += float(loss.detach())
            tokens += int(batch["attention_mask"].sum())
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), MAX_GRAD_NORM)
        learning_rate = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        elapsed = max(time.perf_counter() - started, 1e-9)
        utilization, memory = self.gpu.read()
        return {
            "training_loss": loss_sum,
            "learning_rate": learning_rate,
            "throughput": round(tokens / elapsed, 1),
            "gpu_utilization": utilization,
            "gpu_memory_used": memory,
        }

    @torch.no_grad()
    def validation_loss(self, examples: list[Example], batch_size: int) -> float:
        self.model.eval()
        loss_sum, label_sum = 0.0, 0
        for start in range(0, len(examples), batch_size):
            batch = collate(examples[start : start + batch_size], self.pad_id, self.device)
            labels = int((batch["labels"] != IGNORE_INDEX).sum())
            loss_sum += float(self.model(**batch).loss) * labels
            label_sum += labels
        return loss_sum / max(1, label_sum)


class StopRequest(Protocol):
    requested: bool


def train(
    hp: Hyperparameters,
    pairs: tuple[list[tuple[str, str]], list[tuple[str, str]]],
    report: RunReport,
    stop: StopRequest,
    log: Callable[[str], None],
) -> str:
    """Train on (training, validation) pairs to the end or to a stop request.

    Returns "completed" or "cancelled"; either way the adapter is saved.
    """
    began = time.monotonic()
    random.seed(hp.seed)
    torch.manual_seed(hp.seed)
    if hp.base_model == TINY_MODEL:
        # The tiny model's matrices are too small to gain from threads, and on a busy machine
        # threads waiting on each other make it several times slower.
        torch.set_num_threads(1)
    model, codec = load_base_model(hp.base_model)
    training = encode_pairs(pairs[0], codec, hp.max_length)
    validation = encode_pairs(pairs[1], codec, hp.max_length)
    plan = plan_steps(len(training), hp)
    trainer = _Trainer(attach_lora(model, hp), hp, plan, codec.pad_id)
    samples = SampleCallback(
        choose_prompts(hp, pairs[1]),
        codec,
        report,
        log,
        max_new_tokens=hp.max_new_tokens,
        max_prompt_tokens=hp.max_length,
    )
    # The callback is transformers' kind; this loop calls it where a Trainer would.
    state = TrainerState(max_steps=plan.total_steps)
    samples.on_train_begin(None, state, None)  # type: ignore[arg-type]
    report.update_status(status="running", total_steps=plan.total_steps, total_epochs=plan.total_epochs)
    log(
        f"training {len(training)} pairs, validating on {len(validation)}, {plan.total_steps} steps"
        f" on {trainer.device.type} from base model {hp.base_model!r} ({codec.kind} tokens)"
    )
    step, outcome = 0, "completed"
    for epoch, micro_batches in planned_steps(training, hp, plan):
        if stop.requested:
            outcome = "cancelled"
            break
        step += 1
        point = {"step": step, "epoch": epoch, **trainer.step(micro_batches)}
        if validation and (step % plan.eval_interval == 0 or step == plan.total_steps):
            point["validation_loss"] = trainer.validation_loss(validation, hp.batch_size)
        report.add_metrics(point)
        if "validation_loss" in point:
            state.global_step = step
            samples.on_evaluate(None, state, None, model=trainer.model)  # type: ignore[arg-type]
        report.update_status(current_step=step, current_epoch=epoch)
        if step == 1:  # how long a run takes to show its first point is worth seeing in the log
            log(f"first step recorded {time.monotonic() - began:.2f} s after the run began")
    samples.on_train_end(None, state, None)  # type: ignore[arg-type]
    # save_embedding_layers=False: only LoRA targets are trained, and peft would otherwise look
    # the base model up online to check its vocabulary.
    trainer.model.save_pretrained(
        str(report.adapter_dir), safe_serialization=True, save_embedding_layers=False
    )
    log(f"{outcome} after {step} of {plan.total_steps} steps; adapter in {report.adapter_dir}")
    return outcome
