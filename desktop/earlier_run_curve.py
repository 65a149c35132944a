"""The runs a continued job carries on, drawn faintly on its loss chart before its own curve.

A job continued from a checkpoint numbers its steps on from it, so its parent's training loss up to
that step (and the grandparent's before that: core.jobs.resume.earlier_points) ends where the job's
own curve begins: drawn in the training colour, faint, the two read as one run.
"""

from __future__ import annotations

import functools

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject

from core.jobs.metric_columns import MetricColumns
from core.records import Job
from desktop import theme
from desktop.charts import LossChart
from desktop.metric_chart import make_curve
from desktop.metric_series import smooth
from desktop.session import Session

ALPHA = 110  # of 255: plainly the same curve, plainly not this job's


class EarlierRunCurve(QObject):
    """Owns one faint curve on `chart`; `show_job` loads what the job's ancestors recorded. A child
    of the chart, so its connections end with it."""

    def __init__(self, chart: LossChart) -> None:
        super().__init__(chart)
        self.chart = chart
        self.session: Session | None = None  # set while a workspace is open
        self.curve = make_curve(2.0)
        self.curve.setZValue(-1)  # beneath the job's own curves
        chart.plot_item.addItem(self.curve)
        self.job_id: str | None = None
        self.points = MetricColumns({"step": np.empty(0), "training_loss": np.empty(0)})
        chart.smoothing_slider.valueChanged.connect(lambda _value: self._draw())
        theme.current().changed.connect(self._color)
        self._color()

    def show_job(self, job: Job | None) -> None:
        """The job on screen: its ancestors' points are loaded once per job (None: nothing)."""
        job_id = job.id if job is not None and job.resume_from_step is not None else None
        if job_id == self.job_id:
            return
        self.job_id = job_id
        self._set(MetricColumns({"step": np.empty(0), "training_loss": np.empty(0)}))
        if job_id is not None and self.session is not None:
            self.session.earlier_points(
                job_id=job_id,
                on_done=functools.partial(self._loaded, job_id),
                on_error=lambda _error: None,  # a parent deleted meanwhile: the job's own curve only
            )

    def _loaded(self, job_id: str, points: MetricColumns) -> None:
        if job_id == self.job_id:
            self._set(points)

    def _set(self, points: MetricColumns) -> None:
        self.points = points
        self._draw()

    def _draw(self) -> None:
        steps, loss = self.points["step"], self.points["training_loss"]
        if len(steps):
            loss, _ = smooth(loss, self.chart.smoothing)
        self.curve.setData(steps, loss)

    def _color(self) -> None:
        colour = pg.mkColor(theme.current().charts.training)
        colour.setAlpha(ALPHA)
        self.curve.setPen(pg.mkPen(colour, width=2.0))
