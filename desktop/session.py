"""An opened workspace as the desktop uses it: the core's services, each run off the UI thread.

Like Anki's `aqt.operations`, every method takes keyword arguments and callbacks, hands the core
call to the `Runner`, and the callbacks run on the UI thread. Nothing here builds a query.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import demo, notifications
from core.change_feed import ChangeFeed
from core.config import Settings
from core.datasets import catalog as datasets
from core.jobs import comparison, samples
from core.jobs import labels as job_labels
from core.jobs import logs as job_logs
from core.jobs import request as job_request
from core.jobs import resume as job_resume
from core.jobs import reuse as job_reuse
from core.jobs import service as jobs
from core.jobs import summary as run_summary
from core.jobs.request import JobOrder
from core.money import budget
from core.records import Job
from core.workspace import Workspace
from desktop.core_events import CoreEvents
from desktop.operations import Callback, Runner
from desktop.scheduler_thread import SchedulerThread


def open_workspace(runner: Runner, settings: Settings, *, on_done: Callback, on_error: Callback) -> None:
    """Open the database (applying migrations) off the UI thread."""
    runner.run(Workspace.open, settings, on_done=on_done, on_error=on_error)


class Session:
    """One workspace, its event adapter and (unless in screenshot mode) its embedded scheduler."""

    def __init__(self, ws: Workspace, runner: Runner, events: CoreEvents) -> None:
        self.ws = ws
        self.runner = runner
        self.events = events
        self.scheduler: SchedulerThread | None = None
        events.attach(ws.events)

    @property
    def settings(self) -> Settings:
        return self.ws.settings

    @property
    def connected_as(self) -> str | None:
        """Who the database knows us as (PostgreSQL), for the settings dialog."""
        return self.ws.identity.describe() if self.ws.identity else None

    def start_scheduler(self, make: Callable[[Workspace], Any] | None = None) -> SchedulerThread:
        self.scheduler = SchedulerThread(self.ws, make=make) if make else SchedulerThread(self.ws)
        self.scheduler.start()
        self.runner.async_loop = self.scheduler.running_loop
        return self.scheduler

    def watch_job(self, job_id: str | None) -> None:
        """The job on screen: the embedded scheduler polls it every second (SPEC §2). Another
        process's scheduler is not told; its points arrive through the database poll."""
        if self.scheduler is not None:
            self.scheduler.watch(job_id)

    def close(self) -> None:
        """Stop the scheduler and close the database; blocks until the scheduler's cycle ends."""
        self.events.detach()
        self.runner.async_loop = lambda: None
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        self.ws.close()

    def _run(
        self, fn: Callable[..., Any], on_done: Callback | None, on_error: Callback | None, **kwargs: Any
    ) -> None:
        self.runner.run(fn, self.ws, on_done=on_done, on_error=on_error, **kwargs)

    # -- jobs ------------------------------------------------------------------------------------
    def list_jobs(self, *, on_done: Callback, on_error: Callback | None = None) -> None:
        self._run(jobs.list_jobs, on_done, on_error)

    def get_job(self, *, job_id: str, on_done: Callback, on_error: Callback | None = None) -> None:
        self._run(jobs.get_job, on_done, on_error, job_id=job_id)

    def load_job(self, *, job_id: str, on_done: Callback, on_error: Callback | None = None) -> None:
        """The job and its points as numpy columns (`JobMetrics`), for the monitor."""
        self._run(jobs.get_job_metrics, on_done, on_error, job_id=job_id)

    def first_look(
        self, *, job_id: str, at_most: int, on_done: Callback, on_error: Callback | None = None
    ) -> None:
        """A long series thinned to about `at_most` points (`JobMetrics`, `complete` False) to
        draw while the full load runs, or None when the full load is as quick."""
        self._run(jobs.first_look_metrics, on_done, on_error, job_id=job_id, at_most=at_most)

    def metric_columns(
        self, *, job_id: str, after_step: int | None, on_done: Callback, on_error: Callback | None = None
    ) -> None:
        """The job's points after `after_step` as columns (`MetricColumns`)."""
        self._run(jobs.metric_columns, on_done, on_error, job_id=job_id, after_step=after_step)

    def samples_after(
        self, *, job_id: str, after_step: int | None, on_done: Callback, on_error: Callback | None = None
    ) -> None:
        """The job's sample answers after `after_step` (a list of `Sample`), for the Samples tab."""
        self._run(samples.samples_after, on_done, on_error, job_id=job_id, after_step=after_step)

    def job_dataset(self, *, job: Job, on_done: Callback, on_error: Callback | None = None) -> None:
        """The job's dataset (a `Dataset`, or None when it is gone), for the monitor's summary."""
        self._run(run_summary.job_dataset, on_done, on_error, job=job)

    def load_compared_run(self, *, job_id: str, on_done: Callback, on_error: Callback | None = None) -> None:
        """One job as the compare view shows it (`ComparedRun`: job, summary, drawn columns)."""
        self._run(comparison.load_compared_run, on_done, on_error, job_id=job_id)

    def open_change_feed(self) -> ChangeFeed:
        """A blocking waiter for the database's change signals; call it off the UI thread."""
        return ChangeFeed(self.ws.db)

    def jobs_changed_since(
        self, *, since: int | None, on_done: Callback, on_error: Callback | None = None
    ) -> None:
        self._run(jobs.jobs_changed_since, on_done, on_error, since=since)

    def create_job(
        self, order: JobOrder, *, force: bool, on_done: Callback, on_error: Callback | None = None
    ) -> None:
        """Queue the order (`jobs.queue_job`); past the monthly budget only with `force`."""
        self._run(jobs.queue_job, on_done, on_error, order=order, force=force)

    def continuable_step(self, *, job_id: str, on_done: Callback, on_error: Callback | None = None) -> None:
        """The step a failed or cancelled job can be continued from (None: it cannot be)."""
        self._run(job_resume.continuable_step, on_done, on_error, job_id=job_id)

    def continue_job(self, *, job_id: str, on_done: Callback, on_error: Callback | None = None) -> None:
        """Queue the job that continues `job_id` from its last checkpoint (the new `Job`)."""
        self._run(job_resume.continue_job, on_done, on_error, job_id=job_id)

    def earlier_points(self, *, job_id: str, on_done: Callback, on_error: Callback | None = None) -> None:
        """The training loss a continued job's ancestors recorded before it (`MetricColumns`)."""
        self._run(job_resume.earlier_points, on_done, on_error, job_id=job_id)

    def start_demo_job(self, *, on_done: Callback, on_error: Callback | None = None) -> None:
        self._run(demo.start_demo_job, on_done, on_error)

    def cancel_job(self, *, job_id: str, on_done: Callback, on_error: Callback | None = None) -> None:
        """Cancel a job; `on_done` gets the CancelResult (the job, and what a wait is for)."""
        self._run(jobs.cancel_job_explained, on_done, on_error, job_id=job_id)

    def delete_job(self, *, job_id: str, on_done: Callback, on_error: Callback | None = None) -> None:
        """Delete a terminal job with its points, costs and notifications (`Job` as it was)."""
        self._run(jobs.delete_job, on_done, on_error, job_id=job_id)

    def save_job_labels(
        self, *, job_id: str, notes: str, tags: str, on_done: Callback, on_error: Callback | None = None
    ) -> None:
        """Notes and tags as typed in the monitor (tags comma-separated); the stored `Job`."""
        self._run(_save_labels, on_done, on_error, job_id=job_id, notes=notes, tags=tags)

    def read_job_log(
        self, *, job_id: str, offset: int, on_done: Callback, on_error: Callback | None = None
    ) -> None:
        """The job's log from `offset` (`JobLog`), read by the cluster backend."""
        self._run(job_logs.read_job_log, on_done, on_error, job_id=job_id, offset=offset)

    def estimate_run_time(
        self, *, dataset_id: str, epochs: int, on_done: Callback, on_error: Callback | None = None
    ) -> None:
        """Expected hours from finished runs of the dataset (`RunTimeEstimate` or None)."""
        self._run(job_reuse.estimate_run_time, on_done, on_error, dataset_id=dataset_id, epochs=epochs)

    def set_rules(
        self, *, job_id: str, rules: dict[str, Any], on_done: Callback, on_error: Callback | None = None
    ) -> None:
        """Change a job's stop rules (guardrails) while it runs."""
        self._run(jobs.set_rules, on_done, on_error, job_id=job_id, rules=rules)

    def month_spend(self, *, on_done: Callback, on_error: Callback | None = None) -> None:
        """The month's spend against the monthly budget (`MonthSpend`)."""
        self._run(budget.month_spend, on_done, on_error)

    def estimate_cost(self, *, gpu_type: str, gpu_count: int, hours: float) -> float:
        """Arithmetic on the settings' rates: no database, safe on the UI thread."""
        return jobs.estimate_cost(self.settings, gpu_type=gpu_type, gpu_count=gpu_count, hours=hours)

    def default_gpu_type(self) -> str:
        return job_request.default_gpu_type(self.settings)

    # -- datasets --------------------------------------------------------------------------------
    def list_datasets(self, *, on_done: Callback, on_error: Callback | None = None) -> None:
        self._run(datasets.list_datasets, on_done, on_error)

    def dataset_detail(self, *, ref: str, on_done: Callback, on_error: Callback | None = None) -> None:
        """A dataset's size, first rows and the jobs that used it (`DatasetDetail`)."""
        self._run(datasets.dataset_detail, on_done, on_error, ref=ref)

    def delete_dataset(self, *, ref: str, on_done: Callback, on_error: Callback | None = None) -> None:
        """Delete a dataset no job uses (refused, with the jobs, otherwise)."""
        self._run(datasets.delete_dataset, on_done, on_error, ref=ref)

    def add_dataset(
        self,
        *,
        file: Path,
        name: str | None,
        bucket: str | None,
        on_done: Callback,
        on_error: Callback | None = None,
    ) -> None:
        self._run(datasets.add_dataset, on_done, on_error, file=file, name=name, bucket=bucket)

    # -- notifications ---------------------------------------------------------------------------
    def list_notifications(self, *, on_done: Callback, on_error: Callback | None = None) -> None:
        self._run(notifications.list_notifications, on_done, on_error)

    def notifications_since(
        self, *, since: int | None, on_done: Callback, on_error: Callback | None = None
    ) -> None:
        self._run(notifications.notifications_since, on_done, on_error, since=since)

    def mark_read(self, *, ids: list[str] | None, on_done: Callback | None = None) -> None:
        self._run(notifications.mark_read, on_done, None, ids=ids)


def _save_labels(ws: Workspace, *, job_id: str, notes: str, tags: str) -> Any:
    return job_labels.set_labels(ws, job_id=job_id, notes=notes, tags=job_labels.parse_tags(tags))
