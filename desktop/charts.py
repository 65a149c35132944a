"""The monitor's charts of one job: loss (smoothed, log-y), GPU utilisation, throughput."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QLabel, QSlider, QWidget

from desktop import formatting as fmt
from desktop import theme, view_state
from desktop.elided_label import ElidedLabel
from desktop.metric_chart import MetricChart, make_curve
from desktop.metric_series import MetricSeries, smooth

QWIDGETSIZE_MAX = 16_777_215
__all__ = ["GpuChart", "LossChart", "MetricChart", "ThroughputChart"]
DEFAULT_SMOOTHING = 0.6  # before a job says how long it runs
MAX_SMOOTHING = 0.95
SMOOTH_SLICE = 250_000  # points smoothed per turn of the event loop (about 10 ms)


def smoothing_for(total_steps: int | None) -> float:
    """An EMA weight averaging over about 1 % of the run: none for a 60-step demo, 0.9 for 1,000
    steps, MAX_SMOOTHING from 2,000 on (where a weight of 0.8 left the curve a band of noise)."""
    if not total_steps:
        return DEFAULT_SMOOTHING
    window = total_steps / 100
    if window <= 1:
        return 0.0
    return round(min(MAX_SMOOTHING, 1 - 1 / window), 2)


class _Smoothed:
    """The smoothed copy of a growing column, extended in O(new points) as the column grows, at
    most `SMOOTH_SLICE` points a call: a long first load is smoothed over several turns of the
    event loop instead of holding the UI thread for all of it."""

    def __init__(self) -> None:
        self._buffer = np.empty(0)
        self._size = 0
        self._state = (0.0, 0.0)
        self._weight = 0.0

    @property
    def values(self) -> np.ndarray:
        return self._buffer[: self._size]

    def restart(self, weight: float) -> None:
        self._size, self._state, self._weight = 0, (0.0, 0.0), weight

    def catch_up(self, column: np.ndarray) -> bool:
        """Smooth up to SMOOTH_SLICE more of `column`'s points; True once every one is."""
        if self._size > len(column):  # the column was replaced by a shorter one
            self.restart(self._weight)
        done = self._size
        stop = min(len(column), done + SMOOTH_SLICE)
        if stop > done:
            more, self._state = smooth(column[done:stop], self._weight, self._state)
            if len(self._buffer) < stop:
                grown = np.empty(max(len(column), len(self._buffer) + len(self._buffer) // 4))
                grown[:done] = self._buffer[:done]
                self._buffer = grown
            self._buffer[done:stop] = more
            self._size = stop
        return self._size == len(column)


class LossChart(MetricChart):
    """Training and validation loss, smoothed with the raw curves faint beneath; optional log y.

    Validation loss reported at a few steps is drawn as it is, with markers; reported at every
    step it is smoothed like the training loss.

    Signals:
        smoothed_whole(): the smoothed curves were drawn with every point of the series.
    """

    smoothed_whole = Signal()
    title = "Loss"
    y_title = "loss"
    SPARSE = 200

    def __init__(self, series: MetricSeries, parent: QWidget | None = None) -> None:
        self.raw = make_curve(1.0, antialias=False)  # a dense zigzag: antialiasing it costs ~30 ms a frame
        self.validation_raw = make_curve(1.0, antialias=False)
        self.validation = make_curve(1.8)
        self.smoothed = make_curve(2.0)
        current = view_state.current_smoothing()
        self.smoothing = DEFAULT_SMOOTHING if current is None else current
        self._training = _Smoothed()
        self._validation = _Smoothed()
        self._sparse = True
        super().__init__(series, parent)
        self._smoothing_on = QTimer(self, singleShot=True, interval=0, timeout=self._draw_smoothed)
        for item in (self.raw, self.validation_raw, self.validation, self.smoothed):
            self.plot_item.addItem(item)
        # Smoothed curves have no spikes for "peak" to keep; one point per pixel halves the
        # antialiased path that dominates a redraw.
        for item in (self.validation, self.smoothed):
            item.setDownsampling(auto=True, method="subsample")
        self.plot_item.addLegend(offset=(-10, 10), labelTextSize="8pt")
        self.plot_item.legend.addItem(self.smoothed, "training")
        self.plot_item.legend.addItem(self.validation, "validation")
        self._add_controls()
        view_state.smoothing_changes().changed.connect(self._smoothing_changed)

    def _add_controls(self) -> None:
        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, 99)
        self.smoothing_slider.setValue(round(self.smoothing * 100))
        self.smoothing_slider.setFixedWidth(110)
        self.smoothing_slider.setToolTip("Exponential moving average of the loss (0: raw values)")
        self.smoothing_label = QLabel(objectName="Muted")
        self.smoothing_slider.valueChanged.connect(self._smoothing_chosen)
        self.log_check = QCheckBox("Log scale")
        self.log_check.toggled.connect(self.set_log_y)
        # Why there is no validation curve, when the run is too small to hold pairs out.
        self.validation_note = ElidedLabel(objectName="Muted")
        self.validation_note.hide()
        self.body_layout.insertWidget(1, self.validation_note)  # below the readout, above the plot
        self.header.addWidget(QLabel("Smoothing", objectName="Muted"))
        self.header.addWidget(self.smoothing_slider)
        self.header.addWidget(self.smoothing_label)
        self.header.addSpacing(8)
        self.header.addWidget(self.log_check)
        self._show_smoothing()

    def color_curves(self, colours: theme.ChartColors) -> None:
        for raw, line, colour, width in (
            (self.raw, self.smoothed, colours.training, 2.0),
            (self.validation_raw, self.validation, colours.validation, 1.8),
        ):
            faint = pg.mkColor(colour)
            faint.setAlpha(60)
            raw.setPen(pg.mkPen(faint, width=1.0))
            line.setPen(pg.mkPen(colour, width=width))
        self.validation.setSymbolBrush(colours.validation)
        self.validation.setSymbolPen(pg.mkPen(colours.validation))

    def set_validation_note(self, reason: str | None) -> None:
        """Say why the validation curve is missing (None: it is not, or not for a reason known)."""
        self.validation_note.setText(reason or "")
        self.validation_note.setVisible(bool(reason))
        self.plot_item.legend.setVisible(not reason)

    def set_smoothing(self, weight: float) -> None:
        """0 draws the raw loss; towards 1 smooths harder."""
        self.smoothing = max(0.0, min(0.99, weight))
        self._show_smoothing()
        self.draw(self.series.steps, full=True)

    def suit_to_run(self, total_steps: int | None) -> None:
        """Smooth as the run's length suits, unless the user picked a smoothing of their own."""
        view_state.suit_smoothing(smoothing_for(total_steps))
        self._smoothing_changed(view_state.current_smoothing() or 0.0)

    def _smoothing_chosen(self, value: int) -> None:
        """The user moved the slider: every chart (this one too) takes it, and the next start."""
        view_state.remember_smoothing(value / 100)

    def _smoothing_changed(self, weight: float) -> None:
        """One smoothing for every chart: this slider's, the compare view's, or the run's."""
        if round(self.smoothing, 2) != round(weight, 2):
            self.set_smoothing(weight)

    def _show_smoothing(self) -> None:
        self.smoothing_label.setText(f"{self.smoothing:.2f}")
        if self.smoothing_slider.value() != round(self.smoothing * 100):
            self.smoothing_slider.blockSignals(True)  # not the user's choice: nothing to remember
            self.smoothing_slider.setValue(round(self.smoothing * 100))
            self.smoothing_slider.blockSignals(False)

    def log_scale_control(self) -> tuple[Callable[[], bool], Callable[[bool], None]] | None:
        return (lambda: self.log_y, self.set_log_y)

    def set_log_y(self, on: bool) -> None:
        self.plot_item.setLogMode(y=on)
        if self.log_check.isChecked() != on:
            self.log_check.setChecked(on)

    @property
    def log_y(self) -> bool:
        return bool(self.plot_item.getAxis("left").logMode)

    def draw(self, steps: np.ndarray, *, full: bool) -> None:
        loss = self.series.column("training_loss")
        self.raw.setData(steps, loss)
        self.raw.setVisible(self.smoothing > 0)
        validation = self.series.column("validation_loss")
        present = np.isfinite(validation)
        v_steps, v_values = steps[present], validation[present]
        sparse = len(v_values) <= self.SPARSE
        if full or sparse != self._sparse:
            self._training.restart(self.smoothing)
            self._validation.restart(0.0 if sparse else self.smoothing)
            self._sparse = sparse
        self.validation.setSymbol("o" if sparse and len(v_values) else None)
        self.validation.setSymbolSize(5)
        self.validation_raw.setData(v_steps, v_values)
        self.validation_raw.setVisible(not sparse and self.smoothing > 0)
        if full and len(steps) > SMOOTH_SLICE:
            self.smoothed.setData([], [])  # a long series: smoothed on the next turns, drawn whole
            self.validation.setData([], [])
            self._smoothing_on.start()
        else:
            self._draw_smoothed()

    def _draw_smoothed(self) -> None:
        """Draw the smoothed curves once they are whole; until then smooth on, a slice a turn."""
        steps = self.series.steps
        validation = self.series.column("validation_loss")
        present = np.isfinite(validation)
        training_done = self._training.catch_up(self.series.column("training_loss"))
        validation_done = self._validation.catch_up(validation[present])
        if not (training_done and validation_done):
            self._smoothing_on.start()
            return
        self.smoothed.setData(steps, self._training.values)
        self.validation.setData(steps[present], self._validation.values)
        self.smoothed_whole.emit()

    @property
    def smoothing_done(self) -> bool:
        """The smoothed curves hold every point of the series."""
        return not self._smoothing_on.isActive() and len(self._training.values) == len(self.series)

    @property
    def smoothed_values(self) -> np.ndarray:
        return self._training.values

    def value_at(self, index: int) -> float:
        values = self._training.values
        return float(values[index]) if index < len(values) else float("nan")

    def readout_text(self, step: int, value: float) -> str:
        index = min(int(np.searchsorted(self.series.steps, step)), len(self.series) - 1)
        raw = self.series.column("training_loss")[index]
        validation = self.series.column("validation_loss")[index]
        text = f"step {step:,} · loss {fmt.loss(raw)}"
        if self.smoothing > 0:
            text += f" (smoothed {fmt.loss(value)})"
        if np.isfinite(validation):
            text += f" · validation {fmt.loss(validation)}"
        return text

    def empty_message(self) -> str | None:
        if not len(self.series):
            return self.no_points_text
        if not np.isfinite(self.series.column("training_loss")).any():
            return "No loss reported yet"
        return None


class GpuChart(MetricChart):
    """GPU utilisation in percent; says so when the machine has no GPU rather than drawing zeros."""

    title = "GPU utilisation"
    unit = "%"
    y_title = "%"
    NO_GPU = "No GPU on this machine"
    NO_GPU_JOB = "No GPU: this job runs on the CPU"

    def __init__(self, series: MetricSeries, parent: QWidget | None = None) -> None:
        self.curve = make_curve(1.6)
        super().__init__(series, parent)
        self.plot_item.addItem(self.curve)
        self.curve.setDownsampling(auto=True, method="mean")  # see ThroughputChart
        self.no_gpu_label = QLabel(self.NO_GPU_JOB, objectName="Muted")
        self.header.insertWidget(1, self.no_gpu_label)
        self.no_gpu_label.hide()

    def set_present(self, present: bool) -> None:
        """A job without a GPU: fold the chart to one line that says so, leaving the room to others."""
        if present == self.is_present:
            return
        self.no_gpu_label.setVisible(not present)
        self.body.setVisible(present)
        layout = self.layout()
        assert layout is not None
        margins = layout.contentsMargins()
        folded = self.header.sizeHint().height() + margins.top() + margins.bottom()
        self.setMaximumHeight(QWIDGETSIZE_MAX if present else folded)

    def color_curves(self, colours: theme.ChartColors) -> None:
        self.curve.setPen(pg.mkPen(colours.gpu, width=1.6))
        fill = pg.mkColor(colours.gpu)
        fill.setAlpha(40)
        self.curve.setFillLevel(0)
        self.curve.setBrush(fill)

    def fit_y(self) -> None:
        self.plot_item.setYRange(0, 100, padding=0.02)

    def draw(self, steps: np.ndarray, *, full: bool) -> None:
        self.curve.setData(steps, self.series.column("gpu_utilization"))

    def value_at(self, index: int) -> float:
        return float(self.series.column("gpu_utilization")[index])

    def readout_text(self, step: int, value: float) -> str:
        memory = self.series.column("gpu_memory_used")[
            min(int(np.searchsorted(self.series.steps, step)), len(self.series) - 1)
        ]
        text = f"step {step:,} · {fmt.percent(value)}"
        return text + (f" · {memory:.1f} GB" if np.isfinite(memory) else "")

    def empty_message(self) -> str | None:
        if not len(self.series):
            return self.no_points_text
        if not np.isfinite(self.series.column("gpu_utilization")).any():
            return self.NO_GPU
        return None


class ThroughputChart(MetricChart):
    """Tokens per second."""

    title = "Throughput"
    y_title = "tokens/s"

    def __init__(self, series: MetricSeries, parent: QWidget | None = None) -> None:
        self.curve = make_curve(1.6)
        super().__init__(series, parent)
        self.plot_item.addItem(self.curve)
        # The mean of each pixel's points: a readable line where "peak" would draw a solid band of
        # noise, and a quarter of the drawing time on a million points.
        self.curve.setDownsampling(auto=True, method="mean")

    def color_curves(self, colours: theme.ChartColors) -> None:
        self.curve.setPen(pg.mkPen(colours.throughput, width=1.6))

    def draw(self, steps: np.ndarray, *, full: bool) -> None:
        self.curve.setData(steps, self.series.column("throughput"))

    def fit_y(self) -> None:
        values = self.series.column("throughput")
        top = float(np.fmax.reduce(values)) if len(values) else np.nan  # skips NaN, copies nothing
        if np.isfinite(top):  # from zero: a 0.5 % wobble should not fill the chart
            self.plot_item.setYRange(0, top * 1.15 or 1.0, padding=0)

    def value_at(self, index: int) -> float:
        return float(self.series.column("throughput")[index])

    def readout_text(self, step: int, value: float) -> str:
        return f"step {step:,} · {fmt.throughput(value)}"

    def empty_message(self) -> str | None:
        if not len(self.series):
            return self.no_points_text
        if not np.isfinite(self.series.column("throughput")).any():
            return "No throughput reported"
        return None
