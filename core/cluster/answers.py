"""The careful reading of a cluster's answers (SPEC §4): every field checked, numbers sent as
strings or floats coerced, and a breach named in words fit for a user.

The common status answer takes the fast path of `core.cluster.status_answer` instead; this one
reads everything else (and says what is wrong with an answer the fast path refused).
"""

from __future__ import annotations

import math
from typing import Any

from core.cluster.base import LogChunk, ReportedPoint, StatusReport, SubmitResult
from core.cluster.bounds import CLUSTER_STATUSES, Bounded, first_points
from core.cluster.timestamps import timestamp
from core.formats.sample_answers import sample_answers
from core.records import METRIC_FIELDS


class _Malformed(ValueError):
    """A 2xx answer that breaks the contract; the message names the field."""


def submit_result(data: Any) -> SubmitResult:
    data = _object(data)
    external_id = data.get("external_job_id")
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)  # some clusters number their jobs
    if not isinstance(external_id, str) or not external_id:
        raise _Malformed("external_job_id is missing or not a string")
    return SubmitResult(external_job_id=external_id, status=_status_text(data))


def status_report(data: Any) -> StatusReport:
    data = _object(data)
    history = data.get("metrics_history")
    if isinstance(history, list) and not isinstance(history, Bounded):
        history = first_points(history)  # the whole answer was decoded: bound it here
    return StatusReport(
        status=_status_text(data),
        progress=_float(data.get("progress"), "progress"),
        current_epoch=_count(data.get("current_epoch"), "current_epoch"),
        total_epochs=_count(data.get("total_epochs"), "total_epochs"),
        current_step=_count(data.get("current_step"), "current_step"),
        total_steps=_count(data.get("total_steps"), "total_steps"),
        metrics=_metrics(data.get("metrics"), "metrics"),
        metrics_history=None if history is None else _history(history),
        more_points=bool(getattr(history, "dropped", 0)),
        error_message=_optional_text(data.get("error_message"), "error_message"),
        artifact_url=_optional_text(data.get("artifact_url"), "artifact_url"),
        started_at=timestamp(data.get("started_at")),
        completed_at=timestamp(data.get("completed_at")),
        samples=sample_answers(data.get("samples")),
    )


def cancel_answer(data: Any) -> None:
    _status_text(_object(data))


def log_chunk(data: Any) -> LogChunk:
    data = _object(data)
    text, next_offset = data.get("text"), _int(data.get("next_offset"), "next_offset")
    if not isinstance(text, str):
        raise _Malformed("text is missing or not a string")
    if next_offset is None or next_offset < 0:
        raise _Malformed("next_offset is missing or negative")
    return LogChunk(text=text, next_offset=next_offset)


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _Malformed(f"expected a JSON object, got {type(data).__name__}")
    return data


def _status_text(data: dict[str, Any]) -> str:
    status = data.get("status")
    if not isinstance(status, str) or not status:
        raise _Malformed("status is missing or not a string")
    if status.lower() not in CLUSTER_STATUSES:
        shown = status if len(status) <= 40 else status[:39] + "…"
        raise _Malformed(f"status {shown!r} is not one of the contract's")
    return status


def _optional_text(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _Malformed(f"{name} is not a string")


def _float(value: Any, name: str) -> float | None:
    """A number, or a numeric string; NaN and infinities pass through (the scheduler nulls them)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Malformed(f"{name} is not a number")
    try:
        return float(value)
    except ValueError:
        raise _Malformed(f"{name} is not a number") from None


def _int(value: Any, name: str) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _float(value, name)
    if number is None:
        return None
    if not math.isfinite(number):
        raise _Malformed(f"{name} is not a whole number")
    return int(number)  # a fractional epoch counts as the one under way


def _count(value: Any, name: str) -> int | None:
    """A step, an epoch or a total: a whole number, never negative."""
    number = _int(value, name)
    if number is not None and number < 0:
        raise _Malformed(f"{name} is negative")
    return number


def _metrics(value: Any, name: str) -> dict[str, Any]:
    """The metrics SPEC §4 names, as floats; keys it does not name are dropped."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Malformed(f"{name} is not an object")
    return {key: _float(value[key], f"{name}.{key}") for key in METRIC_FIELDS if key in value}


def _history(value: Any) -> list[ReportedPoint]:
    if not isinstance(value, list):
        raise _Malformed("metrics_history is not a list")
    points = []
    for index, item in enumerate(value):
        where = f"metrics_history[{index}]"
        if not isinstance(item, dict):
            raise _Malformed(f"{where} is not an object")
        step = _count(item.get("step"), f"{where}.step")
        if step is None:
            raise _Malformed(f"{where}.step is missing")
        epoch = None if item.get("epoch") is None else _count(item["epoch"], f"{where}.epoch")
        points.append(ReportedPoint(step=step, epoch=epoch, **_metrics(item, where)))
    return points
