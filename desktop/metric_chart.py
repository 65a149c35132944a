"""What every chart of the monitor shares: a titled pyqtgraph plot over the job's `MetricSeries`.

Curves use clip-to-view and downsampling so a million points redraw quickly. While points arrive
a chart keeps the user's zoom, and follows the newest step when the user's view reaches it. A
crosshair reads out the point nearest the pointer; otherwise the readout shows the newest point.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QStackedLayout, QVBoxLayout, QWidget

from desktop import formatting as fmt
from desktop import theme
from desktop.axes import ReadableAxis, StepAxis
from desktop.chart_menu import ChartMenu
from desktop.metric_series import MetricSeries
from desktop.plot_style import color_plot, set_up_plot

pg.setConfigOptions(antialias=True, useNumba=False)
TAIL_SLACK = 0.02  # a view whose right edge is within 2 % of its width of the newest step follows it


def make_curve(width: float = 1.6, *, antialias: bool = True) -> pg.PlotDataItem:
    item = pg.PlotDataItem(
        pen=pg.mkPen(width=width), skipFiniteCheck=True, connect="finite", antialias=antialias
    )
    item.setClipToView(True)
    item.setDownsampling(auto=True, method="peak")
    return item


class MetricChart(QFrame):
    """A titled chart with a crosshair readout, a placeholder when there is nothing to draw.

    Signals:
        hovered(int, float): the step under the crosshair and the chart's value there.
        export_png_requested(), export_csv_requested(): chosen in the chart's own menu.
    """

    hovered = Signal(int, float)
    export_png_requested = Signal()
    export_csv_requested = Signal()
    title = ""
    unit = ""
    y_title = ""  # the left axis's title, with its unit
    WAITING = "Waiting for the first metrics…"

    def __init__(self, series: MetricSeries, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ChartFrame")
        self.series = series
        self._last_x: float | None = None
        self._hovering = False
        self._user_zoomed = False
        self.no_points_text = self.WAITING  # what an empty series means: the monitor sets it per job
        self._build()
        theme.current().changed.connect(self.apply_colors)
        self.apply_colors()

    # -- layout ----------------------------------------------------------------------------------
    def _build(self) -> None:
        self.header = QHBoxLayout()
        self.header.addWidget(QLabel(self.title, objectName="ChartTitle"))
        self.header.addStretch(1)
        self.readout = QLabel("Point at the chart to read a value", objectName="ChartReadout")
        self.plot_widget = pg.PlotWidget(
            axisItems={"bottom": StepAxis("bottom", "step"), "left": ReadableAxis("left", self.y_title)}
        )
        self.plot_widget.setMinimumHeight(120)
        self.plot_item: pg.PlotItem = self.plot_widget.getPlotItem()
        self.plot_item.showGrid(x=True, y=True)
        set_up_plot(self.plot_item)
        self.placeholder = QLabel(self.WAITING, objectName="EmptyState", wordWrap=True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedLayout()
        self.stack.addWidget(self.plot_widget)
        self.stack.addWidget(self.placeholder)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 6)
        layout.setSpacing(4)
        layout.addLayout(self.header)
        self.body = QWidget()  # all but the title line, which stays when a chart folds
        body = self.body_layout = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(4)
        body.addWidget(self.readout)
        body.addLayout(self.stack, 1)
        layout.addWidget(self.body, 1)
        self.vline = pg.InfiniteLine(angle=90, movable=False)
        self.plot_item.addItem(self.vline, ignoreBounds=True)
        self.vline.hide()
        self._mouse = pg.SignalProxy(self.plot_widget.scene().sigMouseMoved, rateLimit=60, slot=self._moved)
        self.plot_item.getViewBox().sigRangeChangedManually.connect(self._zoomed_by_user)
        self.chart_menu = ChartMenu(
            self.plot_widget,
            export_png=lambda: self.export_png_requested.emit(),
            export_csv=lambda: self.export_csv_requested.emit(),
            log_scale=self.log_scale_control(),
        )

    def log_scale_control(self) -> tuple[Callable[[], bool], Callable[[bool], None]] | None:
        """(is on, turn on or off) for a chart whose y axis may be logarithmic (the loss chart)."""
        return None

    def apply_colors(self) -> None:
        colours = theme.current().charts
        color_plot(self.plot_widget, colours)
        self.vline.setPen(pg.mkPen(colours.crosshair, style=Qt.PenStyle.DashLine))
        self.color_curves(colours)

    def color_curves(self, colours: theme.ChartColors) -> None:
        """Set the pens of the chart's curves."""

    @property
    def is_present(self) -> bool:
        """False when the chart is folded to its title line (nothing it could draw)."""
        return not self.body.isHidden()

    # -- data ------------------------------------------------------------------------------------
    def refresh(self, *, full: bool = False) -> None:
        """Redraw from the series; `full` after the series was replaced rather than extended."""
        tail = None if full else self._tail_window()
        steps = self.series.steps
        if full:
            self._user_zoomed = False
            self.plot_item.enableAutoRange()
        self.draw(steps, full=full)
        self._last_x = float(steps[-1]) if len(steps) else None
        if tail is not None and self._last_x is not None:
            width = tail[1] - tail[0]
            self.plot_item.setXRange(self._last_x - width, self._last_x, padding=0)
        if not self._user_zoomed:
            self.fit_y()
        if not self._hovering:
            self.show_latest()
        message = self.empty_message()
        self.placeholder.setText(message or "")
        self.stack.setCurrentWidget(self.placeholder if message else self.plot_widget)

    def draw(self, steps: np.ndarray, *, full: bool) -> None:
        raise NotImplementedError

    def fit_y(self) -> None:
        """Set the y range while the user has not zoomed (default: fit the data)."""

    def show_latest(self) -> None:
        """Read out the newest point (what the user sees when not pointing at the chart)."""
        if len(self.series):
            index = len(self.series) - 1
            self.readout.setText(self.readout_text(int(self.series.steps[index]), self.value_at(index)))
        else:
            self.readout.setText("")

    def empty_message(self) -> str | None:
        return None if len(self.series) else self.no_points_text

    def value_at(self, index: int) -> float:
        raise NotImplementedError

    def readout_text(self, step: int, value: float) -> str:
        return f"step {step:,} · {fmt.number(value)}{self.unit}"

    def _tail_window(self) -> tuple[float, float] | None:
        """The x range to keep following, when the user zoomed and is looking at the newest step."""
        view = self.plot_item.getViewBox()
        if view.autoRangeEnabled()[0] or self._last_x is None:
            return None
        x0, x1 = view.viewRange()[0]
        return (x0, x1) if x1 >= self._last_x - TAIL_SLACK * (x1 - x0) else None

    def _zoomed_by_user(self, *_args: object) -> None:
        self._user_zoomed = True

    # -- crosshair -------------------------------------------------------------------------------
    def leaveEvent(self, event: object) -> None:
        self._hovering = False
        self.vline.hide()
        self.show_latest()
        super().leaveEvent(event)  # type: ignore[arg-type]

    def _moved(self, event: tuple[Any, ...]) -> None:
        position = event[0]
        if not self.plot_item.sceneBoundingRect().contains(position) or not len(self.series):
            return
        self._hovering = True
        x = self.plot_item.getViewBox().mapSceneToView(position).x()
        self.show_step(x)

    def show_step(self, x: float) -> None:
        """Put the crosshair on the point nearest to step `x` and read its value out."""
        steps = self.series.steps
        if not len(steps):
            return
        index = int(np.clip(np.searchsorted(steps, x), 0, len(steps) - 1))
        if index > 0 and abs(steps[index - 1] - x) < abs(steps[index] - x):
            index -= 1
        step, value = int(steps[index]), self.value_at(index)
        self.vline.setPos(step)
        self.vline.show()
        self.readout.setText(self.readout_text(step, value))
        self.hovered.emit(step, value)

    def export_png(self, path: Path) -> bool:
        return self.grab().save(str(path), "PNG")
