"""The hyperparameters of a training job: one record with its defaults and its limits.

The CLI's options, the new-job dialog, `create_job` and the trainer all take their defaults and
their checks from here, so a value no backend could run is refused when the job is created, in the
same words everywhere. The JSON stored in `training_jobs.hyperparameters` and sent to a cluster
keeps SPEC §3/§4's names (see `Hyperparameters.stored`).

Standard library only: the trainer, which may run in a Python without the app's dependencies,
reads its spec with it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from core.errors import InvalidRequestError

TINY_MODEL = "tiny"
# 2e-4 is the usual LoRA rate for pretrained models; the randomly initialised tiny model only
# shows learning within a few dozen steps at a much higher one.
DEFAULT_LEARNING_RATE = 2e-4
TINY_LEARNING_RATE = 3e-3


class HyperparameterError(InvalidRequestError):
    """A hyperparameter no run could use; the message names it, its bounds and the value given."""


@dataclass(frozen=True)
class Limits:
    """Inclusive bounds, except that `high` is excluded for real numbers and `low` where told."""

    low: float
    high: float | None
    low_allowed: bool = True


INT_LIMITS: dict[str, Limits] = {
    "epochs": Limits(1, 10_000),
    "batch_size": Limits(1, 65_536),
    "gradient_accumulation_steps": Limits(1, 65_536),
    "lora_rank": Limits(1, 4096),
    "lora_alpha": Limits(1, 1_000_000),
    "max_length": Limits(8, 1_048_576),
    "seed": Limits(0, 2**32 - 1),
    "eval_interval": Limits(1, None),
    "max_steps": Limits(1, None),
    "max_new_tokens": Limits(1, 4096),
    "checkpoint_interval": Limits(1, None),
}
# A learning rate of 1 or more only ever diverges: refused as a typo, not tried for an hour.
FLOAT_LIMITS: dict[str, Limits] = {
    "learning_rate": Limits(0.0, 1.0, low_allowed=False),
    "warmup_ratio": Limits(0.0, 1.0),
    "lora_dropout": Limits(0.0, 1.0),
    "validation_split": Limits(0.0, 0.9),
}
# Settings that take one of a few words; the first is the default.
CHOICES: dict[str, tuple[str, ...]] = {
    # auto: bf16 where the GPU has it, else fp16 with loss scaling; fp32 on the CPU.
    "precision": ("auto", "bf16", "fp16", "fp32"),
    # QLoRA: the base model's weights in 4 or 8 bits through bitsandbytes (CUDA only).
    "quantization": ("none", "4bit", "8bit"),
}
SWITCHES = ("gradient_checkpointing", "packing")
# What the new-job dialog's Advanced part and `jobs submit` set beyond the everyday settings.
ADVANCED = (
    "warmup_ratio",
    "lora_dropout",
    "target_modules",
    "max_length",
    "seed",
    "validation_split",
    "eval_interval",
    "gradient_accumulation_steps",
    "max_steps",
    "precision",
    "quantization",
    "gradient_checkpointing",
    "packing",
    "checkpoint_interval",
)
# A checkpoint (adapter, optimizer, scheduler, RNG) every this many steps when none is asked for;
# the trainer also saves one when it is stopped (SIGTERM), so a cancelled run can be continued.
DEFAULT_CHECKPOINT_INTERVAL = 50
# GPUs of one job: beyond this is a typo (and past PostgreSQL's integer column long before).
GPU_COUNT_LIMITS = Limits(1, 1024)
# Sample prompts are answered at every evaluation: a handful to read, not a benchmark to run.
MAX_SAMPLE_PROMPTS = 16
MAX_SAMPLE_PROMPT_CHARS = 4000
DEFAULT_SAMPLE_PROMPTS = 4  # validation prompts answered when none are given
DEFAULT_GPU_COUNT = 1


@dataclass(frozen=True)
class Hyperparameters:
    """What a training run is asked to do; every instance holds checked values.

    Build one from loose values with `from_values`, which fills in the defaults that depend on
    other values: the learning rate from the base model (TINY_LEARNING_RATE for the tiny model,
    DEFAULT_LEARNING_RATE otherwise) and alpha as 2 × rank. The constructor takes values as given.
    """

    base_model: str | None = None  # None: the backend's own default (the cluster's choice)
    epochs: int = 3
    learning_rate: float = DEFAULT_LEARNING_RATE
    lora_rank: int = 8
    lora_alpha: int = 16
    batch_size: int = 8
    warmup_ratio: float = 0.1
    gradient_accumulation_steps: int = 1
    lora_dropout: float = 0.05
    target_modules: str | tuple[str, ...] = "all-linear"  # peft's shorthand: every Linear but the head
    max_length: int = 256
    seed: int = 42
    validation_split: float = 0.1
    eval_interval: int | None = None  # None: about ten evaluations per run
    max_steps: int | None = None  # None: as many as the epochs take
    # Answered at each evaluation; None: the first DEFAULT_SAMPLE_PROMPTS validation prompts,
    # with their expected completions; an empty list: no samples.
    sample_prompts: tuple[str, ...] | None = None
    max_new_tokens: int = 128  # of each sample answer, decoded greedily
    precision: str = "auto"
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory
    quantization: str = "none"
    packing: bool = False  # several short examples share one row of max_length tokens
    checkpoint_interval: int = DEFAULT_CHECKPOINT_INTERVAL

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                object.__setattr__(self, f.name, _checked(f.name, value))

    @classmethod
    def from_values(
        cls, raw: Mapping[str, Any], *, default_base_model: str | None = None
    ) -> tuple[Hyperparameters, dict[str, Any]]:
        """Checked hyperparameters from loose values (options, a form, stored JSON), and the
        entries it does not know, untouched. A None value means "the default"."""
        if not isinstance(raw, Mapping):
            raise HyperparameterError("hyperparameters must be a JSON object")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known and v is not None}
        values.setdefault("base_model", default_base_model)
        if "learning_rate" not in values:
            tiny = values["base_model"] == TINY_MODEL
            values["learning_rate"] = TINY_LEARNING_RATE if tiny else DEFAULT_LEARNING_RATE
        if "lora_alpha" not in values:
            values["lora_alpha"] = 2 * _whole(
                "lora_rank", values.get("lora_rank", cls.lora_rank), INT_LIMITS["lora_rank"]
            )
        return cls(**values), {k: v for k, v in raw.items() if k not in known}

    def to_json(self) -> dict[str, Any]:
        """Every field, as the trainer sees them."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("target_modules", "sample_prompts"):
            if isinstance(values[name], tuple):
                values[name] = list(values[name])
        return values

    def stored(self) -> dict[str, Any]:
        """The JSON of `training_jobs.hyperparameters`: the five every job states, the base model
        when one is set, and any other field only where it differs from its default."""
        values = self.to_json()
        defaults = Hyperparameters.from_values({"base_model": self.base_model})[0].to_json()
        always = ("epochs", "learning_rate", "lora_rank", "lora_alpha", "batch_size")
        return {
            k: v
            for k, v in values.items()
            if k in always
            or (k == "base_model" and v is not None)
            or (k != "base_model" and v != defaults[k])
        }


