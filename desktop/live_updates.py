"""Polling that complements the events: what other processes write to the same database.

Events bring what this app's scheduler and services do, at once. Another app instance or a
headless scheduler on the same database publishes nothing here, so once a second we ask for
the selected job's new points (`metrics_since`) and for jobs and notifications changed since the
last look (the watermark queries). Each poll waits for its previous answer before asking again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from core.records import Job, Notification
from desktop.session import Session

POLL_MS = 1000


class LiveUpdates(QObject):
    """Asks the core for changes once a second and reports them as signals.

    Signals:
        jobs_changed(list[Job]): jobs updated since the last look (may repeat known records).
        metrics_polled(str, list[MetricPoint]): new points of the watched job.
        notifications_found(list[Notification]): notifications created since the last look.
    """

    jobs_changed = Signal(list)
    metrics_polled = Signal(str, list)
    notifications_found = Signal(list)

    def __init__(
        self, session: Session, parent: QObject | None = None, *, interval_ms: int = POLL_MS
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.jobs_since: datetime | None = None
        self.notifications_since: datetime | None = None
        self._watched: tuple[str, Callable[[], int | None]] | None = None
        self._busy: set[str] = set()
        self._timer = QTimer(self, interval=interval_ms, timeout=self.poll)

    def start(self, *, jobs: list[Job], notifications: list[Notification]) -> None:
        """Begin after the first load, with watermarks taken from what it returned."""
        self.jobs_since = max((job.updated_at for job in jobs), default=None)
        self.notifications_since = max((note.created_at for note in notifications), default=None)
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def watch(self, job_id: str | None, last_step: Callable[[], int | None] = lambda: None) -> None:
        """Poll this job's points after `last_step()` (None: no job is watched)."""
        self._watched = None if job_id is None else (job_id, last_step)

    def poll(self) -> None:
        self._poll_metrics()
        self._once("jobs", self.session.jobs_changed_since, self._got_jobs, since=self.jobs_since)
        self._once(
            "notifications", self.session.notifications_since, self._got_notes, since=self.notifications_since
        )

    def _poll_metrics(self) -> None:
        if self._watched is None:
            return
        job_id, last_step = self._watched
        self._once(
            "metrics",
            self.session.metrics_since,
            lambda points: self._got_points(job_id, points),
            job_id=job_id,
            after_step=last_step(),
        )

    def _once(self, what: str, call: Any, then: Any, **kwargs: Any) -> None:
        if what in self._busy:
            return
        self._busy.add(what)

        def done(result: Any) -> None:
            self._busy.discard(what)
            then(result)

        def failed(_error: BaseException) -> None:
            self._busy.discard(what)  # a database hiccup: the next tick tries again

        call(on_done=done, on_error=failed, **kwargs)

    def _got_points(self, job_id: str, points: list[Any]) -> None:
        if points and self._watched is not None and self._watched[0] == job_id:
            self.metrics_polled.emit(job_id, points)

    def _got_jobs(self, result: tuple[list[Job], datetime | None]) -> None:
        changed, self.jobs_since = result[0], result[1] or self.jobs_since
        if changed:
            self.jobs_changed.emit(changed)

    def _got_notes(self, result: tuple[list[Notification], datetime | None]) -> None:
        found, self.notifications_since = result[0], result[1] or self.notifications_since
        if found:
            self.notifications_found.emit(found)
