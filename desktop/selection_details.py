"""What the pane below the job table shows for the selection: nothing (the table has the room),
the monitor of one job, or the compare view of several.

One selected job is shown at once from its row, its points load off the UI thread (a long
series first thinned to `window.first_paint_points`, then in full), and from then on the live
updates and the embedded scheduler watch it. Several selected load into the compare view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt

from core.metric_columns import JobMetrics

if TYPE_CHECKING:
    from desktop.main_window import MainWindow


class SelectionDetails(QObject):
    """Follows the window's table selection into its details pane."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def job_selected(self, job_id: str) -> None:
        """The one selected job ("" for none): shown in the monitor, its points loading."""
        window = self.window
        job = window.model.job(job_id) if job_id else None
        self._watch_on_scheduler(job_id)
        if job is None or window.session is None:
            window.monitor.clear()
            if window.live is not None:
                window.live.watch(None)
            return
        window.monitor.show_job(job)
        window.session.job_dataset(
            job=job,
            on_done=lambda dataset: window.monitor.set_dataset(job_id, dataset),
            on_error=lambda _e: None,  # the summary then names no dataset; the load below reports errors
        )
        if window.live is not None:
            window.live.watch(None)  # until the first load says where the points end
        window.session.load_job(
            job_id=job_id,
            at_most=window.first_paint_points,
            on_done=self._detail_loaded,
            on_error=window.show_load_error,
        )

    def jobs_selected(self, job_ids: list[str]) -> None:
        """None selected: the table has the room; one: the monitor; several: the compare view."""
        window = self.window
        window.details.setVisible(bool(job_ids))
        if len(job_ids) < 2:
            window.details.setCurrentWidget(window.monitor)
            if window.compare.job_ids:
                window.compare.show_jobs([])
                window.compare_loader.stop()
            return
        jobs = [job for job in (window.model.job(job_id) for job_id in job_ids) if job is not None]
        window.details.setCurrentWidget(window.compare)
        if [job.id for job in jobs] == window.compare.job_ids or window.session is None:
            return  # the same jobs reselected after the table reloaded: what is drawn stands
        window.compare.show_jobs(jobs)
        window.compare_loader.load(window.session, [job.id for job in jobs])

    def compare_selected(self) -> None:
        """Compare the selected jobs (the compare view already shows while two or more are)."""
        window = self.window
        if len(window.table.selected_job_ids()) >= 2:
            window.details.show()
            window.details.setCurrentWidget(window.compare)
            window.compare.chart.plot_widget.setFocus(Qt.FocusReason.ShortcutFocusReason)
        else:
            window.banner.show_message(
                "Select two or more jobs to compare: Ctrl+click or Shift+click their rows."
            )

    def _watch_on_scheduler(self, job_id: str | None) -> None:
        """Have the embedded scheduler poll the job on screen every second while it can change."""
        window = self.window
        job = window.model.job(job_id) if job_id else None
        if window.session is not None:
            window.session.watch_job(job.id if job is not None and not job.status.is_terminal else None)

    def _detail_loaded(self, data: JobMetrics) -> None:
        """The selected job's points as columns: drawn at once; a thinned first look of a long
        series is followed by the full load, which replaces it."""
        window = self.window
        job_id = data.job.id
        if window.table.selected_job_id() != job_id or window.monitor.job is None or window.session is None:
            return  # the user moved on while it loaded
        window.model.apply_jobs([data.job])
        window.monitor.show_metrics(data)
        if not data.complete:
            window.session.load_job(
                job_id=job_id, on_done=self._detail_loaded, on_error=window.show_load_error
            )
            return
        if window.live is not None:
            window.live.watch(job_id, lambda: window.monitor.series.last_step)
        window.detail_shown.emit(job_id)