def setting_value(stored: Mapping[str, Any], name: str) -> Any:
    """One setting of a stored job: the stored value, else the record's plain default (the
    defaults that depend on other values, learning rate and alpha, are always stored)."""
    if name in stored:
        return stored[name]
    return _PLAIN_DEFAULTS.get(name)


def with_defaults(stored: Mapping[str, Any]) -> dict[str, tuple[Any, bool]]:
    """Every setting of a stored job as (value, is_default), in the record's order, then keys
    this version does not know (a cluster's own) as stored. The stored JSON omits what equalled
    its default when the job was made, so a run's full settings are the stored values over the
    defaults. A stored mapping no run could have used is shown as it is, without defaults."""
    try:
        full = Hyperparameters.from_values(stored)[0].to_json()
    except (HyperparameterError, TypeError):
        return {k: (v, False) for k, v in stored.items()}
    settings = {k: (stored[k], False) if k in stored else (v, True) for k, v in full.items()}
    if settings["base_model"][0] is None:
        del settings["base_model"]  # the backend's own choice: no value of ours to show
    return {**settings, **{k: (v, False) for k, v in stored.items() if k not in full}}


_PLAIN_DEFAULTS = {f.name: f.default for f in fields(Hyperparameters)}
SETTING_NAMES = tuple(_PLAIN_DEFAULTS)


