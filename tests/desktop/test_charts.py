"""Charts: smoothing, every point held, log scale, no-GPU message, zoom kept and tail followed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from desktop.charts import GpuChart, LossChart, ThroughputChart
from desktop.metric_series import MetricSeries, smooth
from tests.desktop.factories import make_points


def reference_smoothing(values: list[float], weight: float) -> list[float]:
    """TensorBoard's loop, the definition the vectorised version must match."""
    out, last, count = [], 0.0, 0
    for value in values:
        if math.isfinite(value):
            last = last * weight + (1 - weight) * value
            count += 1
        out.append(last / (1 - weight**count) if count else math.nan)
    return out


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.6, 0.95, 0.99])
def test_smoothing_matches_the_reference_loop(weight):
    rng = np.random.default_rng(1)
    values = rng.random(5000) * 3
    values[[0, 17, 400, 401]] = np.nan
    got, _ = smooth(values, weight)
    expected = reference_smoothing(list(values), weight) if weight else list(values)
    np.testing.assert_allclose(got, expected, rtol=1e-9, equal_nan=True)


def test_smoothing_continues_where_it_stopped():
    values = np.random.default_rng(2).random(3000)
    whole, _ = smooth(values, 0.9)
    first, state = smooth(values[:1234], 0.9)
    rest, _ = smooth(values[1234:], 0.9, state)
    np.testing.assert_allclose(np.concatenate([first, rest]), whole, rtol=1e-12)


def test_series_drops_points_it_already_holds():
    series = MetricSeries(capacity=4)
    assert series.append(make_points("j", range(1, 11))) == 10
    assert series.append(make_points("j", range(5, 16))) == 5  # overlap from event + poll
    assert list(series.steps) == list(range(1, 16))
    assert series.last_step == 15


def filled_chart(qtbot, cls, steps=range(1, 501), gpu=True):
    series = MetricSeries()
    series.append(make_points("j", steps, gpu=gpu))
    chart = cls(series)
    qtbot.addWidget(chart)
    chart.resize(600, 300)
    chart.show()
    chart.refresh(full=True)
    return chart


def test_loss_chart_draws_every_point_raw_and_smoothed(qtbot):
    chart = filled_chart(qtbot, LossChart)
    x, y = chart.raw.getOriginalDataset()
    assert len(x) == 500 and x[0] == 1 and x[-1] == 500
    assert y[10] == pytest.approx(make_points("j", [11])[0].training_loss)
    sx, sy = chart.smoothed.getOriginalDataset()
    assert len(sx) == 500
    np.testing.assert_allclose(sy, reference_smoothing(list(y), chart.smoothing), rtol=1e-9)
    vx, _ = chart.validation.getOriginalDataset()
    assert list(vx) == list(range(50, 501, 50))  # only the steps that reported one


def test_smoothing_control_redraws(qtbot):
    chart = filled_chart(qtbot, LossChart)
    chart.smoothing_slider.setValue(0)
    _, raw = chart.raw.getOriginalDataset()
    _, line = chart.smoothed.getOriginalDataset()
    np.testing.assert_allclose(line, raw)
    assert not chart.raw.isVisible()  # nothing to draw faintly beneath
    chart.smoothing_slider.setValue(95)
    _, line = chart.smoothed.getOriginalDataset()
    assert chart.smoothing == pytest.approx(0.95)
    assert np.std(np.diff(line)) < np.std(np.diff(raw))
    assert chart.raw.isVisible()


def test_log_toggle(qtbot):
    chart = filled_chart(qtbot, LossChart)
    assert not chart.log_y
    chart.log_check.setChecked(True)
    assert chart.log_y
    assert chart.smoothed.opts["logMode"][1]
    chart.log_check.setChecked(False)
    assert not chart.log_y


def test_gpu_chart_says_no_gpu_instead_of_zeros(qtbot):
    chart = filled_chart(qtbot, GpuChart, gpu=False)
    assert chart.stack.currentWidget() is chart.placeholder
    assert chart.placeholder.text() == "No GPU on this machine"
    with_gpu = filled_chart(qtbot, GpuChart)
    assert with_gpu.stack.currentWidget() is with_gpu.plot_widget


def test_empty_chart_waits_for_metrics(qtbot):
    chart = ThroughputChart(MetricSeries())
    qtbot.addWidget(chart)
    chart.refresh(full=True)
    assert chart.placeholder.text().startswith("Waiting")


def test_crosshair_reads_out_the_nearest_step(qtbot):
    chart = filled_chart(qtbot, ThroughputChart)
    with qtbot.waitSignal(chart.hovered) as signal:
        chart.show_step(100.4)
    assert signal.args[0] == 100
    assert signal.args[1] == pytest.approx(make_points("j", [100])[0].throughput)
    assert "step 100" in chart.readout.text()


def test_user_zoom_is_kept_while_points_arrive(qtbot):
    chart = filled_chart(qtbot, LossChart)
    chart.plot_item.setXRange(100, 200, padding=0)  # the user zooms into the middle
    chart.series.append(make_points("j", range(501, 601)))
    chart.refresh()
    x0, x1 = chart.plot_item.getViewBox().viewRange()[0]
    assert (x0, x1) == pytest.approx((100, 200))
    assert len(chart.raw.getOriginalDataset()[0]) == 600


def test_view_at_the_tail_follows_new_points(qtbot):
    chart = filled_chart(qtbot, LossChart)
    chart.plot_item.setXRange(400, 500, padding=0)  # zoomed, looking at the newest steps
    chart.series.append(make_points("j", range(501, 551)))
    chart.refresh()
    x0, x1 = chart.plot_item.getViewBox().viewRange()[0]
    assert (x0, x1) == pytest.approx((450, 550))


def test_unzoomed_chart_keeps_showing_everything(qtbot):
    chart = filled_chart(qtbot, ThroughputChart)
    chart.series.append(make_points("j", range(501, 1001)))
    chart.refresh()
    assert chart.plot_item.getViewBox().autoRangeEnabled()[0]
    view = chart.plot_item.getViewBox()
    qtbot.waitUntil(lambda: view.viewRange()[0][1] >= 1000)


def test_a_long_loss_series_is_smoothed_over_several_turns_then_drawn_whole(qtbot):
    """A first draw of more than SMOOTH_SLICE points leaves the UI thread between slices of the
    smoothing, and the curve it then draws is the one-shot smoothing of every point."""
    from desktop.charts import SMOOTH_SLICE

    count = SMOOTH_SLICE * 2 + 123
    steps = np.arange(1, count + 1, dtype=float)
    loss = np.random.default_rng(3).random(count) + 1
    loss[[5, SMOOTH_SLICE + 1]] = np.nan
    series = MetricSeries()
    series.extend({"step": steps, "training_loss": loss})
    chart = LossChart(series)
    qtbot.addWidget(chart)
    chart.set_smoothing(0.9)
    slices = []
    chart._smoothing_on.timeout.connect(lambda: slices.append(len(chart.smoothed_values)))
    with qtbot.waitSignal(chart.smoothed_whole, timeout=10_000):
        chart.refresh(full=True)
        assert not chart.smoothing_done  # nothing smoothed on the turn that drew the raw curve
    assert len(slices) == 3  # one slice per turn of the event loop
    x, y = chart.smoothed.getOriginalDataset()
    whole, _ = smooth(loss, 0.9)
    assert len(x) == count
    np.testing.assert_allclose(y, whole, rtol=1e-12, equal_nan=True)
    assert chart.smoothing_done
