"""A chart as a person handles it: the wheel zooms the steps and y follows what is in view,
a double-click or Reset zoom brings the whole run back, the right-click menu is the chart's own,
and whole steps have whole ticks."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from desktop.charts import LossChart
from desktop.metric_series import MetricSeries
from tests.desktop.factories import make_points


def loss_chart(qtbot, steps: range) -> LossChart:
    series = MetricSeries()
    series.append(make_points("j", steps))
    chart = LossChart(series)
    qtbot.addWidget(chart)
    chart.resize(700, 400)
    chart.show()
    qtbot.waitExposed(chart)
    chart.refresh(full=True)
    return chart


def wheel(widget, steps: int) -> None:
    """Turn the mouse wheel over the middle of the plot."""
    viewport = widget.viewport()
    centre = QPointF(viewport.rect().center())
    event = QWheelEvent(
        centre,
        QPointF(viewport.mapToGlobal(centre.toPoint())),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(viewport, event)


def test_the_wheel_zooms_the_steps_and_y_follows_the_points_in_view(qtbot):
    chart = loss_chart(qtbot, range(1, 501))
    view = chart.plot_item.getViewBox()
    qtbot.waitUntil(lambda: view.viewRange()[0][1] >= 500)
    (x0, x1), (y0, y1) = view.viewRange()
    wheel(chart.plot_widget, 4)  # zoom in
    qtbot.waitUntil(lambda: view.viewRange()[0][1] - view.viewRange()[0][0] < (x1 - x0) * 0.8)
    qtbot.waitUntil(lambda: view.viewRange()[1][1] - view.viewRange()[1][0] < (y1 - y0) * 0.9)
    (zx0, zx1), (zy0, zy1) = view.viewRange()
    assert zx0 > x0 and zx1 < x1  # the step axis zoomed
    steps = chart.series.steps
    visible = chart.series.column("training_loss")[(steps >= zx0) & (steps <= zx1)]
    # y follows the points in view: no empty chart, and narrower than the whole run's range
    assert zy0 <= np.nanmin(visible) and zy1 >= np.nanmax(visible)
    assert zy1 - zy0 < y1 - y0

    QTest.mouseDClick(
        chart.plot_widget.viewport(),
        Qt.MouseButton.LeftButton,
        pos=chart.plot_widget.viewport().rect().center(),
    )
    qtbot.waitUntil(lambda: view.viewRange()[0][0] <= 1 and view.viewRange()[0][1] >= 500)


def test_the_right_click_menu_is_the_charts_own(qtbot):
    chart = loss_chart(qtbot, range(1, 301))
    view = chart.plot_item.getViewBox()
    wheel(chart.plot_widget, 4)
    qtbot.waitUntil(lambda: view.viewRange()[0][1] < 290)
    menu = chart.chart_menu.open(QPoint(100, 100))
    qtbot.waitUntil(menu.isVisible)
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert texts == ["Reset zoom", "Export as PNG…", "Export as CSV…", "Log scale"]
    assert not {"Plot Options", "Mouse Mode", "View All", "Export..."} & set(texts)
    with qtbot.waitSignal(chart.export_csv_requested, timeout=1000):
        next(a for a in menu.actions() if a.text() == "Export as CSV…").trigger()
    next(a for a in menu.actions() if a.text() == "Log scale").trigger()
    assert chart.log_y and chart.log_check.isChecked()
    next(a for a in menu.actions() if a.text() == "Reset zoom").trigger()
    qtbot.waitUntil(lambda: view.viewRange()[0][1] >= 300)
    menu.close()


@pytest.mark.parametrize("last", [3, 7, 40])
def test_whole_steps_have_whole_ticks(qtbot, last):
    chart = loss_chart(qtbot, range(1, last + 1))
    axis = chart.plot_item.getAxis("bottom")
    qtbot.waitUntil(lambda: chart.plot_item.getViewBox().viewRange()[0][1] >= last)
    (x0, x1) = chart.plot_item.getViewBox().viewRange()[0]
    ticks = [value for _spacing, values in axis.tickValues(x0, x1, axis.width() or 600) for value in values]
    assert ticks and all(float(value).is_integer() for value in ticks), ticks
    labels = axis.tickStrings([v for v in ticks], 1.0, 1.0)
    assert all("." not in label for label in labels), labels


def test_a_run_too_small_for_a_validation_split_says_why_there_is_no_validation_curve(monitor, qtbot):
    from core.records import Dataset
    from tests.desktop.factories import BASE, make_job

    job = make_job(5, hyperparameters={"epochs": 1, "validation_split": 0.05})
    monitor.show_job(job)
    few = Dataset(
        id="ds-1",
        user_id="tester",
        name="tiny",
        storage_bucket=None,
        storage_path="p",
        training_ready=True,
        total_pairs=8,
        created_at=BASE,
    )
    monitor.set_dataset(job.id, few)
    note = monitor.loss_chart.validation_note
    assert note.isVisible()
    assert note.text() == "No validation curve: 8 pairs × a validation split of 0.05 hold out none"
    monitor.set_dataset(job.id, Dataset(**{**few.to_json(), "total_pairs": 200, "created_at": BASE}))
    assert not note.isVisible()


def test_a_right_click_on_any_monitor_chart_opens_the_charts_own_menu(monitor, qtbot):
    from PySide6.QtGui import QContextMenuEvent

    from tests.desktop.factories import make_job

    monitor.show_job(make_job(1))
    qtbot.waitExposed(monitor)
    for chart in monitor.charts:
        viewport = chart.plot_widget.viewport()
        where = viewport.rect().center()
        QApplication.sendEvent(
            viewport,
            QContextMenuEvent(QContextMenuEvent.Reason.Mouse, where, viewport.mapToGlobal(where)),
        )
        menu = chart.chart_menu.menu
        assert menu is not None, chart.title
        qtbot.waitUntil(menu.isVisible)
        texts = [a.text() for a in menu.actions() if not a.isSeparator()]
        assert texts[:2] == ["Reset zoom", "Export as PNG…"], (chart.title, texts)
        assert not {"Plot Options", "Mouse Mode", "View All", "Export..."} & set(texts), chart.title
        menu.close()
