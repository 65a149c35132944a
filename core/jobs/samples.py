"""A job's sample answers, read for the CLI and the desktop (the scheduler writes them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import job_store
from core.db.convert import to_record
from core.db.models import SampleRow
from core.records import Job, Sample
from core.workspace import Workspace


@dataclass(frozen=True, slots=True)
class JobSamples:
    """A job and its samples in (step, prompt index) order."""

    job: Job
    samples: tuple[Sample, ...]

    @property
    def steps(self) -> list[int]:
        """The steps that have samples, ascending: one per evaluation."""
        return sorted({sample.step for sample in self.samples})

    def at(self, step: int) -> list[Sample]:
        return [sample for sample in self.samples if sample.step == step]


def job_samples(ws: Workspace, *, job_id: str) -> JobSamples:
    """One of the user's jobs with every sample it has."""
    with ws.db.read() as session:
        job = job_store.own_job(session, job_id, user_id=ws.user)
        return JobSamples(job, tuple(read_samples(session, job.id, after_step=None)))


def samples_after(ws: Workspace, *, job_id: str, after_step: int | None) -> list[Sample]:
    """The samples of the user's job with step > after_step (all when None); none for a job that
    is not the user's."""
    with ws.db.read() as session:
        if not job_store.is_users_job(session, job_id, user_id=ws.user):
            return []
        return read_samples(session, job_id, after_step=after_step)


def samples_of_jobs(ws: Workspace, *, job_ids: Sequence[str]) -> dict[str, list[Sample]]:
    """Samples of several of the user's jobs (the compare view), by job id."""
    found: dict[str, list[Sample]] = {job_id: [] for job_id in job_ids}
    with ws.db.read() as session:
        for job_id in job_ids:
            if job_store.is_users_job(session, job_id, user_id=ws.user):
                found[job_id] = read_samples(session, job_id, after_step=None)
    return found


def read_samples(session: Session, job_id: str, *, after_step: int | None = None) -> list[Sample]:
    """A job's samples with step > after_step, in (step, prompt index) order; no user check."""
    query = select(SampleRow).where(SampleRow.job_id == job_id)
    if after_step is not None:
        query = query.where(SampleRow.step > after_step)
    rows = session.scalars(query.order_by(SampleRow.step, SampleRow.prompt_index))
    return [to_record(Sample, row) for row in rows]
