"""Loads the compared jobs off the UI thread for the compare view: a few at a time, and a running
one again (at most every RELOAD_S) when it moves on.

Two loads in flight, not the runner's four: each holds the GIL while it turns rows into columns,
and on a two-core machine four of them kept the UI thread waiting for half a second.
"""

from __future__ import annotations

import functools
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from core.jobs.comparison import ComparedRun
from core.records import Job
from desktop.app_state import AppState
from desktop.compare_view import CompareView
from desktop.session import Session

IN_FLIGHT = 2
RELOAD_S = 5.0


class CompareLoader(QObject):
    """Signals:
    failed(object): a load failed (the error, for the window to say).
    """

    failed = Signal(object)

    def __init__(
        self, view: CompareView, state: AppState | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.view = view
        if state is not None:
            state.jobs_changed.connect(self._jobs_changed)
        self.session: Session | None = None
        self._queue: list[str] = []
        self._in_flight: set[str] = set()
        self._due: set[str] = set()  # waiting out RELOAD_S before loading again

    def load(self, session: Session, job_ids: list[str]) -> None:
        """Load these jobs (the view shows them already, waiting for their points)."""
        self.session = session
        # A job already on its way is not asked for twice: its answer is as fresh as a new one.
        self._queue = [job_id for job_id in job_ids if job_id not in self._in_flight]
        self._due.clear()
        self._pump()

    def stop(self) -> None:
        """Nothing more to load (the compare view closed, or the window let go of its workspace)."""
        self.session = None
        self._queue = []
        self._due.clear()

    def _jobs_changed(self, jobs: list[Job]) -> None:
        for job in jobs:
            if job.id in self.view.job_ids:
                self.job_changed(job)

    def job_changed(self, job: Job) -> None:
        """A newer snapshot of a compared job: the table shows it, and its curves load again
        when it has moved on since they were loaded."""
        self.view.update_job(job)
        shown = self.view.run(job.id)
        busy = job.id in self._in_flight or job.id in self._queue or job.id in self._due
        if shown is None or busy or shown.job.current_step == job.current_step:
            return
        self._due.add(job.id)
        QTimer.singleShot(round(RELOAD_S * 1000), self, lambda job_id=job.id: self._due_now(job_id))

    def _due_now(self, job_id: str) -> None:
        if job_id in self._due and job_id in self.view.job_ids:
            self._due.discard(job_id)
            self._queue.append(job_id)
            self._pump()

    def _pump(self) -> None:
        while self.session is not None and self._queue and len(self._in_flight) < IN_FLIGHT:
            job_id = self._queue.pop(0)
            if job_id in self._in_flight or job_id not in self.view.job_ids:
                continue  # already on its way, or no longer compared
            self._in_flight.add(job_id)
            self.session.load_compared_run(
                job_id=job_id,
                on_done=functools.partial(self._loaded, job_id),
                on_error=functools.partial(self._failed, job_id),
            )

    def _loaded(self, job_id: str, run: ComparedRun) -> None:
        self._in_flight.discard(job_id)
        if self.session is not None:
            self.view.set_run(run)  # ignored for a job no longer compared
            self._pump()

    def _failed(self, job_id: str, error: Any) -> None:
        self._in_flight.discard(job_id)
        if self.session is not None:
            self.failed.emit(error)
            self._pump()
