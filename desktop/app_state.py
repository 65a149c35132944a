"""What the desktop knows, in one place: the jobs by id with their change numbers, the selection
and the selected job's points and sample answers, the notifications, and the step rates the ETA
is read from.

Every change enters through one door, `AppState.apply(Change)`, in one shape (points as columns);
`desktop/updates.py` is the one route that turns scheduler events and database changes into it.
Applying a change twice changes nothing the second time: a job record older than the one held (by
its change number) is dropped, a point at a step already held is dropped, a sample answer at a
(step, prompt) already held is dropped, a notification already held is dropped, a job already
gone is not deleted again. The widgets subscribe to the signals
and never reach into the window or each other (Anki's OpChanges, napari's evented models).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from core.jobs.metric_columns import JobMetrics, MetricColumns
from core.records import Job, Notification, Sample
from desktop import formatting as fmt
from desktop.eta import StepRates
from desktop.metric_series import MetricSeries

if TYPE_CHECKING:
    from desktop.session import Session


@dataclass(frozen=True)
class Change:
    """One batch of changes; every field is optional.

    `jobs` are created or changed jobs; with `all_jobs` they are every job (a first load or a
    refresh), and with `listed_up_to` every job as of that change number (a job held, stamped up
    to it and not listed was deleted meanwhile). `deleted` are deleted job ids, `elsewhere` when
    another process deleted them. `series` is the selected job's points as loaded, `points` new
    points of jobs as columns, `samples` sample answers of jobs (the selected one's are kept).
    `notifications` are new ones (with `all_notifications`, every one).
    """

    jobs: Sequence[Job] = ()
    all_jobs: bool = False
    listed_up_to: int | None = None
    deleted: Sequence[str] = ()
    elsewhere: bool = False
    series: JobMetrics | None = None
    points: Sequence[tuple[str, MetricColumns]] = ()
    samples: Sequence[Sample] = ()
    notifications: Sequence[Notification] = ()
    all_notifications: bool = False


@dataclass(frozen=True)
class Deleted:
    """Jobs that went: their ids (a job held, or one with notifications held), the records held
    of them, those of them that were selected (on screen), and whether they went elsewhere."""

    job_ids: tuple[str, ...]
    jobs: tuple[Job, ...]
    shown: tuple[Job, ...]
    elsewhere: bool


class AppState(QObject):
    """The desktop's one state.

    Signals:
        jobs_reset(list[Job]): every job anew (the first load, a refresh), in no order.
        jobs_changed(list[Job]): jobs created, or changed since the record held (newest only).
        jobs_deleted(Deleted): jobs deleted here or elsewhere, already gone from the state.
        selection_changed(list[str]): the selected job ids (one: the monitor's; several: compared).
        series_loaded(JobMetrics): the selected job's points replaced by a load (`complete` False
            for a thinned first look of a long series, which a full load follows).
        points_added(str, int): this many new points were appended to the selected job's series.
        samples_added(str, list[Sample]): sample answers of the selected job not held before.
        notifications_reset(list[Notification]): every notification anew (the first load).
        notifications_added(list[Notification]): notifications not held before.
        session_changed(object): the open workspace's `Session`, or None once it is let go (the
            jobs and the selection already emptied).
    """

    jobs_reset = Signal(list)
    jobs_changed = Signal(list)
    jobs_deleted = Signal(object)
    selection_changed = Signal(list)
    series_loaded = Signal(object)
    points_added = Signal(str, int)
    samples_added = Signal(str, list)
    notifications_reset = Signal(list)
    notifications_added = Signal(list)
    session_changed = Signal(object)

    def __init__(self, parent: QObject | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self.session: Session | None = None  # the open workspace's, while the window is attached
        self.jobs: dict[str, Job] = {}
        self.notifications: dict[str, Notification] = {}
        self.rates = StepRates(clock)
        self.selected: tuple[str, ...] = ()
        self.series = MetricSeries()  # the selected job's points (one object: charts hold it)
        self.series_complete = False  # every point of the selected job has loaded
        self._early: list[MetricColumns] = []  # points that arrived while its first load ran
        self.samples: dict[tuple[int, int], Sample] = {}  # the selected job's, by (step, prompt)

    # -- reading ---------------------------------------------------------------------------------
    def job(self, job_id: str | None) -> Job | None:
        return self.jobs.get(job_id) if job_id else None

    @property
    def series_job(self) -> str | None:
        """The id of the one selected job, whose points `series` holds (None: none or several)."""
        return self.selected[0] if len(self.selected) == 1 else None

    @property
    def last_sample_step(self) -> int | None:
        """The latest evaluation of the selected job's whose answers are held."""
        return max((step for step, _prompt in self.samples), default=None)

    def seconds_left(self, job: Job) -> float | None:
        """The job's ETA from the recent pace of its steps."""
        return self.rates.seconds_left(job)

    def set_session(self, session: Session | None) -> None:
        """The workspace the window follows now. None lets it go (before the settings reopen one):
        nothing is selected or held of it any more."""
        self.session = session
        if session is None:
            self.select([])
            self.apply(Change(all_jobs=True))
        self.session_changed.emit(session)

    # -- the selection ---------------------------------------------------------------------------
    def select(self, job_ids: Sequence[str]) -> None:
        """These jobs are selected; a different single job starts an empty series."""
        selected = tuple(dict.fromkeys(job_ids))
        if selected == self.selected:
            return
        before = self.series_job
        self.selected = selected
        if self.series_job != before:
            self.series.clear()
            self.series_complete = False
            self._early = []
            self.samples = {}
        self.selection_changed.emit(list(selected))

    # -- the one input ---------------------------------------------------------------------------
    def apply(self, change: Change) -> None:
        """Take in a change (idempotent: what is already held is dropped), then tell subscribers."""
        if change.all_jobs:
            self._reset_jobs(change.jobs)
        elif change.jobs:
            self._apply_jobs(change.jobs)
        if change.listed_up_to is not None:
            listed = {job.id for job in change.jobs}
            gone = [
                j.id for j in self.jobs.values() if j.id not in listed and j.change_seq <= change.listed_up_to
            ]
            self._delete(gone, elsewhere=True)
        if change.deleted:
            self._delete(change.deleted, elsewhere=change.elsewhere)
        if change.series is not None:
            self._load_series(change.series)
        for job_id, columns in change.points:
            self._append_points(job_id, columns)
        if change.samples:
            self._add_samples(change.samples)
        if change.all_notifications:
            self.notifications = {note.id: note for note in change.notifications}
            self.notifications_reset.emit(list(change.notifications))
        elif change.notifications:
            fresh = [note for note in change.notifications if _newer(self.notifications.get(note.id), note)]
            known = {note.id for note in fresh if note.id in self.notifications}
            self.notifications.update((note.id, note) for note in fresh)
            if added := [note for note in fresh if note.id not in known]:
                self.notifications_added.emit(added)

    def _reset_jobs(self, jobs: Sequence[Job]) -> None:
        self.jobs = {job.id: job for job in jobs}  # a full load is no sample of the pace
        self.jobs_reset.emit(list(jobs))

    def _apply_jobs(self, jobs: Sequence[Job]) -> None:
        changed: dict[str, Job] = {}
        for job in jobs:
            if _newer(self.jobs.get(job.id), job):
                self.jobs[job.id] = changed[job.id] = job
        if changed:
            self.rates.observe(changed.values())
            self.jobs_changed.emit(list(changed.values()))

    def _delete(self, job_ids: Sequence[str], *, elsewhere: bool) -> None:
        noted = {note.job_id for note in self.notifications.values()}
        ids = tuple(dict.fromkeys(i for i in job_ids if i in self.jobs or i in noted))
        if not ids:
            return
        jobs = tuple(job for job in (self.jobs.pop(i, None) for i in ids) if job is not None)
        self.notifications = {k: n for k, n in self.notifications.items() if n.job_id not in ids}
        shown = tuple(job for job in jobs if job.id in self.selected)
        self.jobs_deleted.emit(Deleted(job_ids=ids, jobs=jobs, shown=shown, elsewhere=elsewhere))

    def _load_series(self, data: JobMetrics) -> None:
        if data.job.id != self.series_job:
            return  # the selection moved on while it loaded
        self.series.replace(data.columns)
        if data.complete:
            # The load may have read the database before or after these were written: keep the new.
            for early in self._early:
                self.series.append_columns(early)
            self._early = []
            self.series_complete = True
        self.series_loaded.emit(data)

    def _append_points(self, job_id: str, columns: MetricColumns) -> None:
        if job_id != self.series_job or not len(columns):
            return
        if not self.series_complete:
            self._early.append(columns)
            return
        added = self.series.append_columns(columns)
        if added:
            self.points_added.emit(job_id, added)

    def _add_samples(self, samples: Sequence[Sample]) -> None:
        job_id, held = self.series_job, self.samples
        fresh: dict[tuple[int, int], Sample] = {}
        for sample in samples:
            key = (sample.step, sample.prompt_index)
            if sample.job_id == job_id and key not in held:
                fresh[key] = sample
        if job_id is not None and fresh:
            held.update(fresh)
            self.samples_added.emit(job_id, list(fresh.values()))


def _newer(held: Job | Notification | None, new: Job | Notification) -> bool:
    """Whether `new` replaces `held`: by the database's change number, then (for records that
    never had one, stamped 0) by when it was updated."""
    if held is None:
        return True
    if new == held or new.change_seq < held.change_seq:
        return False
    if new.change_seq > held.change_seq or not isinstance(new, Job) or not isinstance(held, Job):
        return new.change_seq > held.change_seq
    return fmt.utc(new.updated_at) >= fmt.utc(held.updated_at)
