"""What Loradesk adds to transformers' training loop, as `TrainerCallback`s.

- `MetricsCallback`: one metrics point per optimizer step (training loss, learning rate, gradient
  norm, tokens/s counted from real tokens, GPU utilisation and memory), the evaluation's validation
  loss added to the point of the step it ran at. Only the main process reports, so a data-parallel
  run writes each step once.
- `StopCallback`: a stop request (SIGTERM) ends the run after the step in progress, with a
  checkpoint of that step, so a cancelled job can be continued.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import torch
from transformers import TrainerCallback

from core.trainer.gpu import GpuProbe
from core.trainer.report import RunReport


class TokenCounter:
    """Counts the real (unpadded) tokens of each training forward pass, from a pre-hook on the
    model: exactly the batches trained on, whatever the data loader prefetches, and no
    evaluation batch (the model is in eval mode then). A batch with an attention mask counts its
    ones; a packed one (no mask) its tokens other than padding (a tokenizer that pads with its
    end-of-sequence token leaves those uncounted there: a token per example, under 1 % of most)."""

    def __init__(self, model: torch.nn.Module, pad_id: int) -> None:
        self.pad_id = pad_id
        self.tokens = 0
        model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module: torch.nn.Module, args: Any, kwargs: dict[str, Any]) -> None:
        if not module.training:
            return
        mask = kwargs.get("attention_mask")
        ids = kwargs.get("input_ids")
        if mask is not None:
            self.tokens += int(mask.sum())
        elif ids is not None:
            self.tokens += int((ids != self.pad_id).sum())


class StopRequest(Protocol):
    requested: bool


class MetricsCallback(TrainerCallback):
    """Writes each optimizer step's point to the run's report (metrics.jsonl, status.json and, on a
    cluster, the LORADESK_METRIC line)."""

    def __init__(
        self,
        report: RunReport,
        tokens: TokenCounter,
        gpu: GpuProbe,
        log: Callable[[str], None],
        began: float,
    ) -> None:
        self._report = report
        self._tokens = tokens
        self._gpu = gpu
        self._log = log
        self._began = began
        self._step_started = 0.0
        self._tokens_before = 0
        self._pending: dict[str, Any] | None = None  # a step's point awaiting its evaluation
        self._first_step: int | None = None  # a resumed run's first step follows its checkpoint's

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._step_started = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        elapsed = max(time.perf_counter() - self._step_started, 1e-9)
        tokens = self._tokens.tokens - self._tokens_before
        self._tokens_before = self._tokens.tokens
        if not state.is_world_process_zero:
            return
        utilization, memory = self._gpu.read()
        # Each data-parallel process trains on as many tokens as this one, give or take a batch.
        self._pending = {
            "step": state.global_step,
            "epoch": max(1, math.ceil(state.epoch - 1e-9)),
            "throughput": round(tokens * args.world_size / elapsed, 1),
            "gpu_utilization": utilization,
            "gpu_memory_used": memory,
        }
        if state.global_step >= state.max_steps and args.eval_strategy != "no":
            control.should_evaluate = True  # the last step's validation loss ends every curve

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        point, logs = self._pending, logs or {}
        if point is None or point["step"] != state.global_step:
            return
        if "loss" in logs:
            point["training_loss"] = logs["loss"]
            point["learning_rate"] = logs.get("learning_rate")
            point["grad_norm"] = logs.get("grad_norm")
            if not control.should_evaluate:
                self._write(point)
        elif "eval_loss" in logs:
            point["validation_loss"] = logs["eval_loss"]
            self._write(point)

    def _write(self, point: dict[str, Any]) -> None:
        self._pending = None
        self._report.add_metrics(point)
        self._report.update_status(current_step=point["step"], current_epoch=point["epoch"])
        if self._first_step is None:
            self._first_step = point["step"]
            self._log(f"first step recorded {time.monotonic() - self._began:.2f} s after the run began")


class StopCallback(TrainerCallback):
    """Ends the run after the step in progress once a stop is requested, saving a checkpoint."""

    def __init__(self, stop: StopRequest) -> None:
        self._stop = stop
        self.stopped = False

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._stop.requested and state.global_step < state.max_steps:
            self.stopped = True
            control.should_training_stop = True
            control.should_save = True
