"""Plain, frozen records that cross layers (services → CLI, desktop, events).

They are snapshots of rows: never live ORM objects, so a caller on another thread can hold them safely.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    INITIALIZING = "initializing"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_cancellable(self) -> bool:
        return self in CANCELLABLE_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
ACTIVE_STATUSES = frozenset({JobStatus.INITIALIZING, JobStatus.RUNNING})
CANCELLABLE_STATUSES = frozenset({JobStatus.QUEUED, *ACTIVE_STATUSES})


class NotificationType(enum.StrEnum):
    JOB_STARTED = "job_started"
    JOB_PROGRESS = "job_progress"
    JOB_COMPLETED = "job_completed"
    JOB_FAILED = "job_failed"
    JOB_CANCELLED = "job_cancelled"
    JOB_WARNING = "job_warning"
    CLUSTER_AUTH_FAILED = "cluster_auth_failed"


# The measurements of a metric point, in the order of SPEC §3, then the gradient norm (the
# Trainer's, before clipping; migration 0011).
METRIC_FIELDS = (
    "training_loss",
    "validation_loss",
    "learning_rate",
    "throughput",
    "gpu_utilization",
    "gpu_memory_used",
    "grad_norm",
)

BUCKETS = ("training-files", "lora-datasets")
DEFAULT_BUCKET = "lora-datasets"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


class _Record:
    def to_json(self) -> dict[str, Any]:
        """The record keyed by its column names, ready for json.dumps."""
        return {key: _jsonable(value) for key, value in asdict(self).items()}  # type: ignore[call-overload]


@dataclass(frozen=True, slots=True)
class Dataset(_Record):
    id: str
    user_id: str
    name: str
    storage_bucket: str | None
    storage_path: str
    training_ready: bool
    total_pairs: int
    created_at: datetime

    @property
    def bucket(self) -> str:
        return self.storage_bucket or DEFAULT_BUCKET


@dataclass(frozen=True, slots=True)
class Job(_Record):
    id: str
    user_id: str
    dataset_id: str
    name: str
    status: JobStatus
    progress: float
    current_epoch: int
    total_epochs: int
    current_step: int
    total_steps: int | None
    current_metrics: dict[str, Any]
    hyperparameters: dict[str, Any]
    gpu_type: str
    gpu_count: int
    hourly_rate: float
    current_cost: float
    final_cost: float | None
    external_job_id: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime
    error_message: str | None
    artifact_url: str | None
    cancel_requested_at: datetime | None = None
    # A submit may have reached the cluster since then, even while external_job_id is unknown.
    submit_sent_at: datetime | None = None
    # When a scheduler last asked the cluster about it: how fresh an active job's figures are.
    polled_at: datetime | None = None
    change_seq: int = 0  # the database's number of the change that made this snapshot
    artifact_partial: bool = False  # artifact_url holds a cancelled run's adapter as it stopped
    notes: str = ""
    tags: list[str] = field(default_factory=list)
    # Guardrails (core.money.stop_rules): the stop rules, None or False when off.
    max_cost: float | None = None  # US$
    max_hours: float | None = None  # hours since the job started
    stop_on_nan: bool = False
    stop_on_plateau: int | None = None  # evaluations without a better validation loss
    stop_reason: str | None = None  # the rule that stopped the job, in words
    best_validation_loss: float | None = None
    evaluations_since_best: int = 0
    nan_loss_step: int | None = None  # the first step whose loss was NaN or infinite
    guardrail_warnings: list[str] = field(default_factory=list)  # 80 % warnings given
    parent_job_id: str | None = None  # the job this one was retried from or continues
    resume_from_step: int | None = None  # the parent's checkpoint step this one continues from

    @property
    def is_cancelling(self) -> bool:
        """A cancel was asked for and is waiting on the cluster."""
        return self.cancel_requested_at is not None and not self.status.is_terminal

    @property
    def cost(self) -> float:
        return self.final_cost if self.final_cost is not None else self.current_cost


@dataclass(frozen=True, slots=True)
class JobChanges:
    """What the change query found after a change number (core.jobs.service.jobs_changed_since)."""

    jobs: list[Job]  # changed jobs, oldest change first; may repeat a snapshot already seen
    deleted: list[str]  # ids of jobs deleted after the number, each reported once
    latest: int  # the number to pass next time
    # `jobs` is every job of the person's: asked with no number, or one older than the kept
    # tombstones. A job stamped up to `latest` and missing from it is gone.
    complete: bool = False


@dataclass(frozen=True, slots=True)
class MetricPoint(_Record):
    job_id: str
    step: int
    epoch: int | None = None
    training_loss: float | None = None
    validation_loss: float | None = None
    learning_rate: float | None = None
    throughput: float | None = None
    gpu_utilization: float | None = None
    gpu_memory_used: float | None = None
    grad_norm: float | None = None
    recorded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Sample(_Record):
    """The answer the trainer generated for one sample prompt at one evaluation (SPEC §3)."""

    job_id: str
    step: int
    prompt_index: int
    prompt: str
    expected: str | None
    output: str
    recorded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CostRecord(_Record):
    job_id: str
    user_id: str
    cost_type: str
    amount: float
    billing_period: str
    details: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Notification(_Record):
    id: str
    user_id: str
    job_id: str | None
    type: NotificationType
    title: str
    message: str
    priority: str
    read: bool
    created_at: datetime
    change_seq: int = 0


@dataclass(frozen=True, slots=True)
class JobDetail(_Record):
    """One job with everything `jobs show` and the monitor need."""

    job: Job
    metrics: tuple[MetricPoint, ...] = field(default_factory=tuple)
    cost_records: tuple[CostRecord, ...] = field(default_factory=tuple)
    notifications: tuple[Notification, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.job.to_json(),
            "metrics": [point.to_json() for point in self.metrics],
            "cost_records": [record.to_json() for record in self.cost_records],
            "notifications": [note.to_json() for note in self.notifications],
        }
