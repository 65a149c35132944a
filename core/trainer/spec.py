"""SPEC.json, the one input of a training run; its hyperparameters are `core.hyperparameters`'.

Standard library only (with `core.hyperparameters`), so the trainer runs in a Python that has
torch but not the app's dependencies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import hyperparameters as job_hyperparameters
from core.hyperparameters import (
    DEFAULT_LEARNING_RATE,
    TINY_LEARNING_RATE,
    TINY_MODEL,
    HyperparameterError,
    Hyperparameters,
)

__all__ = [
    "DEFAULT_LEARNING_RATE",
    "TINY_LEARNING_RATE",
    "TINY_MODEL",
    "Hyperparameters",
    "SpecError",
    "TrainerError",
    "TrainerSpec",
    "base_model_folder",
    "load_spec",
    "parse_hyperparameters",
]


class TrainerError(Exception):
    """A run cannot go on; the message, one line, is shown to the user as the job's error."""


class SpecError(TrainerError):
    """The spec or a hyperparameter is unusable; the message names which and why."""


def parse_hyperparameters(raw: dict[str, Any]) -> tuple[Hyperparameters, list[str]]:
    """Checked hyperparameters with defaults filled in (the tiny model when none is named), and
    the names it did not know."""
    try:
        hyperparameters, unknown = Hyperparameters.from_values(raw, default_base_model=TINY_MODEL)
    except HyperparameterError as exc:
        raise SpecError(str(exc)) from None
    return hyperparameters, sorted(unknown)


def base_model_folder(base_model: str | None) -> Path | None:
    """The local folder of a base model; None for the built-in tiny one."""
    try:
        return job_hyperparameters.base_model_folder(base_model)
    except HyperparameterError as exc:
        raise SpecError(str(exc)) from None


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
