"""SPEC.json, the one input of a training run, and the hyperparameters it carries.

Standard library only: the `local` backend checks hyperparameters with it before starting a
process, so a bad value is refused at submit instead of failing a minute later.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

TINY_MODEL = "tiny"
# 2e-4 is the usual LoRA rate for pretrained models; the randomly initialised tiny model only
# shows learning within a few dozen steps at a much higher one.
DEFAULT_LEARNING_RATE = 2e-4
TINY_LEARNING_RATE = 3e-3


class TrainerError(Exception):
    """A run cannot go on; the message, one line, is shown to the user as the job's error."""


class SpecError(TrainerError):
    """The spec or a hyperparameter is unusable; the message names which and why."""


@dataclass(frozen=True)
class Hyperparameters:
    base_model: str = TINY_MODEL
    epochs: int = 3
    learning_rate: float = TINY_LEARNING_RATE  # resolved from base_model when not given
    warmup_ratio: float = 0.1
    batch_size: int = 8
    gradient_accumulation_steps: int = 1
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: str | tuple[str, ...] = "all-linear"  # peft's shorthand: every Linear but the head
    max_length: int = 256
    seed: int = 42
    validation_split: float = 0.1
    eval_interval: int | None = None  # None: about ten evaluations per run
    max_steps: int | None = None  # None: as many as the epochs take

    def to_json(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        if isinstance(self.target_modules, tuple):
            values["target_modules"] = list(self.target_modules)
        return values


# name → (lowest, highest or None), both allowed
_INT_RANGES: dict[str, tuple[int, int | None]] = {
    "epochs": (1, 10_000),
    "batch_size": (1, 65_536),
    "gradient_accumulation_steps": (1, 65_536),
    "lora_rank": (1, 4096),
    "lora_alpha": (1, 1_000_000),
    "max_length": (8, 1_048_576),
    "seed": (0, 2**32 - 1),
    "eval_interval": (1, None),
    "max_steps": (1, None),
}
# name → (lowest, highest, whether lowest itself is allowed); highest is never allowed
_FLOAT_RANGES: dict[str, tuple[float, float, bool]] = {
    "learning_rate": (0.0, 1.0, False),
    "warmup_ratio": (0.0, 1.0, True),
    "lora_dropout": (0.0, 1.0, True),
    "validation_split": (0.0, 0.9, True),
}
_OPTIONAL = {"eval_interval", "max_steps"}


def parse_hyperparameters(raw: dict[str, Any]) -> tuple[Hyperparameters, list[str]]:
    """Checked hyperparameters with defaults filled in, and the names it did not know."""
    if not isinstance(raw, dict):
        raise SpecError("hyperparameters must be a JSON object")
    known = {f.name for f in fields(Hyperparameters)}
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in known:
            continue
        if value is None and name in _OPTIONAL | {"learning_rate", "target_modules"}:
            continue  # explicit null means "the default"
        values[name] = _checked(name, value)
    if "learning_rate" not in values:
        base = values.get("base_model", TINY_MODEL)
        values["learning_rate"] = TINY_LEARNING_RATE if base == TINY_MODEL else DEFAULT_LEARNING_RATE
    return Hyperparameters(**values), sorted(set(raw) - known)


def _checked(name: str, value: Any) -> Any:
    if name == "base_model":
        if not isinstance(value, str) or not value.strip():
            raise SpecError("hyperparameter base_model must be 'tiny' or a local model folder")
        return value.strip()
    if name == "target_modules":
        return _target_modules(value)
    if name in _INT_RANGES:
        low, high = _INT_RANGES[name]
        number = _integer(value)
        if number is None or number < low or (high is not None and number > high):
            bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
            raise SpecError(f"hyperparameter {name} must be a whole number {bounds}, not {value!r}")
        return number
    low_f, high_f, low_ok = _FLOAT_RANGES[name]
    real = _real(value)
    if real is None or not low_f <= real < high_f or (real == low_f and not low_ok):
        op = "≤" if low_ok else "<"
        raise SpecError(
            f"hyperparameter {name} must be a number with {low_f:g} {op} {name} < {high_f:g}, not {value!r}"
        )
    return real


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


def _target_modules(value: Any) -> str | tuple[str, ...]:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise SpecError("hyperparameter target_modules must be a module name or a list of them")


def base_model_folder(base_model: str) -> Path | None:
    """The local folder of a base model; None for the built-in tiny one."""
    if base_model == TINY_MODEL:
        return None
    folder = Path(base_model).expanduser()
    if not (folder / "config.json").is_file():
        raise SpecError(
            f"base model {base_model!r} is neither 'tiny' nor a local model folder with a config.json"
        )
    return folder


@dataclass(frozen=True)
class TrainerSpec:
    job_id: str
    dataset_url: str
    output_dir: Path
    hyperparameters: Hyperparameters
    storage_root: Path | None = None
    ignored_hyperparameters: list[str] = field(default_factory=list)


def load_spec(path: Path) -> TrainerSpec:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"cannot read the spec {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SpecError(f"the spec {path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"the spec {path} must be a JSON object")
    for key in ("job_id", "dataset_url", "output_dir"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise SpecError(f"the spec {path} lacks {key!r}")
    hyperparameters, ignored = parse_hyperparameters(raw.get("hyperparameters") or {})
    storage_root = raw.get("storage_root")
    return TrainerSpec(
        job_id=raw["job_id"],
        dataset_url=raw["dataset_url"],
        output_dir=Path(raw["output_dir"]),
        hyperparameters=hyperparameters,
        storage_root=Path(storage_root) if storage_root else None,
        ignored_hyperparameters=ignored,
    )
