"""The monitor's charts of how the optimizer is doing: the learning rate the scheduler set at each
step, and the gradient norm before clipping (a spike there comes before a loss that diverges)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from desktop import theme
from desktop.metric_chart import MetricChart, make_curve
from desktop.metric_series import MetricSeries

__all__ = ["GradNormChart", "LearningRateChart"]


class _ColumnChart(MetricChart):
    """One column of the series as a line; says so when the run reports none of it."""

    column = ""
    missing = ""

    def __init__(self, series: MetricSeries, parent: QWidget | None = None) -> None:
        self.curve = make_curve(1.6)
        super().__init__(series, parent)
        self.plot_item.addItem(self.curve)
        self.curve.setDownsampling(auto=True, method="mean")  # see ThroughputChart

    def pen_colour(self, colours: theme.ChartColors) -> str:
        raise NotImplementedError

    def color_curves(self, colours: theme.ChartColors) -> None:
        self.curve.setPen(pg.mkPen(self.pen_colour(colours), width=1.6))

    def draw(self, steps: np.ndarray, *, full: bool) -> None:
        self.curve.setData(steps, self.series.column(self.column))

    def value_at(self, index: int) -> float:
        return float(self.series.column(self.column)[index])

    def fit_y(self) -> None:
        """Fit the data; a constant one (a learning rate without a schedule) is centred in a range
        of its own size, where pyqtgraph would draw it flat at the middle of ±0.5."""
        values = self.series.column(self.column)
        low, high = np.fmin.reduce(values, initial=np.inf), np.fmax.reduce(values, initial=-np.inf)
        if np.isfinite(low) and low == high:  # skips NaN, copies nothing
            value = float(low)
            pad = abs(value) * 0.5 or 1.0
            self.plot_item.setYRange(value - pad, value + pad, padding=0)
        else:
            self.plot_item.enableAutoRange(axis="y")

    def readout_text(self, step: int, value: float) -> str:
        return f"step {step:,} · {value:.3g}" if np.isfinite(value) else f"step {step:,} · –"

    def empty_message(self) -> str | None:
        if not len(self.series):
            return self.no_points_text
        if not np.isfinite(self.series.column(self.column)).any():
            return self.missing
        return None


class LearningRateChart(_ColumnChart):
    """The learning rate of each step: warm-up, then the schedule's decay."""

    title = "Learning rate"
    y_title = "learning rate"
    column = "learning_rate"
    missing = "No learning rate reported"

    def pen_colour(self, colours: theme.ChartColors) -> str:
        return colours.learning_rate


class GradNormChart(_ColumnChart):
    """The gradients' norm at each optimizer step, before clipping."""

    title = "Gradient norm"
    y_title = "norm"
    column = "grad_norm"
    missing = "No gradient norm reported (the cluster's trainer sends none)"

    def pen_colour(self, colours: theme.ChartColors) -> str:
        return colours.grad_norm
