"""The compare view: shown instead of the monitor while several jobs are selected.

The overlaid loss chart beside the table of settings and summaries, and in a tab beside them the
runs' sample answers side by side. The window loads each job
off the UI thread (`Session.load_compared_run`) and hands it over with `set_run`; each is drawn
as it arrives.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.jobs.comparison import ComparedRun
from core.records import Job
from desktop.compare_chart import CompareChart
from desktop.compare_samples import CompareSamples
from desktop.compare_table import DifferencesTable


class CompareView(QWidget):
    """Signals:
    loaded(): every compared job's points are drawn and its summary is in the table.
    """

    loaded = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chart = CompareChart()
        self.table = DifferencesTable()
        self.title = QLabel(objectName="MonitorTitle")
        self.progress = QLabel(objectName="Muted")
        self.only_differences = QCheckBox("Only differences")
        self.only_differences.setToolTip("Hide the rows where every job has the same value")
        self.only_differences.toggled.connect(self.table.set_only_differences)
        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addWidget(self.progress)
        header.addStretch(1)
        header.addWidget(self.only_differences)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.chart)
        splitter.addWidget(self.table)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([700, 520])  # at 1280 wide: three jobs' columns beside the chart
        splitter.setChildrenCollapsible(False)
        self.samples = CompareSamples()
        self.tabs = QTabWidget(documentMode=True)
        self.tabs.addTab(splitter, "Curves")
        self.tabs.addTab(self.samples, "Samples")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(8)
        layout.addLayout(header)
        layout.addWidget(self.tabs, 1)
        self._runs: dict[str, ComparedRun] = {}

    @property
    def job_ids(self) -> list[str]:
        return self.chart.job_ids

    def show_jobs(self, jobs: list[Job]) -> None:
        """Compare these jobs; their points and summaries follow through `set_run`."""
        self._runs = {}
        self.chart.set_jobs(jobs)
        colours = [self.chart.colour(job.id) for job in jobs]
        self.table.set_jobs(jobs, colours)
        self.samples.set_jobs(jobs, colours)
        self.title.setText(f"Comparing {len(jobs)} jobs")
        self._show_progress()

    def set_run(self, run: ComparedRun) -> None:
        """A compared job's points and summary, loaded (ignored for a job no longer compared)."""
        if run.job.id not in self.job_ids:
            return
        self._runs[run.job.id] = run
        self.chart.set_run(run)
        self.table.update_job(run.job)
        self.table.set_summary(run.job.id, run.summary)
        self.samples.set_samples(run.job.id, run.samples)
        self._show_progress()
        if self.is_loaded:
            self.loaded.emit()

    def run(self, job_id: str) -> ComparedRun | None:
        return self._runs.get(job_id)

    def update_job(self, job: Job) -> None:
        """A newer snapshot of a compared job (status, cost): the table shows it."""
        if job.id in self.job_ids:
            self.table.update_job(job)

    @property
    def is_loaded(self) -> bool:
        return bool(self.job_ids) and len(self._runs) == len(self.job_ids)

    def _show_progress(self) -> None:
        total, done = len(self.job_ids), len(self._runs)
        self.progress.setText("" if done == total else f"loading {done} of {total}…")
