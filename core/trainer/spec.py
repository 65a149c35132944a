"""SPEC.json, the one input of a training run; its hyperparameters are `core.formats.hyperparameters`'.

    {"job_id", "dataset_url", "output_dir", "storage_root", "hyperparameters": {…},
     "resume_from_checkpoint": "<a checkpoint folder>", "log_metrics", "adapter_upload", "artifact_url",
     "checkpoint_upload": {"archive", "step"}, "resume_checkpoint_url"}

Checkpoints: every `hyperparameters.checkpoint_interval` steps (default
`core.formats.hyperparameters.DEFAULT_CHECKPOINT_INTERVAL`), at the end, and when the run is stopped
(SIGTERM), the trainer saves `<output_dir>/checkpoints/checkpoint-<step>/` (transformers' layout:
the adapter, optimizer.pt, scheduler.pt, rng_state.pth, trainer_state.json; see
core.trainer.checkpoint_files), keeping the last CHECKPOINTS_KEPT. A spec whose
`resume_from_checkpoint` names such a folder (a local path) continues from it: optimizer,
scheduler and RNG state restored, steps numbered on from the checkpoint's, metrics.jsonl appended
to rather than begun again.

Standard library only (with `core.formats.hyperparameters`), so the trainer runs in a Python that has
torch but not the app's dependencies.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.formats import hyperparameters as job_hyperparameters
from core.formats.hyperparameters import (
    DEFAULT_CHECKPOINT_INTERVAL,
    DEFAULT_LEARNING_RATE,
    TINY_LEARNING_RATE,
    TINY_MODEL,
    BaseModelSource,
    HyperparameterError,
    Hyperparameters,
)

CHECKPOINTS_KEPT = 2  # the latest and the one before, in case the latest was being written

__all__ = [
    "CHECKPOINTS_KEPT",
    "DEFAULT_CHECKPOINT_INTERVAL",
    "DEFAULT_LEARNING_RATE",
    "TINY_LEARNING_RATE",
    "TINY_MODEL",
    "BaseModelSource",
    "Hyperparameters",
    "SpecError",
    "TrainerError",
    "TrainerSpec",
    "base_model_source",
    "load_spec",
    "parse_hyperparameters",
    "parse_spec",
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


def base_model_source(base_model: str | None) -> BaseModelSource:
    """The built-in tiny model, a local folder or a Hugging Face model id (core.formats.hyperparameters)."""
    try:
        return job_hyperparameters.base_model_source(base_model)
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
    # A trainer on a cluster (Ray) also prints each point as a machine-readable line on stdout,
    # which is all the app sees of it (core.trainer.report.METRIC_PREFIX).
    log_metrics: bool = False
    # Presigned PUT URLs per adapter file name: the adapter is uploaded there when the run ends.
    adapter_upload: dict[str, str] = field(default_factory=dict)
    artifact_url: str | None = None
    # A checkpoint folder to continue from (optimizer, scheduler and step included); None: from scratch.
    resume_from_checkpoint: Path | None = None
    # A run on another machine (Ray): presigned PUTs for its latest checkpoint (`archive`, `step`),
    # and the presigned GET of the parent's archive it continues from (core.trainer.checkpoint_transfer).
    checkpoint_upload: dict[str, str] = field(default_factory=dict)
    resume_checkpoint_url: str | None = None


def load_spec(path: Path) -> TrainerSpec:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read the spec {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"the spec {path} is not valid JSON: {exc}") from None
    return parse_spec(text, f"the spec {path}")


def parse_spec(text: str, where: str = "the spec") -> TrainerSpec:
    """A spec from its JSON text (a file's, or the command line's on a cluster)."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise SpecError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{where} must be a JSON object")
    for key in ("job_id", "dataset_url"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise SpecError(f"{where} lacks {key!r}")
    uploads = raw.get("adapter_upload") or {}
    if not isinstance(uploads, dict) or not all(
        isinstance(k, str) and "/" not in k and isinstance(v, str) for k, v in uploads.items()
    ):
        raise SpecError(f"{where}: adapter_upload must map file names to URLs")
    hyperparameters, ignored = parse_hyperparameters(raw.get("hyperparameters") or {})
    storage_root = raw.get("storage_root")
    checkpoint_upload = raw.get("checkpoint_upload") or {}
    if checkpoint_upload and not (
        isinstance(checkpoint_upload, dict)
        and all(isinstance(checkpoint_upload.get(k), str) for k in ("archive", "step"))
    ):
        raise SpecError(f"{where}: checkpoint_upload must give an archive and a step URL")
    resume_url = raw.get("resume_checkpoint_url")
    if resume_url is not None and (not isinstance(resume_url, str) or not resume_url):
        raise SpecError(f"{where}: resume_checkpoint_url must be a URL")
    resume = raw.get("resume_from_checkpoint")
    if resume is not None and (not isinstance(resume, str) or not resume):
        raise SpecError(f"{where}: resume_from_checkpoint must be a checkpoint folder's path")
    output_dir = raw.get("output_dir") or _scratch_folder(raw["job_id"])
    return TrainerSpec(
        job_id=raw["job_id"],
        dataset_url=raw["dataset_url"],
        output_dir=Path(output_dir),
        hyperparameters=hyperparameters,
        storage_root=Path(storage_root) if storage_root else None,
        ignored_hyperparameters=ignored,
        log_metrics=bool(raw.get("log_metrics", False)),
        adapter_upload=uploads,
        artifact_url=raw.get("artifact_url") if isinstance(raw.get("artifact_url"), str) else None,
        resume_from_checkpoint=Path(resume) if resume else None,
        checkpoint_upload=dict(checkpoint_upload),
        resume_checkpoint_url=resume_url,
    )


def _scratch_folder(job_id: str) -> str:
    """A run with no output folder of its own (its adapter is uploaded) works in a temp folder."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", job_id)[:100]
    return str(Path(tempfile.gettempdir()) / f"loradesk-{safe}")
