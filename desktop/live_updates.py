"""What other processes write to the same database, as soon as the database says so.

Events bring what this app's scheduler and services do, at once. Another app instance or a
headless scheduler on the same database publishes nothing here, so we ask: for the selected job's
new points (after the last step held) and for jobs and notifications changed (or jobs deleted)
since the last look, by the change numbers the database assigns (core.db.changes), never by
clocks. We ask as soon as the database signals a commit (PostgreSQL LISTEN/NOTIFY, SQLite's
data_version, on a thread of their own) and, in case a signal is lost, once a second anyway. Each
query waits for its previous answer; a signal that comes meanwhile asks again when the answer is in.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from core.jobs.metric_columns import MetricColumns
from core.records import Job, JobChanges, Notification
from desktop.session import Session

log = logging.getLogger(__name__)
POLL_MS = 1000
FEED_WAIT_S = 0.25  # how long one wait for a signal lasts: the bound on stopping the listener


class LiveUpdates(QObject):
    """Asks the core for changes when the database signals one, and once a second.

    Signals:
        jobs_changed(list[Job]): jobs updated since the last look (may repeat known records).
        jobs_deleted(list[str]): ids of jobs deleted since the last look (some may be unknown here).
        jobs_listed(list[Job], int): every job of the person's as of change number N (after
            `jobs_changed` brought them): a job stamped up to N that is not listed is gone.
        metrics_polled(str, MetricColumns): new points of the watched job, as columns.
        notifications_found(list[Notification]): notifications created since the last look.
    """

    jobs_changed = Signal(list)
    jobs_deleted = Signal(list)
    jobs_listed = Signal(list, int)
    metrics_polled = Signal(str, object)
    notifications_found = Signal(list)
    _database_changed = Signal()

    def __init__(
        self,
        session: Session,
        parent: QObject | None = None,
        *,
        interval_ms: int = POLL_MS,
        push: bool = True,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.jobs_since: int | None = None
        self.notifications_since: int | None = None
        self.push = push
        self._watched: tuple[str, Callable[[], int | None]] | None = None
        self._busy: set[str] = set()
        self._again = False
        self._timer = QTimer(self, interval=interval_ms, timeout=self.poll)
        self._stopping = threading.Event()
        self._listener: threading.Thread | None = None
        self._database_changed.connect(self.poll, Qt.ConnectionType.QueuedConnection)

    def start(self, *, jobs: list[Job], notifications: list[Notification]) -> None:
        """Begin after the first load, from the newest change number it held: every change up to
        that number committed before the load read, so nothing older can still arrive."""
        self.jobs_since = max((job.change_seq for job in jobs), default=None)
        self.notifications_since = max((note.change_seq for note in notifications), default=None)
        self._timer.start()
        if self.push and self._listener is None:
            self._stopping.clear()
            self._listener = threading.Thread(target=self._listen, name="loradesk-changes", daemon=True)
            self._listener.start()

    def stop(self) -> None:
        """Stop asking; the listener's connection is closed when this returns (within a wait)."""
        self._timer.stop()
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.join(FEED_WAIT_S * 4)

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def watch(self, job_id: str | None, last_step: Callable[[], int | None] = lambda: None) -> None:
        """Poll this job's points after `last_step()` (None: no job is watched)."""
        self._watched = None if job_id is None else (job_id, last_step)

    def poll(self) -> None:
        if self._stopping.is_set():  # a signal queued before stop() may still arrive
            return
        self._poll_metrics()
        self._once("jobs", self.session.jobs_changed_since, self._got_jobs, since=self.jobs_since)
        self._once(
            "notifications", self.session.notifications_since, self._got_notes, since=self.notifications_since
        )

    def _listen(self) -> None:
        """The listener thread: wait on the database's signal, report each one to the UI thread."""
        stopping = self._stopping
        try:
            feed = self.session.open_change_feed()
        except Exception as exc:  # the once-a-second poll still works
            log.warning("no change signals from the database (%s); polling every second", exc)
            return
        try:
            self._database_changed.emit()  # what committed before the feed listened: look once now
            while not stopping.is_set():
                if feed.wait(FEED_WAIT_S) and not stopping.is_set():
                    self._database_changed.emit()
        except RuntimeError:  # the signal's object was deleted while we waited (app closing)
            pass
        except Exception as exc:
            log.warning("change signals stopped (%s); polling every second", exc)
        finally:
            feed.close()

    def _poll_metrics(self) -> None:
        if self._watched is None:
            return
        job_id, last_step = self._watched
        self._once(
            "metrics",
            self.session.metric_columns,
            lambda columns: self._got_points(job_id, columns),
            job_id=job_id,
            after_step=last_step(),
        )

    def _once(self, what: str, call: Any, then: Any, **kwargs: Any) -> None:
        if what in self._busy:
            self._again = True  # a change may have committed after this query read: ask again
            return
        self._busy.add(what)

        def done(result: Any) -> None:
            if self._stopping.is_set():  # stopped meanwhile (the timer may be gone): no one to tell
                return
            self._finished(what)
            then(result)

        def failed(_error: BaseException) -> None:
            if not self._stopping.is_set():
                self._finished(what)  # a database hiccup: the next tick tries again

        call(on_done=done, on_error=failed, **kwargs)

    def _finished(self, what: str) -> None:
        self._busy.discard(what)
        if self._again and not self._busy and self._timer.isActive():
            self._again = False
            QTimer.singleShot(0, self, self.poll)

    def _got_points(self, job_id: str, columns: MetricColumns) -> None:
        if len(columns) and self._watched is not None and self._watched[0] == job_id:
            self.metrics_polled.emit(job_id, columns)

    def _got_jobs(self, changes: JobChanges) -> None:
        self.jobs_since = changes.latest
        if changes.jobs:
            self.jobs_changed.emit(changes.jobs)
        if changes.complete:
            self.jobs_listed.emit(changes.jobs, changes.latest)
        if changes.deleted:
            self.jobs_deleted.emit(changes.deleted)

    def _got_notes(self, result: tuple[list[Notification], int | None]) -> None:
        found, self.notifications_since = result[0], result[1]
        if found:
            self.notifications_found.emit(found)
