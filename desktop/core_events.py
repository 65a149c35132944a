"""The one adapter from core events to Qt signals.

Core publishes plain events on whatever thread did the work (the scheduler's, a worker's). The
handler here only queues the event and asks the UI thread to flush; the flush runs on the thread
that owns the adapter and emits the signals there. Job updates that pile up between two flushes
are delivered as one batch, latest record per job, so a cycle over 1,000 jobs repaints once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal

from core.events import (
    DatasetAdded,
    Event,
    EventBus,
    JobDeleted,
    JobUpdated,
    MetricsAppended,
    NotificationCreated,
    SamplesAppended,
    SchedulerStopped,
)
from core.records import Job


class CoreEvents(QObject):
    """Qt signals for the events of one workspace's bus.

    Signals:
        jobs_updated(list[Job]): jobs created or changed, one record per job, newest state.
        metrics_appended(str, tuple[MetricPoint, ...]): new metric points of a job, ascending.
        samples_appended(str, tuple[Sample, ...]): new sample answers of a job.
        notification_created(Notification): a notification was recorded.
        dataset_added(Dataset): a dataset was added.
        job_deleted(str): a job was deleted (with its points, costs and notifications).
        scheduler_stopped(str): the embedded scheduler stopped by itself, and why.
    """

    jobs_updated = Signal(list)
    metrics_appended = Signal(str, tuple)
    samples_appended = Signal(str, tuple)
    notification_created = Signal(object)
    dataset_added = Signal(object)
    job_deleted = Signal(str)
    scheduler_stopped = Signal(str)
    _flush_requested = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: list[Event] = []
        self._flush_scheduled = False
        self._unsubscribe: Callable[[], None] | None = None
        self._flush_requested.connect(self.flush, Qt.ConnectionType.QueuedConnection)

    def attach(self, bus: EventBus) -> None:
        """Listen to `bus` (and stop listening to the previous one)."""
        self.detach()
        self._unsubscribe = bus.subscribe(self.handle)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def handle(self, event: Event) -> None:
        """The bus handler: any thread, returns at once."""
        with self._lock:
            self._pending.append(event)
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        self._flush_requested.emit()

    def flush(self) -> None:
        """Emit the queued events as signals (UI thread)."""
        with self._lock:
            events, self._pending = self._pending, []
            self._flush_scheduled = False
        jobs: dict[str, Job] = {}
        for event in events:
            if isinstance(event, JobUpdated):
                jobs.pop(event.job.id, None)  # re-insert: keep the order of the latest change
                jobs[event.job.id] = event.job
                continue
            if jobs:  # keep job updates before the events that followed them
                self.jobs_updated.emit(list(jobs.values()))
                jobs = {}
            if isinstance(event, MetricsAppended):
                self.metrics_appended.emit(event.job_id, tuple(event.points))
            elif isinstance(event, SamplesAppended):
                self.samples_appended.emit(event.job_id, tuple(event.samples))
            elif isinstance(event, NotificationCreated):
                self.notification_created.emit(event.notification)
            elif isinstance(event, DatasetAdded):
                self.dataset_added.emit(event.dataset)
            elif isinstance(event, JobDeleted):
                self.job_deleted.emit(event.job_id)
            elif isinstance(event, SchedulerStopped):
                self.scheduler_stopped.emit(event.reason)
        if jobs:
            self.jobs_updated.emit(list(jobs.values()))
