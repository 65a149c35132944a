"""The banner after a job is queued: whether it starts now or waits for a free slot (and behind
how many), and gone once the job has started, so it covers nothing for longer than it is true."""

from __future__ import annotations

from PySide6.QtCore import QObject

from core.records import ACTIVE_STATUSES, Job, JobStatus
from desktop import formatting as fmt
from desktop.app_state import AppState
from desktop.banner import Banner


def queued_words(job: Job, jobs: list[Job], *, slots: int | None) -> str:
    """ "Queued “x”; the scheduler submits it now." or "…: waiting for a free slot (1 ahead)."
    `slots`: the jobs that run at once (the local backend's); None for a cluster, which queues
    its own."""
    if slots is None:
        return f"Queued “{job.name}”; the scheduler submits it now."
    created = fmt.utc(job.created_at)
    ahead = sum(
        1
        for other in jobs
        if other.id != job.id and other.status is JobStatus.QUEUED and fmt.utc(other.created_at) <= created
    )
    busy = sum(1 for other in jobs if other.status in ACTIVE_STATUSES)
    ahead += max(0, busy - slots + 1)
    if ahead == 0:
        return f"Queued “{job.name}”; the scheduler starts it now."
    return f"Queued “{job.name}”: waiting for a free slot ({ahead} ahead)."


class QueuedNotice(QObject):
    """Says a new job is queued on the banner until the job leaves the queue."""

    def __init__(self, state: AppState, banner: Banner) -> None:
        super().__init__(banner)
        self.state, self.banner = state, banner
        self.job_id: str | None = None
        self.text = ""
        state.jobs_changed.connect(self._changed)

    def show_created(self, job: Job) -> None:
        """A job just queued here, on the workspace's backend (the local one runs so many at once)."""
        settings = self.state.session.settings if self.state.session is not None else None
        local = settings is not None and settings.cluster == "local"
        self.show(job, slots=settings.local_max_jobs if settings is not None and local else None)

    def show(self, job: Job, *, slots: int | None) -> None:
        self.job_id = job.id
        self.text = queued_words(job, list(self.state.jobs.values()), slots=slots)
        self.banner.show_message(self.text, sticky=True)

    def _changed(self, jobs: list[Job]) -> None:
        if self.job_id is None:
            return
        for job in jobs:
            if job.id == self.job_id and job.status is not JobStatus.QUEUED:
                if self.banner.isVisible() and self.banner.text() == self.text:
                    self.banner.hide()  # it started (or ended): the notice is no longer true
                self.job_id = None
