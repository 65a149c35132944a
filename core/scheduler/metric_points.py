"""Metric points: turning a cluster's status answer into points, and writing them in bulk."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.cluster.base import StatusReport
from core.db.changes import change_stamp
from core.db.models import MetricPointRow
from core.records import METRIC_FIELDS, MetricPoint

LOSS_FIELDS = ("training_loss", "validation_loss")


def metric_points(
    job_id: str, report: StatusReport, *, after_step: int | None, now: datetime
) -> tuple[list[MetricPoint], int | None]:
    """The answer's new points (history, or the current metrics at current_step), and the first
    step whose loss was NaN or infinite (None if none)."""
    if report.metrics_history is not None:
        raw = list(report.metrics_history)
    elif report.metrics and report.current_step is not None:
        raw = [{**report.metrics, "step": report.current_step, "epoch": report.current_epoch}]
    else:
        raw = []
    points: dict[int, MetricPoint] = {}
    non_finite: int | None = None
    for item in raw:
        step = to_int(item.get("step"), None)
        if step is None or (after_step is not None and step <= after_step):
            continue
        if non_finite is None and any(_is_non_finite(item.get(k)) for k in LOSS_FIELDS):
            non_finite = step
        points[step] = MetricPoint(
            job_id=job_id,
            step=step,
            epoch=to_int(item.get("epoch"), None),
            recorded_at=now,
            **{k: finite(item.get(k)) for k in METRIC_FIELDS},
        )
    return [points[s] for s in sorted(points)], non_finite


_COLUMNS = ("job_id", "step", "epoch", *METRIC_FIELDS, "recorded_at")
_PG_TYPES = ("text", "integer", "integer", *("float8" for _ in METRIC_FIELDS), "timestamptz")


def store_metric_points(session: Session, points: list[MetricPoint]) -> None:
    """Insert points; a (job, step) already stored is left as it is.

    This is the hot path of a busy cycle (and of a 100,000-point backfill). On PostgreSQL the
    points go as one array per column in a single statement (`unnest`), which costs a fraction of
    a row-by-row executemany and keeps `ON CONFLICT`, which `COPY` cannot; on SQLite, whose
    statements run in-process, plain tuples go to the driver's executemany.
    """
    if not points:
        return
    change_stamp(session)  # new points are a change a viewer waits for (core.db.changes)
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        arrays = [
            [p.job_id for p in points],
            [p.step for p in points],
            [p.epoch for p in points],
            *([getattr(p, k) for p in points] for k in METRIC_FIELDS),
            [p.recorded_at for p in points],
        ]
        unnest = ", ".join(f"%s::{kind}[]" for kind in _PG_TYPES)
        sql = (
            f"INSERT INTO metrics_points ({', '.join(_COLUMNS)}) SELECT * FROM unnest({unnest}) "
            "ON CONFLICT (job_id, step) DO NOTHING"
        )
        conn.exec_driver_sql(sql, tuple(arrays))
        return
    timestamp = MetricPointRow.__table__.c.recorded_at.type.bind_processor(conn.dialect) or (lambda v: v)
    stamps = {p.recorded_at: timestamp(p.recorded_at) for p in points}
    rows = [
        (p.job_id, p.step, p.epoch, *(getattr(p, k) for k in METRIC_FIELDS), stamps[p.recorded_at])
        for p in points
    ]
    marks = ", ".join("?" for _ in _COLUMNS)
    sql = (
        f"INSERT INTO metrics_points ({', '.join(_COLUMNS)}) VALUES ({marks}) "
        "ON CONFLICT (job_id, step) DO NOTHING"
    )
    conn.exec_driver_sql(sql, rows)


def finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _is_non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def to_int(value: Any, default: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
