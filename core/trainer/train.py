"""A LoRA run on transformers' `Trainer` with a peft `LoraConfig`.

Why `Trainer` and not TRL's `SFTTrainer`: the examples arrive already tokenised with their labels
(core.trainer.data masks the prompt and the non-assistant turns, and packs rows when asked), and the
built-in tiny model has a byte codec rather than a transformers tokenizer, which `SFTTrainer` would
need for its own tokenising. What is left of `SFTTrainer` is `Trainer`; importing TRL would only
add seconds to the standby's imports. Mixed precision, gradient checkpointing, QLoRA, checkpoints
and resuming are the `Trainer`'s own; Loradesk adds its reporting and stop in callbacks.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from transformers import PrinterCallback, Trainer, TrainingArguments

from core.formats.dataset_file import Example as RawExample
from core.formats.hyperparameters import DEFAULT_SAMPLE_PROMPTS
from core.trainer.callbacks import MetricsCallback, StopCallback, StopRequest, TokenCounter
from core.trainer.checkpoint_files import checkpoints_dir
from core.trainer.data import IGNORE_INDEX, Example, encode_examples, pack, sample_pair
from core.trainer.distributed import world_size
from core.trainer.eval_samples import SampleCallback, choose_prompts
from core.trainer.gpu import GpuProbe
from core.trainer.model import load_base_model
from core.trainer.precision import Precision, choose_precision, quantization_config
from core.trainer.report import RunReport
from core.trainer.spec import CHECKPOINTS_KEPT, TINY_MODEL, Hyperparameters, TrainerSpec

MAX_GRAD_NORM = 1.0  # clipping keeps the early, high-learning-rate steps from diverging


@dataclass(frozen=True)
class StepPlan:
    steps_per_epoch: int
    total_steps: int
    total_epochs: int
    warmup_steps: int
    eval_interval: int


def plan_steps(training_examples: int, hp: Hyperparameters, processes: int = 1) -> StepPlan:
    """The run's length as the `Trainer` will count it: batches per epoch, then optimizer steps.
    Data-parallel processes each take a batch per step: an epoch is that many times shorter."""
    batches = math.ceil(training_examples / (hp.batch_size * processes))
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


class Collator:
    """Pads a batch on the right; labels of padding are ignored by the loss. Packed rows carry their
    own positions and no attention mask, from which transformers keeps packed examples apart."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, examples: list[Example]) -> dict[str, torch.Tensor]:
        width = max(len(e.input_ids) for e in examples)
        ids = [e.input_ids + [self.pad_id] * (width - len(e.input_ids)) for e in examples]
        labels = [e.labels + [IGNORE_INDEX] * (width - len(e.labels)) for e in examples]
        batch = {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels)}
        if examples[0].position_ids is not None:
            # Padding counts on from the row's last example: causal attention never lets an
            # earlier token see it, and its labels are ignored.
            batch["position_ids"] = torch.tensor(
                [(e.position_ids or []) + list(range(width - len(e.input_ids))) for e in examples]
            )
        else:
            batch["attention_mask"] = torch.tensor(
                [[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in examples]
            )
        return batch


def lora_config(hp: Hyperparameters) -> LoraConfig:
    targets = hp.target_modules
    return LoraConfig(
        r=hp.lora_rank,
        lora_alpha=hp.lora_alpha,
        lora_dropout=hp.lora_dropout,
        target_modules=list(targets) if isinstance(targets, tuple) else targets,
        task_type="CAUSAL_LM",
    )


def training_arguments(
    spec: TrainerSpec, plan: StepPlan, precision: Precision, *, cuda: bool, has_validation: bool
) -> TrainingArguments:
    hp = spec.hyperparameters
    return TrainingArguments(
        use_cpu=not cuda,  # also what lets bf16 run on the CPU
        output_dir=str(checkpoints_dir(spec.output_dir)),
        per_device_train_batch_size=hp.batch_size,
        per_device_eval_batch_size=hp.batch_size,
        gradient_accumulation_steps=hp.gradient_accumulation_steps,
        learning_rate=hp.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=plan.warmup_steps,
        max_steps=plan.total_steps,
        max_grad_norm=MAX_GRAD_NORM,
        seed=hp.seed,
        logging_strategy="steps",
        logging_steps=1,
        eval_strategy="steps" if has_validation else "no",
        eval_steps=plan.eval_interval,
        save_strategy="steps",
        save_steps=hp.checkpoint_interval,
        save_total_limit=CHECKPOINTS_KEPT,
        gradient_checkpointing=hp.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if hp.gradient_checkpointing else None,
        remove_unused_columns=False,
        report_to=[],
        disable_tqdm=True,
        log_level="error",
        bf16=precision.bf16,
        fp16=precision.fp16,
    )


def train(
    spec: TrainerSpec,
    examples: tuple[list[RawExample], list[RawExample]],
    report: RunReport,
    stop: StopRequest,
    log: Callable[[str], None],
) -> str:
    """Train on (training, validation) examples to the end or to a stop request.

    Returns "completed" or "cancelled"; either way the adapter is saved in `adapter/`.
    """
    began = time.monotonic()
    hp = spec.hyperparameters
    random.seed(hp.seed)
    torch.manual_seed(hp.seed)
    cuda = torch.cuda.is_available()
    if hp.base_model == TINY_MODEL and not cuda:
        # The tiny model's matrices are too small to gain from threads, and on a busy machine
        # threads waiting on each other make it several times slower.
        torch.set_num_threads(1)
    precision = choose_precision(hp.precision, cuda)
    quantization = quantization_config(hp, precision, cuda)
    loading: dict[str, Any] = {"dtype": precision.dtype}
    if quantization is not None:
        loading["quantization_config"] = quantization
    model, codec = load_base_model(hp.base_model, **loading)
    if quantization is not None:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=hp.gradient_checkpointing)
    training = encode_examples(examples[0], codec, hp.max_length)
    validation = encode_examples(examples[1], codec, hp.max_length)
    if hp.packing:
        training, validation = pack(training, hp.max_length), pack(validation, hp.max_length)
    plan = plan_steps(len(training), hp, world_size())
    # Training needs no key/value cache, and with one transformers would not keep packed examples apart.
    model.config.use_cache = False
    model = get_peft_model(model, lora_config(hp))
    tokens = TokenCounter(model, codec.pad_id)
    args = training_arguments(spec, plan, precision, cuda=cuda, has_validation=bool(validation))
    gpu = GpuProbe(args.device)
    stopper = StopCallback(stop)
    samples = SampleCallback(
        choose_prompts(hp, [sample_pair(example, codec) for example in examples[1][:DEFAULT_SAMPLE_PROMPTS]]),
        codec,
        report,
        log,
        max_new_tokens=hp.max_new_tokens,
        max_prompt_tokens=hp.max_length,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=training,
        eval_dataset=validation or None,
        data_collator=Collator(codec.pad_id),
        # The metrics first: a step's point is written before its evaluation's samples are made.
        callbacks=[MetricsCallback(report, tokens, gpu, log, began), samples, stopper],
    )
    trainer.remove_callback(PrinterCallback)  # the metrics file says it all; stdout.log stays readable
    report.update_status(status="running", total_steps=plan.total_steps, total_epochs=plan.total_epochs)
    resume = spec.resume_from_checkpoint
    log(
        f"training {len(training)} {'rows' if hp.packing else 'examples'}, validating on {len(validation)},"
        f" {plan.total_steps} steps on {args.device.type} in {precision.name} from base model"
        f" {hp.base_model!r} ({codec.kind} tokens)" + (f", continuing from {resume}" if resume else "")
    )
    if not stop.requested:  # a stop during loading: save the untrained adapter, as cancelled
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    step = trainer.state.global_step
    outcome = "cancelled" if stopper.stopped or (stop.requested and step < plan.total_steps) else "completed"
    if trainer.is_world_process_zero():
        # save_embedding_layers=False: only LoRA targets are trained, and peft would otherwise look
        # the base model up online to check its vocabulary.
        model.save_pretrained(str(report.adapter_dir), safe_serialization=True, save_embedding_layers=False)
    log(f"{outcome} after {step} of {plan.total_steps} steps; adapter in {report.adapter_dir}")
    return outcome
