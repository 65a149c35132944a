"""The one route from what changed to `AppState.apply`: the first load, this process's scheduler
events (`desktop/core_events.py`) and what other processes wrote (`desktop/live_updates.py`).

Points are turned into columns here, whichever way they came (events carry records, the
database sends columns), so the widgets see one shape. Only the selected job's points are
converted: the scheduler publishes every running job's, and the state keeps the selected one's.

The selected job's sample answers come the same way: read when it is selected, by event from this
process's scheduler, and read again after the last held when another process changed the job
(samples are stored in the transaction that updates their job, so its change brings them).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QObject, Signal

from core.jobs.metric_columns import JobMetrics, MetricColumns
from core.records import Job, MetricPoint, Notification, Sample
from desktop.app_state import AppState, Change
from desktop.live_updates import LiveUpdates
from desktop.session import Session


def points_change(job_id: str, points: Sequence[MetricPoint]) -> Change:
    """New points of a job, as records (an event's), as the change the state takes: columns."""
    return Change(points=((job_id, MetricColumns.from_points(points)),))


class Updates(QObject):
    """Feeds one workspace's changes into the state until `stop`.

    Signals:
        loaded(): the first jobs and notifications are in the state.
        failed(object): a load failed (the error, for the window to say).
    """

    loaded = Signal()
    failed = Signal(object)

    def __init__(
        self, state: AppState, session: Session, *, live: bool = True, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.session = session
        self._stopped = False
        self._pending: set[str] = set()
        self._loaded_jobs: list[Job] = []
        self._loaded_notes: list[Notification] = []
        self._samples_reading = False
        self._samples_again = False  # the selected job changed while its samples were read
        events = session.events
        events.jobs_updated.connect(self._jobs_updated)
        events.metrics_appended.connect(self._metrics_appended)
        events.samples_appended.connect(self._samples_appended)
        events.notification_created.connect(self._notification_created)
        events.job_deleted.connect(self._job_deleted)
        state.selection_changed.connect(self._selection_changed)
        self.live = LiveUpdates(session, self) if live else None
        if self.live is not None:
            self.live.jobs_changed.connect(self._jobs_changed_elsewhere)
            self.live.jobs_deleted.connect(self._jobs_deleted_elsewhere)
            self.live.jobs_listed.connect(self._jobs_listed)
            self.live.metrics_polled.connect(self._columns_polled)
            self.live.notifications_found.connect(self._notifications_found)
            state.series_loaded.connect(self._watch)

    def stop(self) -> None:
        """Stop feeding the state (the window lets go of the workspace)."""
        self._stopped = True
        events = self.session.events
        events.jobs_updated.disconnect(self._jobs_updated)
        events.metrics_appended.disconnect(self._metrics_appended)
        events.samples_appended.disconnect(self._samples_appended)
        events.notification_created.disconnect(self._notification_created)
        events.job_deleted.disconnect(self._job_deleted)
        if self.live is not None:
            self.live.stop()
        try:
            self.state.selection_changed.disconnect(self._selection_changed)
            if self.live is not None:
                self.state.series_loaded.disconnect(self._watch)
        except RuntimeError:  # the state went with its window, closed first: nothing to undo
            pass

    # -- the first load, and a refresh -----------------------------------------------------------
    def load(self) -> None:
        """Every job and notification again; `loaded` once both are in."""
        self._pending = {"jobs", "notifications"}
        self.session.list_jobs(on_done=self._all_jobs, on_error=self._failed)
        self.session.list_notifications(on_done=self._all_notifications, on_error=self._failed)

    def refresh(self) -> None:
        """F5: the scheduler's next cycle now, and every job and notification again."""
        if self.session.scheduler is not None:
            self.session.scheduler.wake()
        self.load()

    def _all_jobs(self, jobs: list[Job]) -> None:
        if not self._stopped:
            self.state.apply(Change(jobs=jobs, all_jobs=True))
            self._loaded_jobs = jobs
            self._load_done("jobs")

    def _all_notifications(self, notes: list[Notification]) -> None:
        if not self._stopped:
            self.state.apply(Change(notifications=notes, all_notifications=True))
            self._loaded_notes = notes
            self._load_done("notifications")

    def _load_done(self, what: str) -> None:
        self._pending.discard(what)
        if self._pending:
            return
        if self.live is not None and not self.live.active:
            self.live.start(jobs=self._loaded_jobs, notifications=self._loaded_notes)
        self._loaded_jobs, self._loaded_notes = [], []
        self.loaded.emit()

    def _failed(self, error: BaseException) -> None:
        if not self._stopped:
            self.failed.emit(error)

    # -- this process's events -------------------------------------------------------------------
    def _jobs_updated(self, jobs: list[Job]) -> None:
        self.state.apply(Change(jobs=jobs))

    def _metrics_appended(self, job_id: str, points: tuple[MetricPoint, ...]) -> None:
        if job_id == self.state.series_job:
            self.state.apply(points_change(job_id, points))

    def _samples_appended(self, job_id: str, samples: tuple[Sample, ...]) -> None:
        if job_id == self.state.series_job:
            self.state.apply(Change(samples=samples))

    def _notification_created(self, note: Notification) -> None:
        self.state.apply(Change(notifications=(note,)))

    def _job_deleted(self, job_id: str) -> None:
        self.state.apply(Change(deleted=(job_id,)))

    # -- other processes' changes ----------------------------------------------------------------
    def _jobs_changed_elsewhere(self, jobs: list[Job]) -> None:
        self.state.apply(Change(jobs=jobs))
        if any(job.id == self.state.series_job for job in jobs):
            self._read_samples()

    def _jobs_deleted_elsewhere(self, job_ids: list[str]) -> None:
        self.state.apply(Change(deleted=job_ids, elsewhere=True))

    def _jobs_listed(self, jobs: list[Job], latest: int) -> None:
        self.state.apply(Change(jobs=jobs, listed_up_to=latest))

    def _columns_polled(self, job_id: str, columns: MetricColumns) -> None:
        self.state.apply(Change(points=((job_id, columns),)))

    def _notifications_found(self, notes: list[Notification]) -> None:
        self.state.apply(Change(notifications=notes))

    # -- the selected job's points and samples ---------------------------------------------------
    def _selection_changed(self, _job_ids: list[str]) -> None:
        if self.live is not None:
            self.live.watch(None)  # until the first load says where the points end
        self._read_samples()

    def _read_samples(self) -> None:
        """The selected job's answers after the last held; one read at a time, and one more when
        asked meanwhile (the selection or the job changed while it read)."""
        job_id = self.state.series_job
        if job_id is None or self._stopped:
            return
        if self._samples_reading:
            self._samples_again = True
            return
        self._samples_reading = True
        self.session.samples_after(
            job_id=job_id,
            after_step=self.state.last_sample_step,
            on_done=self._samples_read,
            on_error=lambda _error: self._samples_read([]),  # the job's next change reads again
        )

    def _samples_read(self, samples: list[Sample]) -> None:
        self._samples_reading = False
        if self._stopped:
            return
        self.state.apply(Change(samples=samples))
        if self._samples_again:
            self._samples_again = False
            self._read_samples()

    def _watch(self, data: JobMetrics) -> None:
        if self.live is not None and data.complete:
            self.live.watch(data.job.id, lambda: self.state.series.last_step)
