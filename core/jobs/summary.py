"""A run's summary: what a person asks of a finished (or running) job in one look.

Best validation loss and its step, final training loss, mean throughput, tokens processed, wall
time, cost, base model, dataset and its pair count. The figures over the points come either from
SQL aggregates (`figures_from_database`: three small statements, no row per point leaves the
database) or from columns already in memory (`figures_from_columns`, the monitor's series); both
give the same `PointFigures`, and `summarise` turns them into a `RunSummary` in one place.

Tokens processed are estimated as mean throughput (tokens/s, over the points that report it) ×
wall time (start to end, or to now while the job runs). The trainer reports a rate, not a count,
and a point's own duration is not stored (`recorded_at` is when the scheduler read it, often a
batch at once); so the estimate counts start-up and evaluation time as training and errs high
by that share: a few percent for a run of hours, more for a one-minute demo.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import job_store
from core.db.convert import to_dataset
from core.db.models import DatasetRow, MetricChunkRow, MetricPointRow, utcnow
from core.jobs.metric_columns import read_metric_columns
from core.records import Dataset, Job
from core.workspace import Workspace


@dataclass(frozen=True, slots=True)
class PointFigures:
    """What a summary takes from a job's metric points."""

    points: int = 0
    best_validation_loss: float | None = None
    best_validation_step: int | None = None
    final_training_loss: float | None = None
    final_training_step: int | None = None
    mean_throughput: float | None = None


@dataclass(frozen=True, slots=True)
class RunSummary:
    job_id: str
    best_validation_loss: float | None
    best_validation_step: int | None
    final_training_loss: float | None
    final_training_step: int | None
    mean_throughput: float | None  # tokens/s
    tokens_processed: int | None  # estimated: mean throughput × wall time (see the module)
    wall_time_seconds: float | None  # start to end, or to now while running; None if never started
    cost: float  # final cost once the job ended, else the cost so far
    cost_final: bool
    base_model: str | None  # None: the cluster's default
    dataset_name: str | None
    dataset_pairs: int | None
    metric_points: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def summarise(
    job: Job, dataset: Dataset | None, figures: PointFigures, *, now: datetime | None = None
) -> RunSummary:
    wall = _wall_seconds(job, now or utcnow())
    mean = figures.mean_throughput
    tokens = round(mean * wall) if mean is not None and wall is not None else None
    base_model = (job.hyperparameters or {}).get("base_model")
    return RunSummary(
        job_id=job.id,
        best_validation_loss=figures.best_validation_loss,
        best_validation_step=figures.best_validation_step,
        final_training_loss=figures.final_training_loss,
        final_training_step=figures.final_training_step,
        mean_throughput=mean,
        tokens_processed=tokens,
        wall_time_seconds=wall,
        cost=job.cost,
        cost_final=job.final_cost is not None,
        base_model=str(base_model) if base_model is not None else None,
        dataset_name=dataset.name if dataset is not None else None,
        dataset_pairs=dataset.total_pairs if dataset is not None else None,
        metric_points=figures.points,
    )


def figures_from_columns(columns: Mapping[str, np.ndarray]) -> PointFigures:
    """The figures of points held as columns (`step`, `training_loss`, `validation_loss`,
    `throughput`; NaN where missing). Ties for the best loss go to the earlier step, as in SQL."""
    steps = np.asarray(columns["step"])
    if not len(steps):
        return PointFigures()
    best_loss = best_step = final_loss = final_step = mean = None
    validation = np.asarray(columns["validation_loss"])
    present = np.flatnonzero(np.isfinite(validation))
    if len(present):
        best = present[np.argmin(validation[present])]
        best_loss, best_step = _plain(validation[best]), int(steps[best])
    training = np.asarray(columns["training_loss"])
    present = np.flatnonzero(np.isfinite(training))
    if len(present):
        final_loss, final_step = _plain(training[present[-1]]), int(steps[present[-1]])
    throughput = np.asarray(columns["throughput"])
    reported = throughput[np.isfinite(throughput)]
    if len(reported):
        mean = float(reported.mean(dtype=np.float64))
    return PointFigures(len(steps), best_loss, best_step, final_loss, final_step, mean)


def _plain(value: np.floating[Any]) -> float:
    """A float32 of a chunk as the shortest decimal it is (0.1, not 0.10000000149011612)."""
    return float(str(value)) if value.dtype == np.float32 else float(value)


def figures_from_database(session: Session, job_id: str) -> PointFigures:
    """The figures by SQL aggregates: a count and an average, and two one-row lookups; for a run
    whose points are (partly) in compressed chunks, from its columns."""
    chunked = select(MetricChunkRow.first_step).where(MetricChunkRow.job_id == job_id).limit(1)
    if session.scalar(chunked) is not None:
        names = ("step", "training_loss", "validation_loss", "throughput")
        return figures_from_columns(read_metric_columns(session, job_id, names=names).columns)
    point = MetricPointRow
    of_job = point.job_id == job_id
    count, mean = session.execute(select(func.count(), func.avg(point.throughput)).where(of_job)).one()
    best = session.execute(
        select(point.step, point.validation_loss)
        .where(of_job, point.validation_loss.is_not(None))
        .order_by(point.validation_loss, point.step)
        .limit(1)
    ).first()
    final = session.execute(
        select(point.step, point.training_loss)
        .where(of_job, point.training_loss.is_not(None))
        .order_by(point.step.desc())
        .limit(1)
    ).first()
    return PointFigures(
        points=int(count or 0),
        best_validation_loss=None if best is None else float(best.validation_loss),
        best_validation_step=None if best is None else int(best.step),
        final_training_loss=None if final is None else float(final.training_loss),
        final_training_step=None if final is None else int(final.step),
        mean_throughput=None if mean is None else float(mean),
    )


def find_job_dataset(session: Session, job: Job) -> Dataset | None:
    row = session.scalars(
        select(DatasetRow).where(DatasetRow.id == job.dataset_id, DatasetRow.user_id == job.user_id)
    ).first()
    return None if row is None else to_dataset(row)


def summarise_job(ws: Workspace, *, job_id: str) -> RunSummary:
    """The summary of one of the user's jobs, by SQL aggregates."""
    with ws.db.read() as session:
        job = job_store.own_job(session, job_id, user_id=ws.user)
        return summarise(job, find_job_dataset(session, job), figures_from_database(session, job_id))


def job_dataset(ws: Workspace, *, job: Job) -> Dataset | None:
    """The dataset a job trains on (None when it is gone): the monitor's summary names it."""
    with ws.db.read() as session:
        return find_job_dataset(session, job)


def _wall_seconds(job: Job, now: datetime) -> float | None:
    if job.started_at is None:
        return None
    end = job.completed_at if job.completed_at is not None else now
    seconds = (end - job.started_at).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None
