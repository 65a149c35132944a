"""The job monitor: the selected job's header, progress, metric cards, charts and Cancel button.

It draws the state's series of the selected job (`AppState.series`), which the charts read (loss, GPU,
throughput, learning rate and gradient norm: desktop.training_charts):
the state says when a load replaced it (`series_loaded`) and when points were appended
(`points_added`); redraws are coalesced to one per 30 ms. A tab about the job is added with
`add_tab`: it is told of each job shown (`show_job`) and reads the state it was given.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedLayout,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.adapters.files import adapter_problem
from core.jobs.metric_columns import JobMetrics, MetricColumns
from core.jobs.resume import lineage
from core.jobs.summary import PointFigures, figures_from_columns, summarise
from core.jobs.validation_note import no_validation_reason
from core.records import Dataset, Job, JobDetail, JobStatus
from core.safe_text import printable
from desktop import formatting as fmt
from desktop import theme
from desktop.adapter_location import adapter_folder_url, adapter_path
from desktop.app_state import AppState, Change
from desktop.charts import GpuChart, LossChart, MetricChart, ThroughputChart
from desktop.continue_button import ContinueButton
from desktop.earlier_run_curve import EarlierRunCurve
from desktop.elided_label import ElidedLabel
from desktop.log_view import LogView
from desktop.metric_cards import MetricCard, StatusBadge, StatusProgressBar
from desktop.metric_series import MetricSeries
from desktop.notes_editor import NotesEditor
from desktop.playground_view import TryTabs
from desktop.rules_view import RulesBar
from desktop.run_summary_view import RunSummaryView
from desktop.samples_view import SamplesView
from desktop.session import Session
from desktop.training_charts import GradNormChart, LearningRateChart

REDRAW_DELAY_MS = 30
_SUMMARY_COLUMNS = ("step", "training_loss", "validation_loss", "throughput")
STAGGER_FROM = 100_000  # points from which the charts of a first load draw one at a time


class MonitorTab(Protocol):
    """A tab of the monitor about the job shown (a QWidget): told of each job, None for none."""

    def show_job(self, job: Job | None) -> None: ...


class JobMonitor(QWidget):
    """Everything about the selected job (of `state`; alone, of a state of its own).

    Signals:
        cancel_confirmed(str): the user confirmed cancelling this job id.
        clone_requested(str, bool): clone (False) or retry (True) this job in the new-job dialog.
        open_adapter_requested(str), copy_adapter_requested(str): the job's adapter folder.
        export_adapter_requested(str): the user asked to export this job id's adapter.
        export_requested(object, object): a copy of the series and the CSV Path to write it to;
            the caller writes it off the UI thread.
        message(str): something to tell the user (export written, export failed).
        rules_edit_requested(str): the user asked to edit this job id's stop rules.
    """

    cancel_confirmed = Signal(str)
    export_requested = Signal(object, object)
    message = Signal(str)
    clone_requested = Signal(str, bool)
    open_adapter_requested = Signal(str)
    copy_adapter_requested = Signal(str)
    export_adapter_requested = Signal(str)
    rules_edit_requested = Signal(str)

    def __init__(self, state: AppState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state if state is not None else AppState(self)
        self.job: Job | None = None
        self.dataset: Dataset | None = None  # the job's, once loaded (the summary names it)
        self._followers: list[MonitorTab] = []  # the parts told of each job shown
        self._state_of: tuple[str, int | None] | None = None  # the run smoothing was suited to
        self._cancel_box: QMessageBox | None = None
        self._redraw = QTimer(self, singleShot=True, interval=REDRAW_DELAY_MS, timeout=self._redraw_charts)
        self._build()
        self.clear()
        self.state.series_loaded.connect(self._series_loaded)
        self.state.points_added.connect(self._points_added)
        self.state.jobs_changed.connect(self._jobs_changed)
        self.state.session_changed.connect(self._session_changed)

    @property
    def series(self) -> MetricSeries:
        """The shown job's points (the state's, which the charts read)."""
        return self.state.series

    @property
    def loaded(self) -> bool:
        """Every point of the job shown has loaded."""
        return self.job is not None and self.state.series_job == self.job.id and self.state.series_complete

    # -- layout ----------------------------------------------------------------------------------
    def _build(self) -> None:
        self.loss_chart = LossChart(self.series)
        self.earlier_run = EarlierRunCurve(self.loss_chart)
        self.gpu_chart = GpuChart(self.series)
        self.throughput_chart = ThroughputChart(self.series)
        self.learning_rate_chart = LearningRateChart(self.series)
        self.grad_norm_chart = GradNormChart(self.series)
        drawn = (
            self.loss_chart,
            self.gpu_chart,
            self.throughput_chart,
            self.learning_rate_chart,
            self.grad_norm_chart,
        )
        for chart in drawn:  # their own menus
            chart.export_png_requested.connect(lambda c=chart: self._choose_png(c))
            chart.export_csv_requested.connect(self.choose_csv)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(8)
        layout.addLayout(self._build_header())
        layout.addLayout(self._build_progress())
        self.rules = RulesBar()
        self.rules.edit_requested.connect(self.rules_edit_requested)
        layout.addWidget(self.rules)
        layout.addLayout(self._build_cards())
        self.error_label = QLabel(objectName="FieldError", wordWrap=True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.error_label)
        # The loss on the left; beside it two rows of two: the hardware (GPU, throughput) over
        # how the optimizer fares (learning rate, gradient norm). Side by side rather than a row
        # below, so the charts take no height from the job table.
        side = QSplitter(Qt.Orientation.Vertical)
        for pair in (
            (self.gpu_chart, self.throughput_chart),
            (self.learning_rate_chart, self.grad_norm_chart),
        ):
            row = QSplitter(Qt.Orientation.Horizontal)
            for chart in pair:
                row.addWidget(chart)
            row.setChildrenCollapsible(False)
            side.addWidget(row)
        side.setChildrenCollapsible(False)
        charts = QSplitter(Qt.Orientation.Horizontal)
        charts.addWidget(self.loss_chart)
        charts.addWidget(side)
        charts.setStretchFactor(0, 1)
        charts.setStretchFactor(1, 1)
        charts.setChildrenCollapsible(False)
        self.summary_view = RunSummaryView()
        self.log_view = LogView()
        self.notes_editor = NotesEditor()
        self.samples_view = SamplesView(self.state)
        self.tabs = QTabWidget(documentMode=True)
        self.tabs.addTab(charts, "Charts")
        self.tabs.addTab(self.summary_view, "Summary")
        self.tabs.addTab(self.samples_view, "Samples")
        self.tabs.addTab(self.log_view, "Log")
        self.tabs.addTab(self.notes_editor, "Notes")
        self._followers = [
            self.log_view,
            self.notes_editor,
            self.samples_view,
            self.continue_button,
            self.earlier_run,
        ]
        self.try_tabs = TryTabs(self.tabs)
        self._followers.append(self.try_tabs)
        self.tabs.currentChanged.connect(lambda _index: self._update_summary())
        layout.addWidget(self.tabs, 1)
        self.empty = QLabel("Select a job to watch its progress", objectName="EmptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pages = QStackedLayout(self)
        self.pages.addWidget(page)
        self.pages.addWidget(self.empty)

    def _build_header(self) -> QHBoxLayout:
        self.title = ElidedLabel(objectName="MonitorTitle")  # a long name never widens the window
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.badge = StatusBadge()
        self.subtitle = ElidedLabel(objectName="MonitorSubtitle")
        self.export_button = QToolButton(text="Export", icon=theme.icon("export"))
        self.export_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.export_menu = QMenu(self.export_button)
        self.export_menu.aboutToShow.connect(self._fill_export_menu)
        self.export_button.setMenu(self.export_menu)
        self.adapter_button = QToolButton(text="Adapter")
        self.adapter_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.adapter_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.adapter_menu = QMenu(self.adapter_button)
        self.open_adapter_entry = self.adapter_menu.addAction(
            "Open folder", lambda: self._for_job(self.open_adapter_requested.emit)
        )
        self.adapter_menu.addAction("Copy path", lambda: self._for_job(self.copy_adapter_requested.emit))
        self.adapter_menu.addSeparator()
        self.try_entry = self.adapter_menu.addAction("Try it", self._try_clicked)
        self.adapter_menu.addAction("Export…", lambda: self._for_job(self.export_adapter_requested.emit))
        self.adapter_button.setMenu(self.adapter_menu)
        self.clone_button = QPushButton("Clone…")
        self.clone_button.clicked.connect(self._clone_clicked)
        self.continue_button = ContinueButton()
        self.cancel_button = QPushButton(theme.icon("cancel"), "Cancel job")
        self.cancel_button.setToolTip("Cancel this job (Del)")
        self.cancel_button.clicked.connect(self.request_cancel)
        titles = QVBoxLayout()
        titles.setSpacing(2)
        row = QHBoxLayout()
        row.addWidget(self.title, 10)  # the room there is; a longer name elides
        row.addWidget(self.badge)
        row.addStretch(1)
        titles.addLayout(row)
        titles.addWidget(self.subtitle)
        header = QHBoxLayout()
        header.addLayout(titles, 1)
        header.addWidget(self.adapter_button, 0, Qt.AlignmentFlag.AlignTop)
        header.addWidget(self.export_button, 0, Qt.AlignmentFlag.AlignTop)
        header.addWidget(self.clone_button, 0, Qt.AlignmentFlag.AlignTop)
        header.addWidget(self.continue_button, 0, Qt.AlignmentFlag.AlignTop)
        header.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignTop)
        return header

    def _build_progress(self) -> QHBoxLayout:
        self.progress = StatusProgressBar()
        self.progress_text = QLabel(objectName="ProgressText")
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.progress_text)
        return row

    def _build_cards(self) -> QGridLayout:
        self.cards = {
            "training_loss": MetricCard("Training loss"),
            "validation_loss": MetricCard("Validation loss"),
            "throughput": MetricCard("Throughput"),
            "gpu_utilization": MetricCard("GPU utilisation"),
            "cost": MetricCard("Cost"),
        }
        grid = self.card_grid = QGridLayout()
        grid.setSpacing(8)
        for column, card in enumerate(self.cards.values()):
            grid.addWidget(card, 0, column)
            grid.setColumnStretch(column, 1)
        return grid

    @property
    def charts(self) -> tuple[MetricChart, ...]:
        return (
            self.loss_chart,
            self.gpu_chart,
            self.throughput_chart,
            self.learning_rate_chart,
            self.grad_norm_chart,
        )

    def _try_clicked(self) -> None:
        if self.job is not None:
            self.try_tabs.open(self.job)

    def _clone_clicked(self) -> None:
        if self.job is not None:
            self.clone_requested.emit(self.job.id, _retries(self.job))

    def _for_job(self, then: Callable[[str], object]) -> None:
        """Act on the job shown, if any (a header button's click)."""
        if self.job is not None:
            then(self.job.id)

    def add_tab(self, tab: MonitorTab, title: str) -> None:
        """Another tab about the job shown (Samples, Try…): told of each job via `show_job`."""
        assert isinstance(tab, QWidget)
        self.tabs.addTab(tab, title)
        self._followers.append(tab)
        tab.show_job(self.job)

    def _session_changed(self, session: Session | None) -> None:
        """The tabs that read or act through the workspace follow the state's."""
        self.log_view.reader = session.read_job_log if session is not None else None
        if session is None:
            self.try_tabs.close()
        self.try_tabs.settings = session.settings if session is not None else None
        self.continue_button.session = self.earlier_run.session = session

    # -- showing a job ---------------------------------------------------------------------------
    def clear(self) -> None:
        """No job selected."""
        self.job = None
        self.dataset = None
        for tab in self._followers:
            tab.show_job(None)
        self.pages.setCurrentWidget(self.empty)

    def show_job(self, job: Job) -> None:
        """Show the selected job at once: header and cards now, its curves once they load.

        A job other than the one on screen replaces it entirely; its charts say they are loading
        until `show_detail` brings its points.
        """
        if self.job is None or self.job.id != job.id:
            self.job = job
            self.dataset = None
            self.loss_chart.set_validation_note(None)  # until its dataset says otherwise
            self.state.select([job.id])  # a no-op when the selection chose it already
            self.summary_view.show_summary(None)
            for chart in self.charts:
                chart.readout.setText("")
                chart.vline.hide()
        self.pages.setCurrentIndex(0)
        self.update_job(job)
        self._refresh_empty_charts()

    def show_detail(self, detail: JobDetail) -> None:
        """The job with its points as records (as `jobs show` has them), into the state."""
        data = JobMetrics(job=detail.job, columns=MetricColumns.from_points(detail.metrics))
        self.state.apply(Change(jobs=(detail.job,), series=data))

    def _series_loaded(self, data: JobMetrics) -> None:
        """The state's series was replaced by a load (first load, refresh, or a thinned first look
        that the full load replaces); ignored unless it is the job on screen."""
        if self.job is None or self.job.id != data.job.id:
            return  # the user moved on while it loaded
        self.update_job(data.job)
        if data.complete:
            self._update_summary()
        for chart in self.charts:
            chart.no_points_text = no_points_text(data.job, loaded=data.complete)
        # A long series: one chart per turn of the event loop; a million points each, drawn
        # together, would hold the UI thread for the sum of the three.
        self.loss_chart.refresh(full=True)
        if len(self.series) < STAGGER_FROM:
            for chart in self.charts[1:]:
                chart.refresh(full=True)
            self._update_cards()
            return
        for delay, chart in enumerate(self.charts[1:], start=1):
            QTimer.singleShot(
                delay, self, lambda chart=chart, job=data.job.id: self._refresh_later(chart, job)
            )
        self._update_cards()

    def _refresh_later(self, chart: MetricChart, job_id: str) -> None:
        if self.job is not None and self.job.id == job_id:
            chart.refresh(full=True)

    def update_job(self, job: Job) -> None:
        """A new snapshot of the job on screen (ignored for any other job)."""
        if self.job is None or self.job.id != job.id:
            return
        status_changed = self.job.status != job.status
        self.job = job
        self.title.setText(printable(job.name))
        self.title.setToolTip(printable(job.name))
        self.badge.show_job(job)
        self.subtitle.setText(_subtitle(job))
        self.progress.setValue(round(job.progress * 10))
        self.progress_text.setText(_progress_text(job, self.state.seconds_left))
        self.error_label.setText(job.error_message or "")
        self.error_label.setVisible(bool(job.error_message))
        self.summary_view.show_settings(job)
        self._show_adapter(job)
        self.clone_button.setText("Retry…" if _retries(job) else "Clone…")
        self.clone_button.setToolTip(
            "Start a new job with these settings and the same dataset"
            if not _retries(job)
            else "Run this job again: its settings and dataset in the new-job dialog"
        )
        for tab in self._followers:
            tab.show_job(job)
        self.rules.show_job(job)
        self._show_job_state(job)
        self._update_cancel_button()
        self._update_cards()
        if status_changed:
            self._refresh_empty_charts()

    def _show_adapter(self, job: Job) -> None:
        """The adapter button: there once the job has one; a cancelled run's is partial."""
        self.adapter_button.setVisible(bool(job.artifact_url))
        partial = job.artifact_partial
        self.adapter_button.setText("Adapter (partial)" if partial else "Adapter")
        where = adapter_path(job.artifact_url) or ""
        self.adapter_button.setToolTip(
            f"{where}\nSaved when the run was cancelled: what it had learned by then" if partial else where
        )
        self.open_adapter_entry.setEnabled(adapter_folder_url(job.artifact_url) is not None)
        problem = adapter_problem(job)
        self.try_entry.setEnabled(problem is None)
        self.try_entry.setToolTip(problem or "The base model's and the adapter's answers side by side")

    def _refresh_empty_charts(self) -> None:
        """Charts without points say why: loading, not started, or ended before training."""
        if self.job is None or len(self.series):
            return
        text = no_points_text(self.job, loaded=self.loaded)
        for chart in self.charts:
            chart.no_points_text = text
            chart.refresh(full=True)

    def _show_job_state(self, job: Job) -> None:
        """What follows from the job alone: the bar's colour, a GPU or not, the smoothing."""
        run = (job.id, job.total_steps)
        new_run = self._state_of != run
        self._state_of = run
        self.progress.show_job(job)
        gpu = fmt.has_gpu(job)
        self.gpu_chart.set_present(gpu)
        self.cards["gpu_utilization"].setVisible(gpu)
        column = list(self.cards).index("gpu_utilization")
        self.card_grid.setColumnStretch(column, 1 if gpu else 0)
        if new_run:  # a job switched to, or one that now says how long it runs
            self.loss_chart.suit_to_run(job.total_steps)

    def _fill_export_menu(self) -> None:
        """CSV, and a PNG of each chart that draws something (no GPU chart for a CPU job)."""
        self.export_menu.clear()
        self.export_menu.addAction("Metrics as CSV…", self.choose_csv)
        for chart in self.charts:
            if chart.is_present:
                self.export_menu.addAction(
                    f"{chart.title} chart as PNG…", functools.partial(self._choose_png, chart)
                )

    def _points_added(self, job_id: str, _count: int) -> None:
        if self.job is not None and job_id == self.job.id and not self._redraw.isActive():
            self._redraw.start()

    def _jobs_changed(self, jobs: list[Job]) -> None:
        for job in jobs:
            if self.job is not None and job.id == self.job.id:
                self.update_job(job)

    def tick(self) -> None:
        """Once a second: the ETA and elapsed time move on, and the summary with them."""
        if self.job is not None:
            self.progress_text.setText(_progress_text(self.job, self.state.seconds_left))
            self.rules.show_job(self.job)
            self._update_summary()

    def set_dataset(self, job_id: str, dataset: Dataset | None) -> None:
        """The dataset of the job on screen, loaded off the UI thread (ignored for another job)."""
        if self.job is not None and self.job.id == job_id:
            self.dataset = dataset
            reason = (
                None
                if dataset is None
                else no_validation_reason(self.job.hyperparameters, dataset.total_pairs)
            )
            self.loss_chart.set_validation_note(reason)
            self._update_summary()

    def _update_summary(self) -> None:
        """The Summary tab from the points in hand (once all are loaded), while it is on screen."""
        if self.job is None or self.tabs.currentWidget() is not self.summary_view:
            return
        if not self.loaded:
            self.summary_view.show_summary(None)
            return
        figures = (
            figures_from_columns({name: self.series.column(name) for name in _SUMMARY_COLUMNS})
            if len(self.series)
            else PointFigures()
        )
        self.summary_view.show_summary(summarise(self.job, self.dataset, figures))

    def _redraw_charts(self) -> None:
        for chart in self.charts:
            chart.refresh()
        self._update_cards()

    def _update_cards(self) -> None:
        job = self.job
        if job is None:
            return
        steps = self.series.steps
        for name in ("training_loss", "validation_loss", "throughput", "gpu_utilization"):
            value, step = _latest(self.series, name, steps)
            if value is None:
                value, step = fmt.metric(job, name), None
            hint = f"step {step:,}" if step is not None else ""
            self.cards[name].set(_card_text(name, value, job), hint)
        if job.final_cost is not None:
            self.cards["cost"].set(fmt.money(job.final_cost), "final")
        else:
            rate = job.hourly_rate * job.gpu_count
            self.cards["cost"].set(fmt.money(job.current_cost), f"{fmt.money(rate)}/h" if rate else "")

    # -- cancel ----------------------------------------------------------------------------------
    def _update_cancel_button(self) -> None:
        job = self.job
        cancelling = job is not None and job.is_cancelling
        self.cancel_button.setText("Cancelling…" if cancelling else "Cancel job")
        self.cancel_button.setEnabled(
            job is not None and job.status.is_cancellable and not cancelling and self._cancel_box is None
        )

    def request_cancel(self) -> None:
        """Ask for confirmation (without blocking the event loop); confirmed → cancel_confirmed."""
        job = self.job
        if job is None or not self.cancel_button.isEnabled():
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Cancel job",
            f"Cancel “{job.name}”?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self,
        )
        box.setInformativeText("The cluster stops the job; the cost so far is still charged.")
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.button(QMessageBox.StandardButton.Yes).setText("Cancel job")
        box.button(QMessageBox.StandardButton.No).setText("Keep running")
        box.finished.connect(lambda result, job_id=job.id: self._cancel_answered(job_id, result))
        self._cancel_box = box
        self._update_cancel_button()
        box.open()

    def _cancel_answered(self, job_id: str, result: int) -> None:
        box, self._cancel_box = self._cancel_box, None
        if box is not None:
            box.deleteLater()
        if result == QMessageBox.StandardButton.Yes and self.job is not None and self.job.id == job_id:
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Cancelling…")
            self.cancel_confirmed.emit(job_id)
        else:
            self._update_cancel_button()

    def cancel_failed(self, job_id: str) -> None:
        """The cancel could not be asked for; let the user try again."""
        if self.job is not None and self.job.id == job_id:
            self._update_cancel_button()

    # -- export ----------------------------------------------------------------------------------
    def choose_csv(self) -> None:
        if self.job is not None:
            self._save_dialog(f"{_safe(self.job.name)}-metrics.csv", "CSV (*.csv)", self._export_csv)

    def _choose_png(self, chart: MetricChart) -> None:
        if self.job is not None:
            name = f"{_safe(self.job.name)}-{_safe(chart.title.lower())}.png"
            self._save_dialog(name, "PNG image (*.png)", lambda path: self.export_png(chart, path))

    def _save_dialog(self, name: str, filter_: str, then: object) -> None:
        dialog = QFileDialog(self, "Export", str(Path.home() / name), filter_)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.fileSelected.connect(lambda path: then(Path(path)))  # type: ignore[operator]
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def _export_csv(self, path: Path) -> None:
        self.export_requested.emit(self.series.copy(), path)

    def export_png(self, chart: MetricChart, path: Path) -> bool:
        ok = chart.export_png(path)
        self.message.emit(f"Saved {path.name}" if ok else f"Could not write {path}")
        return ok


