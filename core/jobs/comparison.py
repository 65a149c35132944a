"""What the compare view loads per job: the job, its summary, and the columns its overlay draws.

One call per job, so a view comparing twenty runs draws each as it arrives. Only the columns the
overlay needs are read (step, both losses, the time each point was recorded), plus throughput for
the summary's mean, which is dropped once counted: twenty runs of 100,000 points stay at 64 MB.
The job's sample answers come along, for the answers side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.db import job_store
from core.jobs.metric_columns import RECORDED_AT, MetricColumns, read_metric_columns
from core.jobs.samples import read_samples
from core.jobs.summary import RunSummary, figures_from_columns, find_job_dataset, summarise
from core.records import Job, Sample
from core.workspace import Workspace

DRAWN = ("step", "training_loss", "validation_loss", RECORDED_AT)


@dataclass(frozen=True)
class ComparedRun:
    """A job as the compare view shows it; `columns` holds DRAWN, `recorded_at` in Unix seconds."""

    job: Job
    summary: RunSummary
    columns: MetricColumns
    samples: tuple[Sample, ...] = ()  # its sample answers, to set beside the others'


def load_compared_run(ws: Workspace, *, job_id: str) -> ComparedRun:
    with ws.db.read() as session:
        job = job_store.own_job(session, job_id, user_id=ws.user)
        dataset = find_job_dataset(session, job)
        read = read_metric_columns(session, job_id, names=(*DRAWN, "throughput"))
        samples = tuple(read_samples(session, job_id))
    summary = summarise(job, dataset, figures_from_columns(read.columns))
    return ComparedRun(job, summary, MetricColumns({name: read[name] for name in DRAWN}), samples)
