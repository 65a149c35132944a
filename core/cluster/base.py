"""What every cluster backend (`http`, `local`, later `ray`) offers the scheduler.

Backends translate their own failures into the exceptions below, so the scheduler applies the
rules of SPEC §4 once, whatever the backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Protocol

import msgspec

from core.errors import LoradeskError
from core.formats.sample_answers import SampleAnswer


class ClusterError(LoradeskError):
    """Base of every cluster failure; the message is fit for a user."""


class ClusterTransientError(ClusterError):
    """408, 429, 5xx, timeouts, refused connections, malformed answers: try again later."""


class ClusterMalformedError(ClusterTransientError):
    """A 2xx answer that breaks the contract (SPEC §4 bounds): retried with back-off, recorded on
    the job, and the job fails after the submit-attempt limit."""


class ClusterBusyError(ClusterTransientError):
    """The cluster has no free slot now: the job stays queued without using up an attempt."""


class ClusterAuthError(ClusterError):
    """401/403: the credentials are wrong or revoked. Nothing about the job changes."""


class ClusterRejectedError(ClusterError):
    """Any other 4xx on submit: the cluster refuses this job; the message is the cluster's."""


class ClusterJobNotFoundError(ClusterError):
    """404 on status or cancel: the cluster does not know this job (any more)."""


class ClusterConflictError(ClusterError):
    """409 on cancel: the job is already terminal on the cluster."""


class ClusterCancelPendingError(ClusterError):
    """The cancel was taken and the job is stopping, not stopped yet (the local trainer saves its
    adapter first): the request stays recorded and the next cycle asks again."""


class ClusterLogsUnavailableError(ClusterError):
    """The cluster keeps no logs of its jobs (404 on the optional logs endpoint of SPEC §4)."""


NO_LOGS_MESSAGE = "this cluster keeps no logs"


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    job_id: str  # the idempotency key
    dataset_url: str
    hyperparameters: dict[str, Any]
    gpu_type: str
    gpu_count: int
    # A continued job (core.jobs.resume): the job whose checkpoint at this step it starts from.
    # Both backends that keep checkpoints (`local`, `ray`) use the job id as the cluster's id.
    resume_from_job: str | None = None
    resume_from_step: int | None = None


@dataclass(frozen=True, slots=True)
class SubmitResult:
    external_job_id: str
    status: str


class ReportedPoint(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """One point of a status answer's `metrics_history` as the `http` backend decodes it: typed
    at decoding (core.cluster.status_answer), so nothing copies it into a dict or checks it again.
    `local` and `ray` hand their points as dicts of the same keys; `point_step` reads either."""

    step: Annotated[int, msgspec.Meta(ge=0)]
    epoch: Annotated[int, msgspec.Meta(ge=0)] | None = None
    training_loss: float | None = None
    validation_loss: float | None = None
    learning_rate: float | None = None
    throughput: float | None = None
    gpu_utilization: float | None = None
    gpu_memory_used: float | None = None
    grad_norm: float | None = None


def point_step(point: ReportedPoint | dict[str, Any]) -> int:
    """The step of a `metrics_history` item, typed or a dict (0 for a dict without one)."""
    return point.step if isinstance(point, ReportedPoint) else point.get("step", 0)


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One answer of `GET /training/status/{id}`, validated."""

    status: str
    progress: float | None = None
    current_epoch: int | None = None
    total_epochs: int | None = None
    current_step: int | None = None
    total_steps: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    # None when the cluster left `metrics_history` out; each item carries at least `step`:
    # typed records from `http`, dicts of the same keys from `local` and `ray`.
    metrics_history: list[ReportedPoint] | list[dict[str, Any]] | None = None
    error_message: str | None = None
    artifact_url: str | None = None
    # The answer held more points than one answer may bring (SPEC §4): the first were taken, and
    # the scheduler polls for the rest before it records the end of the run.
    more_points: bool = False
    # When the cluster itself started and ended the run (SPEC §4, optional): they beat the
    # scheduler's own observation times for `started_at`, `completed_at` and cost.
    started_at: datetime | None = None
    completed_at: datetime | None = None
    # The checkpoint steps the backend continued the run from after its trainer died (`local`),
    # oldest first: each is told to the person once, as a warning.
    resumed_from: tuple[int, ...] = ()
    # Answers to the run's sample prompts (SPEC §4 `samples`); a backend may send some already
    # stored (they are stored once), never an unbounded number (core.formats.sample_answers).
    samples: tuple[SampleAnswer, ...] = ()


@dataclass(frozen=True, slots=True)
class LogChunk:
    """The part of a job's log from an offset on, and the offset to ask for next.

    Offsets are the backend's own: bytes for `http` (SPEC §4), a position in the job folder's
    two files for `local`. Callers start at 0 and pass `next_offset` back unchanged."""

    text: str
    next_offset: int


class ClusterBackend(Protocol):
    """The three calls of SPEC §4, and the job's log. All are coroutines; none touches the
    database."""

    name: str

    async def submit(self, request: SubmitRequest) -> SubmitResult: ...

    async def status(self, external_job_id: str, since_step: int | None) -> StatusReport: ...

    async def cancel(self, external_job_id: str) -> str | None:
        """Stop the job; returns the URL of the adapter the stopped run saved (partial), if any."""
        ...

    async def read_log(self, external_job_id: str, offset: int) -> LogChunk:
        """The job's log from `offset` (0: the start); ClusterLogsUnavailableError when the
        cluster keeps none."""
        ...

    async def aclose(self) -> None: ...


class StatusBatches(Protocol):
    """A backend that answers many jobs' statuses in one go (`http`: the batch endpoint of SPEC §4;
    `ray`: one read of Ray's job list); the scheduler asks it a round's jobs together instead of
    `status` job by job (core.scheduler.worker), unless its `batches` says False."""

    async def statuses(self, asked: Sequence[tuple[str, int | None]]) -> list[StatusReport | ClusterError]:
        """For each (external_job_id, since_step) asked, in order, its status answer or the
        error that job alone met; raises a ClusterError when the whole batch failed."""
        ...


class CheckpointKeeper(Protocol):
    """A backend that keeps its runs' checkpoints, so a failed or cancelled job can be continued
    (`local`, `ray`; a cluster of SPEC §4 names none)."""

    async def latest_checkpoint(self, external_job_id: str) -> int | None:
        """The step of the run's last complete checkpoint, None when it saved none."""
        ...
