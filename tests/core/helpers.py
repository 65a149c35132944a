"""Small helpers for scheduler tests: queue jobs, run cycles, read rows back."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select, update

from core.datasets.catalog import add_dataset
from core.db.models import CostRecordRow, JobRow, MetricPointRow, NotificationRow
from core.jobs.metric_columns import read_metric_columns
from core.jobs.service import create_job, get_job
from core.records import Job, JobDetail
from core.scheduler import Scheduler
from core.workspace import Workspace


def queue_jobs(ws: Workspace, dataset_file: Path, count: int = 1, **options: object) -> list[Job]:
    dataset = add_dataset(ws, file=dataset_file, name="pairs")
    return [create_job(ws, dataset_id=dataset.id, name=f"job {i}", **options) for i in range(count)]  # type: ignore[arg-type]


async def run_cycles(
    scheduler: Scheduler, ws: Workspace, job_id: str, *, until: str | tuple[str, ...], limit: int = 30
) -> JobDetail:
    """Run cycles until the job's status is one of `until` (at most `limit` cycles)."""
    wanted = (until,) if isinstance(until, str) else until
    for _ in range(limit):
        await scheduler.run_once()
        detail = get_job(ws, job_id=job_id)
        if detail.job.status.value in wanted:
            return detail
    raise AssertionError(f"job {job_id} never reached {wanted}; it is {detail.job.status.value}")


def count(ws: Workspace, model: type, **where: object) -> int:
    query = select(func.count()).select_from(model)
    for column, value in where.items():
        query = query.where(getattr(model, column) == value)
    with ws.db.read() as session:
        return session.scalar(query) or 0


def stored_points(ws: Workspace, job_id: str) -> int:
    """How many points of the job are stored, in rows or in chunks (core.db.metric_chunks)."""
    with ws.db.read() as session:
        return len(read_metric_columns(session, job_id, names=("step",)))


def notification_types(ws: Workspace, job_id: str | None = None) -> list[str]:
    query = select(NotificationRow.type).order_by(NotificationRow.created_at)
    if job_id is not None:
        query = query.where(NotificationRow.job_id == job_id)
    with ws.db.read() as session:
        return list(session.scalars(query))


def set_job_columns(ws: Workspace, job_id: str, **values: object) -> None:
    with ws.db.write() as session:
        session.execute(update(JobRow).where(JobRow.id == job_id).values(**values))


__all__ = [
    "CostRecordRow",
    "MetricPointRow",
    "NotificationRow",
    "count",
    "notification_types",
    "queue_jobs",
    "run_cycles",
    "set_job_columns",
]
