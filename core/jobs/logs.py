"""A job's log, as its cluster keeps it: read a piece at a time from an offset.

The backend reads it (`ClusterBackend.read_log`): the trainer's files in the job's folder for
`local`, the optional logs endpoint of SPEC §4 for `http`. A job that never reached the cluster
has no log yet; a cluster that keeps none says so (ClusterLogsUnavailableError).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from core.cluster.base import ClusterJobNotFoundError
from core.jobs.service import find_job
from core.workspace import Workspace

NOT_STARTED = "The job has not reached the cluster yet; its log starts when it does."
NEVER_RAN = "The job never reached the cluster, so it has no log."
GONE = "The cluster no longer has this job's log."


@dataclass(frozen=True, slots=True)
class JobLog:
    """The log from the offset asked for. `note` says why there is no text where there is none to
    come (not started, never ran, gone); `ended` is True once the job is over, so a reader that
    got no new text knows the log is complete."""

    text: str
    next_offset: int
    ended: bool
    note: str | None = None


async def read_job_log(ws: Workspace, *, job_id: str, offset: int = 0) -> JobLog:
    """The user's job's log from `offset`; ClusterLogsUnavailableError when the cluster keeps none."""
    job = await asyncio.to_thread(find_job, ws, job_id=job_id)
    ended = job.status.is_terminal
    if job.external_job_id is None:
        return JobLog("", offset, ended, NEVER_RAN if ended else NOT_STARTED)
    try:
        chunk = await ws.backend().read_log(job.external_job_id, offset)
    except ClusterJobNotFoundError:
        return JobLog("", offset, True, GONE)
    return JobLog(chunk.text, chunk.next_offset, ended)
