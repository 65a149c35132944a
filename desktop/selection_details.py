"""What the pane below the job table shows for the selection: nothing (the table has the room),
the monitor of one job, or the compare view of several.

One selected job is shown at once from its row, its points load off the UI thread (a long
series also thinned to `first_paint_points`, read beside the full load and drawn if it comes
first) into the state, from which the monitor draws them and the live updates poll on.
Several selected load into the compare view.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QStackedWidget

from core.errors import NotFoundError
from core.jobs.metric_columns import JobMetrics
from core.records import Job
from desktop.app_state import AppState, Change, Deleted
from desktop.compare_loader import CompareLoader
from desktop.compare_view import CompareView
from desktop.jobs_view import JobTableView
from desktop.monitor import JobMonitor

FIRST_PAINT_POINTS = 50_000


class SelectionDetails(QObject):
    """Follows the table's selection into the state and the details pane.

    Signals:
        detail_shown(str): the selected job's points are loaded and drawn.
        message(str): something to tell the person (nothing to compare, a job on screen was
            deleted elsewhere).
        failed(object): a load failed (the error, for the window to say).
    """

    detail_shown = Signal(str)
    message = Signal(str)
    failed = Signal(object)

    def __init__(
        self,
        state: AppState,
        table: JobTableView,
        monitor: JobMonitor,
        compare: CompareView,
        details: QStackedWidget,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state, self.table, self.monitor, self.compare, self.details = (
            state,
            table,
            monitor,
            compare,
            details,
        )
        self.compare_loader = CompareLoader(compare, state, self)
        self.compare_loader.failed.connect(self.failed)
        # A longer series is first drawn thinned to this many points, then in full (None: never).
        self.first_paint_points: int | None = FIRST_PAINT_POINTS
        table.job_selected.connect(self.job_selected)
        table.jobs_selected.connect(self.jobs_selected)
        state.jobs_reset.connect(self._jobs_reset)
        state.jobs_deleted.connect(self._jobs_deleted)
        state.session_changed.connect(self._session_changed)

    def job_selected(self, job_id: str) -> None:
        """The one selected job ("" for none): shown in the monitor, its points loading."""
        state = self.state
        state.select(self.table.selected_job_ids())
        job = state.job(job_id)
        self._watch_on_scheduler(job)
        if job is None or state.session is None:
            self.monitor.clear()
            return
        self.monitor.show_job(job)
        state.session.job_dataset(
            job=job,
            on_done=lambda dataset: self.monitor.set_dataset(job_id, dataset),
            on_error=lambda _e: None,  # the summary then names no dataset; the load below reports errors
        )
        state.session.load_job(job_id=job_id, on_done=self._detail_loaded, on_error=self.failed.emit)
        at_most = self.first_paint_points
        if at_most is not None and job.current_step > at_most:
            # Beside the full load, not before it: the first look costs the open no time.
            state.session.first_look(
                job_id=job_id, at_most=at_most, on_done=self._first_look, on_error=lambda _e: None
            )

    def jobs_selected(self, job_ids: list[str]) -> None:
        """None selected: the table has the room; one: the monitor; several: the compare view."""
        self.state.select(job_ids)
        self.details.setVisible(bool(job_ids))
        if len(job_ids) < 2:
            self.details.setCurrentWidget(self.monitor)
            if self.compare.job_ids:
                self.compare.show_jobs([])
                self.compare_loader.stop()
            return
        jobs = [job for job in map(self.state.job, job_ids) if job is not None]
        self.details.setCurrentWidget(self.compare)
        if [job.id for job in jobs] == self.compare.job_ids or self.state.session is None:
            return  # the same jobs reselected after the table reloaded: what is drawn stands
        self.compare.show_jobs(jobs)
        self.compare_loader.load(self.state.session, [job.id for job in jobs])

    def compare_selected(self) -> None:
        """Compare the selected jobs (the compare view already shows while two or more are)."""
        if len(self.table.selected_job_ids()) >= 2:
            self.details.show()
            self.details.setCurrentWidget(self.compare)
            self.compare.chart.plot_widget.setFocus(Qt.FocusReason.ShortcutFocusReason)
        else:
            self.message.emit("Select two or more jobs to compare: Ctrl+click or Shift+click their rows.")

    def compare_with(self, job_ids: list[str]) -> None:
        """Select these jobs and compare them."""
        self.table.select_jobs(list(dict.fromkeys(job_ids)))
        self.compare_selected()

    def reload_compared(self) -> None:
        """Forget what the compare view drew: the compared jobs load again once the table has
        them again (a refresh)."""
        self.compare.show_jobs([])

    def _session_changed(self, session: object) -> None:
        if session is None:
            self.stop()

    def stop(self) -> None:
        """The window let go of its workspace: nothing shown, nothing loading."""
        self.monitor.clear()
        self.compare_loader.stop()
        self.compare.show_jobs([])

    def _jobs_reset(self, _jobs: list[Job]) -> None:
        """Every job anew (the model reset, dropping the selection without a word): select the
        jobs that were selected again, which reloads what they show, or show nothing."""
        selected = list(self.state.selected)
        if selected and not self.table.select_jobs(selected):
            self.job_selected("")  # the jobs are gone (or filtered out): nothing is selected now
            self.jobs_selected([])

    def _jobs_deleted(self, deleted: Deleted) -> None:
        """A job on screen that went elsewhere says so, rather than vanishing without a word."""
        if deleted.elsewhere and deleted.shown:
            shown = ", ".join(f"“{job.name}”" for job in deleted.shown)
            verb = "was" if len(deleted.shown) == 1 else "were"
            self.message.emit(f"{shown} {verb} deleted elsewhere (another window, machine or command).")

    def _watch_on_scheduler(self, job: Job | None) -> None:
        """Have the embedded scheduler poll the job on screen every second while it can change."""
        if self.state.session is not None:
            self.state.session.watch_job(job.id if job is not None and not job.status.is_terminal else None)

    def _first_look(self, data: JobMetrics | None) -> None:
        """A thinned first look of a long series (None: the full load is as quick)."""
        if data is not None:
            self._detail_loaded(data)

    def _detail_loaded(self, data: JobMetrics) -> None:
        """The selected job's points as columns, into the state (the monitor draws them at once); a
        thinned first look of a long series is followed by the full load, which replaces it."""
        job_id = data.job.id
        if self.table.selected_job_id() != job_id or self.monitor.job is None or self.state.session is None:
            return  # the person moved on while it loaded
        if not data.complete and self.state.series_job == job_id and self.state.series_complete:
            return  # the full load came first: the first look has nothing to add
        self.state.apply(Change(jobs=(data.job,), series=data))
        if data.complete:
            self.detail_shown.emit(job_id)


def is_quiet(error: BaseException) -> bool:
    """A load error nobody needs to hear of: the job was deleted elsewhere while it loaded (the
    change query removes it and says so)."""
    return isinstance(error, NotFoundError)