@dataclass(frozen=True)
class BaseModelSource:
    """Where a base model comes from: `kind` is "tiny" (built in), "folder" (a local model folder,
    `folder` set) or "hub" (a Hugging Face model id, `name`, found through the Hub's cache)."""

    kind: str
    name: str
    folder: Path | None = None


# A Hugging Face model id: "name" or "owner/name", letters, digits, "-", "_" and "." (no "..").
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?")


def base_model_source(base_model: str | None) -> BaseModelSource:
    """What `base_model` names: the built-in tiny model (also for None), a local model folder (one
    with a config.json), or else a Hugging Face model id. Whether an id exists is the trainer's to
    find out (from the Hub's cache or the Hub); here only its form is checked."""
    if base_model is None or base_model == TINY_MODEL:
        return BaseModelSource("tiny", TINY_MODEL)
    folder = Path(base_model).expanduser()
    if (folder / "config.json").is_file():
        return BaseModelSource("folder", base_model, folder)
    looks_like_path = base_model.startswith(("/", ".", "~", "\\")) or "\\" in base_model or ":" in base_model
    if not looks_like_path and _HUB_ID.fullmatch(base_model) and ".." not in base_model:
        return BaseModelSource("hub", base_model)
    raise HyperparameterError(
        f"base model {base_model!r} is neither {TINY_MODEL!r}, a local model folder with a config.json,"
        " nor a Hugging Face model id"
    )


def check_gpu_count(gpu_count: Any) -> int:
    return _whole("gpu_count", gpu_count, GPU_COUNT_LIMITS)


def _checked(name: str, value: Any) -> Any:
    if name == "base_model":
        if not isinstance(value, str) or not value.strip():
            raise HyperparameterError(
                f"base model must be {TINY_MODEL!r}, a local model folder or a model name"
            )
        return value.strip()
    if name == "target_modules":
        return _target_modules(value)
    if name == "sample_prompts":
        return sample_prompts(value)
    if name in CHOICES:
        if value not in CHOICES[name]:
            raise HyperparameterError(
                f"{_label(name)} must be one of {', '.join(CHOICES[name])}, not {value!r}"
            )
        return value
    if name in SWITCHES:
        if not isinstance(value, bool):
            raise HyperparameterError(f"{_label(name)} must be true or false, not {value!r}")
        return value
    if name in INT_LIMITS:
        return _whole(name, value, INT_LIMITS[name])
    limits = FLOAT_LIMITS[name]
    real = _real(value)
    high = limits.high if limits.high is not None else math.inf
    if real is None or not limits.low <= real < high or (real == limits.low and not limits.low_allowed):
        low_words = "at least" if limits.low_allowed else "above"
        raise HyperparameterError(
            f"{_label(name)} must be a number {low_words} {limits.low:g} and below {high:g}, not {value!r}"
        )
    return real


def _whole(name: str, value: Any, limits: Limits) -> int:
    number = _integer(value)
    if number is None or number < limits.low or (limits.high is not None and number > limits.high):
        bounds = (
            f"from {limits.low:,.0f} to {limits.high:,.0f}" if limits.high else f"of at least {limits.low:g}"
        )
        raise HyperparameterError(f"{_label(name)} must be a whole number {bounds}, not {value!r}")
    return number


def _label(name: str) -> str:
    return name.replace("_", " ")


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _real(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def sample_prompts(value: Any) -> tuple[str, ...]:
    """Checked sample prompts: a list of 0 to MAX_SAMPLE_PROMPTS non-blank strings."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise HyperparameterError("sample prompts must be a list of texts")
    if len(value) > MAX_SAMPLE_PROMPTS:
        raise HyperparameterError(f"at most {MAX_SAMPLE_PROMPTS} sample prompts, not {len(value)}")
    for number, prompt in enumerate(value, 1):
        if not isinstance(prompt, str) or not prompt.strip():
            raise HyperparameterError(f"sample prompt {number} must be a non-empty text")
        if len(prompt) > MAX_SAMPLE_PROMPT_CHARS:
            raise HyperparameterError(
                f"sample prompt {number} is {len(prompt):,} characters; at most {MAX_SAMPLE_PROMPT_CHARS:,}"
            )
    return tuple(value)


def _target_modules(value: Any) -> str | tuple[str, ...]:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise HyperparameterError("target modules must be a module name or a list of them")
