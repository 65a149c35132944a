"""A status answer of SPEC §4 decoded straight into typed records, for the common answer.

msgspec decodes the JSON body into `Struct`s in one pass in C, checking the types as it goes,
where the standard library's decoder built dicts that a second pass in Python then checked and
copied (about 40 % of the scheduler's CPU per answer went there). It is used only when it can
decide alone: an answer that is a plain, well-typed object holding only the contract's fields.
Anything else (a field the contract does not name, a number sent as a string, NaN, a negative
step, a status outside the contract) returns None, and the careful path of `core.cluster.http`
reads the answer as before, with its bounds and its messages. The contract's own fields nest
three deep at most, so an answer decoded here cannot hide the deep nesting SPEC §4 refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import msgspec

from core.cluster.answer_errors import error_for_answer
from core.cluster.answers import status_report
from core.cluster.base import ClusterError, ClusterMalformedError, ReportedPoint, StatusReport
from core.cluster.bounds import (
    CLUSTER_STATUSES,
    MAX_DEPTH,
    MAX_POINTS,
    WHOLE_BODY,
    Bounded,
    MalformedAnswer,
    decode,
)
from core.cluster.timestamps import timestamp
from core.formats.sample_answers import MAX_SAMPLES_PER_ANSWER, sample_answers
from core.records import METRIC_FIELDS

# Jobs asked about in one request of the batch endpoint (SPEC §4: at most 500).
BATCH_LIMIT = 500
# The lists of a status answer, and how many items of each one answer may bring.
STATUS_LISTS = {"metrics_history": MAX_POINTS, "samples": MAX_SAMPLES_PER_ANSWER}

_Count = Annotated[int, msgspec.Meta(ge=0)]
_Scalar = str | int | float | None


class _Metrics(msgspec.Struct, forbid_unknown_fields=True):
    training_loss: float | None = None
    validation_loss: float | None = None
    learning_rate: float | None = None
    throughput: float | None = None
    gpu_utilization: float | None = None
    gpu_memory_used: float | None = None
    grad_norm: float | None = None


class _Answer(msgspec.Struct, forbid_unknown_fields=True):
    status: str
    progress: float | None = None
    current_epoch: _Count | None = None
    total_epochs: _Count | None = None
    current_step: _Count | None = None
    total_steps: _Count | None = None
    metrics: _Metrics | None = None
    metrics_history: list[ReportedPoint] | None = None
    error_message: str | None = None
    artifact_url: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    samples: list[dict[str, _Scalar]] | None = None


class _Batch(msgspec.Struct, forbid_unknown_fields=True):
    statuses: dict[str, msgspec.Raw]  # each answer kept as its bytes, read on its own


class _Refused(msgspec.Struct, forbid_unknown_fields=True):
    error: int  # the HTTP status the job's own request would have had (404: not found)


_DECODER = msgspec.json.Decoder(_Answer)
_BATCH = msgspec.json.Decoder(_Batch)
_REFUSED = msgspec.json.Decoder(_Refused)


def status_from_body(body: bytes, cancelled: Callable[[], bool]) -> StatusReport:
    """A status answer: by the fast path when it can, else read carefully within the bounds."""
    report = fast_status_report(body)
    if report is not None:
        return report
    return status_report(decode(body, lists=STATUS_LISTS, cancelled=cancelled))


def batch_from_body(body: bytes, cancelled: Callable[[], bool]) -> dict[str, StatusReport | ClusterError]:
    """The batch endpoint's answer: each job's status answer, or the error it stands for. One
    job's malformed answer is that job's alone."""
    try:
        batch = _BATCH.decode(body)
    except RecursionError:
        raise MalformedAnswer(f"JSON nested deeper than {MAX_DEPTH}") from None
    except msgspec.DecodeError:
        raise MalformedAnswer('the batch answer is not {"statuses": {…}}') from None
    return {external_id: _entry(bytes(raw), cancelled) for external_id, raw in batch.statuses.items()}


def _entry(body: bytes, cancelled: Callable[[], bool]) -> StatusReport | ClusterError:
    report = fast_status_report(body)
    if report is not None:
        return report
    try:
        code = _REFUSED.decode(body).error
    except msgspec.DecodeError:
        pass
    else:
        return error_for_answer(code, "status", "", cluster="the cluster", token="API token")
    try:
        return status_report(decode(body, lists=STATUS_LISTS, cancelled=cancelled))
    except ValueError as exc:
        return ClusterMalformedError(f"malformed answer from the cluster: {exc}")


def fast_status_report(body: bytes) -> StatusReport | None:
    """The answer as a StatusReport, or None when the careful path must read it."""
    if len(body) > WHOLE_BODY:
        return None
    try:
        answer = _DECODER.decode(body)
    except (msgspec.DecodeError, RecursionError):  # ValidationError included
        return None
    if answer.status.lower() not in CLUSTER_STATUSES:
        return None
    history = answer.metrics_history
    more = False
    if history is not None and len(history) > MAX_POINTS:
        kept = Bounded(sorted(history, key=_step)[:MAX_POINTS])
        kept.dropped = len(history) - MAX_POINTS
        history, more = kept, True
    metrics = answer.metrics
    return StatusReport(
        status=answer.status,
        progress=answer.progress,
        current_epoch=answer.current_epoch,
        total_epochs=answer.total_epochs,
        current_step=answer.current_step,
        total_steps=answer.total_steps,
        metrics={} if metrics is None else _named(metrics),
        metrics_history=history,
        more_points=more,
        error_message=answer.error_message,
        artifact_url=answer.artifact_url,
        started_at=timestamp(answer.started_at),
        completed_at=timestamp(answer.completed_at),
        samples=() if answer.samples is None else sample_answers(answer.samples),
    )


def _named(metrics: _Metrics) -> dict[str, float]:
    """The metrics sent; one sent as null reads as one not sent (the scheduler records neither)."""
    return {key: value for key in METRIC_FIELDS if (value := getattr(metrics, key)) is not None}


def _step(point: ReportedPoint) -> int:
    return point.step
