"""A new job as asked for (`JobOrder`), and checked before anything is written (`check_new_job`).

`queue_job` calls `check_new_job` first, so the CLI and the new-job dialog refuse the same values
with the same one-line message, and no backend ever meets a value it could not run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.config import Settings
from core.formats.hyperparameters import (
    DEFAULT_GPU_COUNT,
    TINY_MODEL,
    Hyperparameters,
    base_model_source,
    check_gpu_count,
)
from core.money.gpu_offer import gpu_offer
from core.names import NAME_MAX_CHARS, check_name, fit_name


@dataclass(frozen=True)
class JobOrder:
    """A new job as a person asked for it, unchecked: what `queue_job` queues and
    `estimate_new_job` prices. The dialog, `jobs submit`, clone and retry each make one."""

    dataset_id: str  # an id or a unique name
    name: str | None = None  # None: made from the dataset's name
    hyperparameters: Mapping[str, Any] | None = None  # loose values; absent or None: the default
    gpu_type: str | None = None  # None: the backend's first offer
    gpu_count: int = DEFAULT_GPU_COUNT
    rules: Mapping[str, Any] | None = None  # max_cost, max_hours, stop_on_nan, stop_on_plateau
    expected_hours: float | None = None  # the run time to price it at; None: estimated from past runs
    parent_job_id: str | None = None  # the job this one retries or continues


@dataclass(frozen=True)
class NewJob:
    name: str | None  # None: made from the dataset's name once it is known (`default_job_name`)
    hyperparameters: Hyperparameters
    stored_hyperparameters: dict[str, Any]  # the JSON of training_jobs.hyperparameters
    gpu_type: str
    gpu_count: int
    hourly_rate: float


def check_new_job(
    settings: Settings,
    *,
    name: str | None,
    hyperparameters: Mapping[str, Any] | None,
    gpu_type: str | None,
    gpu_count: int,
) -> NewJob:
    """The request with defaults filled in, or a LoradeskError naming the first value at fault.

    On the local backend the base model defaults to the built-in tiny one and must be a model
    this machine can name (a folder with a config.json, or a Hugging Face model id, which the
    trainer finds in the Hub's cache or fetches); a cluster names its own models. Ray runs
    Loradesk's own trainer, so its default is the tiny model too (with the tiny model's rate),
    while its model folders are the nodes' to check.
    """
    if name is not None:
        name = check_name(name, what="job")
    local = settings.cluster == "local"
    runs_our_trainer = local or settings.cluster == "ray"
    record, unknown = Hyperparameters.from_values(
        hyperparameters or {}, default_base_model=TINY_MODEL if runs_our_trainer else None
    )
    if local:
        base_model_source(record.base_model)
    gpu_count = check_gpu_count(gpu_count)
    # A cluster offers the rates table's types; the local backend what this machine has.
    gpu_type, hourly_rate = gpu_offer(settings).choose(gpu_type or default_gpu_type(settings), gpu_count)
    return NewJob(
        name=name,
        hyperparameters=record,
        stored_hyperparameters={**unknown, **record.stored()},
        gpu_type=gpu_type,
        gpu_count=gpu_count,
        hourly_rate=hourly_rate,
    )


def default_job_name(dataset_name: str, hyperparameters: Hyperparameters) -> str:
    """ "<dataset> · r<rank> · <epochs> ep", the dataset's part shortened to keep it a valid name."""
    suffix = f" · r{hyperparameters.lora_rank} · {hyperparameters.epochs} ep"
    return fit_name(dataset_name, room=NAME_MAX_CHARS - len(suffix)) + suffix


def default_gpu_type(settings: Settings) -> str:
    return "cpu" if settings.cluster == "local" else "A10G"
