"""Number formats and quantization: what the `precision` and `quantization` settings become on this
machine, as transformers' arguments. Both are checked before the model loads, so a setting the
machine cannot run fails the job in one line, not after minutes of loading."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from core.trainer.spec import TINY_MODEL, Hyperparameters, TrainerError


@dataclass(frozen=True)
class Precision:
    name: str  # bf16, fp16 or fp32: what the run computes in
    dtype: torch.dtype  # what a pretrained model's weights are loaded as

    @property
    def bf16(self) -> bool:
        return self.name == "bf16"

    @property
    def fp16(self) -> bool:
        """fp16 comes with loss scaling (transformers' GradScaler); bf16 needs none."""
        return self.name == "fp16"


_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def choose_precision(requested: str, cuda: bool) -> Precision:
    """auto: bf16 on a GPU that has it, fp16 (with loss scaling) on one that does not, fp32 on the
    CPU. fp16 on the CPU is refused: torch has no loss scaling there."""
    if requested == "auto":
        name = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "fp32"
    elif requested == "fp16" and not cuda:
        raise TrainerError(
            "precision fp16 needs a CUDA GPU and this machine has none; use auto, bf16 or fp32"
        )
    else:
        name = requested
    return Precision(name, _DTYPES[name])


def quantization_config(hp: Hyperparameters, precision: Precision, cuda: bool) -> Any:
    """bitsandbytes' configuration for QLoRA (4-bit NF4 with double quantization, or 8-bit), None
    for `none`."""
    if hp.quantization == "none":
        return None
    if not cuda:
        raise TrainerError(
            f"quantization {hp.quantization} needs a CUDA GPU (bitsandbytes) and this machine has none"
        )
    if hp.base_model in (None, TINY_MODEL):
        raise TrainerError(f"quantization {hp.quantization} is for pretrained models, not the tiny one")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise TrainerError(
            f"quantization {hp.quantization} needs bitsandbytes: pip install 'loradesk[cuda]'"
        ) from None
    from transformers import BitsAndBytesConfig

    if hp.quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    compute = precision.dtype if precision.name != "fp32" else torch.float32
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute,
    )
