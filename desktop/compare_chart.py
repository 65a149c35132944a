"""The compare view's chart: the training and validation loss of several jobs overlaid.

One colour per job, training solid and validation dashed; the legend names each job, and a click
on its entry (the line or the name) hides or shows that job's two curves. The x axis is the step,
or the time since the run's first point. Curves hold every point; pyqtgraph draws what is in view,
thinned to the pixels (clip to view, peak downsampling), so twenty runs of 100,000 points redraw
quickly and zooming in shows every point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from core.jobs.comparison import ComparedRun
from core.jobs.metric_columns import RECORDED_AT
from core.records import Job
from core.safe_text import printable
from desktop import theme, view_state
from desktop.axes import ReadableAxis
from desktop.chart_menu import ChartMenu
from desktop.charts import smoothing_for
from desktop.metric_series import smooth
from desktop.plot_style import color_plot, set_up_plot

# Tableau 20, strong shades first: twenty jobs, twenty colours a person can tell apart on white.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip
SPARSE = 200  # validation reported at this many points or fewer is drawn unsmoothed, with markers
STEP, TIME = "step", "time"
# (seconds per unit, axis title): the unit is chosen by the longest run
_TIME_UNITS = (
    (3600.0, "hours since first point"),
    (60.0, "minutes since first point"),
    (1.0, "seconds since first point"),
)
LEGEND_NAME = 40  # characters of a job's name in the legend


def colour_of(position: int) -> str:
    return PALETTE[position % len(PALETTE)]


@dataclass
class _Curves:
    job: Job
    colour: str
    training: pg.PlotDataItem
    validation: pg.PlotDataItem
    run: ComparedRun | None = None


class CompareChart(QFrame):
    """The overlaid loss curves of the compared jobs."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ChartFrame")
        self._curves: dict[str, _Curves] = {}
        self.x_mode = STEP
        self.smoothing = 0.0
        self._unit = _TIME_UNITS[-1]
        self._build()
        theme.current().changed.connect(self.apply_colors)
        self.apply_colors()

    def _build(self) -> None:
        header = QHBoxLayout()
        header.addWidget(QLabel("Loss", objectName="ChartTitle"))
        self.key = QLabel("solid: training · dashed: validation", objectName="Muted")
        header.addWidget(self.key)
        header.addStretch(1)
        # The monitor's smoothing, shared: moving either slider moves both.
        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, 99)
        self.smoothing_slider.setFixedWidth(110)
        self.smoothing_slider.setToolTip("Exponential moving average of the loss, as in the monitor")
        self.smoothing_slider.valueChanged.connect(lambda value: view_state.remember_smoothing(value / 100))
        view_state.smoothing_changes().changed.connect(self._smoothing_changed)
        self.smoothing_label = QLabel(objectName="Muted")
        header.addSpacing(12)
        header.addWidget(QLabel("Smoothing", objectName="Muted"))
        header.addWidget(self.smoothing_slider)
        header.addWidget(self.smoothing_label)
        header.addSpacing(12)
        header.addWidget(QLabel("x axis", objectName="Muted"))
        self.x_choice = QComboBox()
        self.x_choice.addItem("Step", STEP)
        self.x_choice.addItem("Relative time", TIME)
        self.x_choice.setToolTip("Step, or the time since each run's first point")
        self.x_choice.currentIndexChanged.connect(lambda _i: self.set_x_mode(self.x_choice.currentData()))
        header.addWidget(self.x_choice)
        self.log_check = QCheckBox("Log scale")
        self.log_check.toggled.connect(lambda on: self.plot_item.setLogMode(y=on))
        header.addWidget(self.log_check)
        self.bottom_axis = ReadableAxis("bottom", "step")
        self.plot_widget = pg.PlotWidget(
            axisItems={"bottom": self.bottom_axis, "left": ReadableAxis("left", "loss")}
        )
        self.plot_widget.setMinimumHeight(160)
        self.plot_item: pg.PlotItem = self.plot_widget.getPlotItem()
        set_up_plot(self.plot_item)
        self.chart_menu = ChartMenu(
            self.plot_widget,
            export_png=self.choose_png,
            log_scale=(self.log_check.isChecked, self.log_check.setChecked),
        )
        self.legend = self.plot_item.addLegend(offset=(-10, 10), labelTextSize="8pt")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 6)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self.plot_widget, 1)

    def choose_png(self) -> bool:
        """Export the compared curves as a PNG, where the person picks."""
        path, _ = QFileDialog.getSaveFileName(self, "Export chart as PNG", "loss-compared.png", "PNG (*.png)")
        return bool(path) and self.plot_widget.grab().save(path, "PNG")

    def apply_colors(self) -> None:
        colours = theme.current().charts
        color_plot(self.plot_widget, colours)
        self.legend.setLabelTextColor(colours.foreground)

    # -- the jobs --------------------------------------------------------------------------------
    def set_jobs(self, jobs: list[Job]) -> None:
        """Compare these jobs (in this order, which gives their colours); their curves fill in as
        `set_run` brings each one's points."""
        self.legend.clear()
        for curves in self._curves.values():
            self.plot_item.removeItem(curves.training)
            self.plot_item.removeItem(curves.validation)
        self._curves = {}
        self.legend.setColumnCount(1 if len(jobs) <= 10 else 2)
        for position, job in enumerate(jobs):
            colour = colour_of(position)
            # One-pixel pens: Qt draws them on its fast path; at 1.6 px forty curves took 250 ms a paint.
            training = _curve(pg.mkPen(colour, width=1))
            validation = _curve(pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine))
            validation.setSymbolBrush(colour)
            validation.setSymbolPen(pg.mkPen(colour))
            self.plot_item.addItem(training)
            self.plot_item.addItem(validation)
            # The legend's click shows or hides the training curve; its validation curve follows.
            training.visibleChanged.connect(lambda t=training, v=validation: v.setVisible(t.isVisible()))
            self.legend.addItem(training, _short(printable(job.name)))
            sample, label = self.legend.items[-1]
            label.mouseClickEvent = sample.mouseClickEvent  # the name is what people click
            label.setToolTip(printable(job.name))
            self._curves[job.id] = _Curves(job, colour, training, validation)
        self._update_smoothing()

    def set_run(self, run: ComparedRun) -> None:
        """One job's points arrived: draw them (ignored for a job no longer compared)."""
        curves = self._curves.get(run.job.id)
        if curves is None:
            return
        curves.run = run
        curves.job = run.job
        unit = self._time_unit()
        if self.x_mode == TIME and unit != self._unit:
            self._draw_all()  # a longer run: every curve in the new unit
        else:
            self._draw(curves, unit[0])

    @property
    def job_ids(self) -> list[str]:
        return list(self._curves)

    def colour(self, job_id: str) -> str:
        return self._curves[job_id].colour

    def loaded_count(self) -> int:
        return sum(1 for curves in self._curves.values() if curves.run is not None)

    def set_x_mode(self, mode: str) -> None:
        """STEP or TIME (since each run's first point)."""
        self.x_mode = mode
        if self.x_choice.currentData() != mode:
            self.x_choice.setCurrentIndex(self.x_choice.findData(mode))
        self._draw_all()
        self.plot_item.enableAutoRange()

    # -- reading what is drawn (tests, benchmarks) -----------------------------------------------
    def curves(self) -> list[pg.PlotDataItem]:
        """Every curve on the plot: each job's training and validation loss."""
        return [item for c in self._curves.values() for item in (c.training, c.validation)]

    def legend_names(self) -> list[str]:
        return [label.text for _sample, label in self.legend.items]

    def visible_jobs(self) -> list[str]:
        return [job_id for job_id, c in self._curves.items() if c.training.isVisible()]

    # -- drawing ---------------------------------------------------------------------------------
    def _smoothing_changed(self, _weight: float) -> None:
        self._update_smoothing()

    def _update_smoothing(self) -> None:
        """The monitor's smoothing (one for both); what suits the longest run when the monitor has
        shown none yet."""
        current = view_state.current_smoothing()
        if current is None:
            longest = max((c.job.total_steps or 0 for c in self._curves.values()), default=0)
            view_state.suit_smoothing(smoothing_for(longest or None))  # comes back as `changed`
            return
        self.smoothing = current
        self.smoothing_label.setText(f"{self.smoothing:.2f}")
        if self.smoothing_slider.value() != round(self.smoothing * 100):
            self.smoothing_slider.blockSignals(True)  # not the person's choice: nothing to remember
            self.smoothing_slider.setValue(round(self.smoothing * 100))
            self.smoothing_slider.blockSignals(False)
        # A smoothed curve has no spikes for "peak" to keep: one point per pixel draws it faster.
        self.plot_item.setDownsampling(auto=True, mode="subsample" if self.smoothing else "peak")
        self._draw_all()

    def _draw_all(self) -> None:
        self._unit = self._time_unit()
        unit, title = self._unit
        self.bottom_axis.setLabel(title if self.x_mode == TIME else "step")
        for curves in self._curves.values():
            if curves.run is not None:
                self._draw(curves, unit)

    def _time_unit(self) -> tuple[float, str]:
        longest = 0.0
        for curves in self._curves.values():
            times = curves.run.columns[RECORDED_AT] if curves.run is not None else np.empty(0)
            if len(times):
                longest = max(longest, float(times[-1] - times[0]))
        return next(((size, title) for size, title in _TIME_UNITS if longest >= 3 * size), _TIME_UNITS[-1])

    def _draw(self, curves: _Curves, unit: float) -> None:
        columns = curves.run.columns  # type: ignore[union-attr]
        steps = columns["step"]
        if self.x_mode == TIME and len(steps):
            times = columns[RECORDED_AT]
            x = (times - times[0]) / unit
        else:
            x = steps
        training = columns["training_loss"]
        smoothed, _ = smooth(training, self.smoothing)
        curves.training.setData(x, smoothed)
        validation = columns["validation_loss"]
        present = np.isfinite(validation)
        values = validation[present]
        sparse = len(values) <= SPARSE
        if not sparse:
            values, _ = smooth(values, self.smoothing)
        curves.validation.setData(x[present], values)
        curves.validation.setSymbol("o" if sparse and len(values) else None)
        curves.validation.setSymbolSize(4)


def _curve(pen: pg.QtGui.QPen) -> pg.PlotDataItem:
    item = pg.PlotDataItem(pen=pen, skipFiniteCheck=True, connect="finite")
    item.setClipToView(True)
    item.setDownsampling(auto=True, method="peak")
    return item


def _short(name: str) -> str:
    return name if len(name) <= LEGEND_NAME else name[: LEGEND_NAME - 1] + "…"