def no_points_text(job: Job, *, loaded: bool) -> str:
    """What a chart without points says for this job."""
    if not loaded:
        return "Loading metrics…"
    if job.status is JobStatus.QUEUED:
        return "Queued: charts start with the job's first metrics"
    if job.status is JobStatus.FAILED:
        return "Failed before training reported any metrics"
    if job.status is JobStatus.CANCELLED:
        return "Cancelled before training reported any metrics"
    if job.status is JobStatus.COMPLETED:
        return "This job recorded no metrics"
    return MetricChart.WAITING


def _latest(series: MetricSeries, name: str, steps: np.ndarray) -> tuple[float | None, int | None]:
    """The newest finite value and its step, looked for from the end in growing windows: the
    card of a ten-million-point run reads its last points, not all of them."""
    values = series.column(name)
    end, window = len(values), 256
    while end > 0:
        start = max(0, end - window)
        finite = np.flatnonzero(np.isfinite(values[start:end]))
        if len(finite):
            last = start + int(finite[-1])
            return float(values[last]), int(steps[last])
        end, window = start, window * 8
    return None, None


def _card_text(name: str, value: float | None, job: Job) -> str:
    if name == "throughput":
        return fmt.throughput(value)
    if name == "gpu_utilization":
        if value is None and (job.gpu_type == "cpu" or not job.gpu_type):
            return "No GPU"
        return fmt.percent(value)
    return fmt.loss(value)


def _retries(job: Job) -> bool:
    """A failed or cancelled job is run again (retry); any other is cloned."""
    return job.status in (JobStatus.FAILED, JobStatus.CANCELLED)


def _subtitle(job: Job) -> str:
    params = job.hyperparameters or {}
    parts = [fmt.gpu(job)]
    if "learning_rate" in params:
        parts.append(f"lr {fmt.learning_rate(float(params['learning_rate']))}")
    if "lora_rank" in params:
        parts.append(f"rank {params['lora_rank']}")
    if "batch_size" in params:
        parts.append(f"batch {params['batch_size']}")
    parts.append(f"created {fmt.timestamp(job.created_at)}")
    parts.append(job.id[:8])
    parts.extend(f"#{tag}" for tag in job.tags)
    came_from = lineage(job)
    if came_from:
        parts.append(came_from)
    return " · ".join(parts)


def _progress_text(job: Job, eta: Callable[[Job], float | None]) -> str:
    parts = []
    if job.total_steps:
        parts.append(f"step {job.current_step:,} / {job.total_steps:,}")
    if job.total_epochs:
        parts.append(f"epoch {job.current_epoch} of {job.total_epochs}")
    parts.append(f"{job.progress:.0f}%")
    if job.status.is_terminal:
        took = fmt.elapsed_seconds(job)
        parts.append(f"took {fmt.duration(took)}" if took is not None else "never started")
    elif job.started_at is not None:
        parts.append(f"elapsed {fmt.duration(fmt.elapsed_seconds(job))}")
        parts.append(f"ETA {fmt.duration(eta(job))}")
    else:
        parts.append("waiting to start")
    return " · ".join(parts)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-") or "job"
