"""Several runs compared, as a person does it: click one row, Ctrl-click others, read the overlay
(curves, legend names), click a legend entry, read the table of differences, switch the x axis.
The window runs over the demo history (completed, failed, cancelled, running and queued jobs)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from core.jobs.summary import summarise_job
from desktop.app_state import Change
from desktop.compare_chart import TIME
from desktop.jobs_model import Column
from desktop.main_window import MainWindow
from desktop.metric_series import smooth
from desktop.run_summary_view import summary_rows
from tests.desktop import test_selection as selection
from tests.desktop.demo_workspace import DEMO_JOBS
from tests.desktop.test_selection import LOAD_MS, click_row, job_named

# The demo history and a window over a copy of it, as the selection tests have them.
demo, workspace, window = selection.demo, selection.workspace, selection.window


def ctrl_click_row(window: MainWindow, job_id: str) -> None:
    index = window.proxy.index_of(job_id)
    window.table.scrollTo(index)
    point = window.table.visualRect(index).center()
    QTest.mouseClick(
        window.table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, point
    )


def compare_three(qtbot, window: MainWindow) -> list[str]:
    names = [DEMO_JOBS[0].name, DEMO_JOBS[1].name, DEMO_JOBS[3].name]  # completed, failed, running
    ids = [job_named(window, name).id for name in names]
    click_row(qtbot, window, ids[0])
    with qtbot.waitSignal(window.compare.loaded, timeout=LOAD_MS):
        ctrl_click_row(window, ids[1])
        ctrl_click_row(window, ids[2])
    return ids


def click_legend_entry(chart, position: int) -> None:
    """A left click on the job's name in the legend."""
    _sample, label = chart.legend.items[position]
    view = chart.plot_widget
    point = view.mapFromScene(label.sceneBoundingRect().center())
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)


def table_order(window: MainWindow, ids: list[str]) -> list[str]:
    return sorted(ids, key=lambda job_id: window.proxy.index_of(job_id).row())


def test_ctrl_click_overlays_the_selected_runs(qtbot, window, workspace):
    ids = compare_three(qtbot, window)
    ordered = table_order(window, ids)
    chart = window.compare.chart
    assert window.compare.isVisible() and not window.monitor.isVisible()
    assert window.table.selected_job_ids() == ordered
    assert window.compare.title.text() == "Comparing 3 jobs"
    curves = chart.curves()
    assert len(curves) == 6  # training and validation of each
    assert chart.legend_names() == [window.model.job(job_id).name for job_id in ordered]
    for job_id, (training, validation) in zip(
        ordered, zip(curves[::2], curves[1::2], strict=True), strict=True
    ):
        stored = window.compare.run(job_id).columns
        x, _y = training.getOriginalDataset()
        assert len(x) == len(stored["step"]) > 0  # every point, not a thinned copy
        assert np.array_equal(x, stored["step"])
        vx, _ = validation.getOriginalDataset()
        assert len(vx) == np.isfinite(stored["validation_loss"]).sum() > 0

    click_legend_entry(chart, 1)
    assert chart.visible_jobs() == [ordered[0], ordered[2]]
    assert not curves[2].isVisible() and not curves[3].isVisible()  # both curves of that job
    click_legend_entry(chart, 1)
    assert chart.visible_jobs() == ordered and curves[3].isVisible()


def test_the_table_marks_what_differs(qtbot, window, workspace):
    ids = compare_three(qtbot, window)
    ordered = table_order(window, ids)
    table = window.compare.table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers == [window.model.job(job_id).name for job_id in ordered]
    rows = {row.label: row for row in table.rows()}
    assert not rows["lora_rank"].differs and rows["lora_rank"].texts == ("16",) * 3
    assert not rows["warmup_ratio"].differs  # a default, filled in for every job
    assert rows["Status"].differs and rows["gpu"].differs
    assert not rows["Dataset"].differs and rows["Dataset"].texts[0] == "support-chat-v3 (2,400 pairs)"
    for column, job_id in enumerate(ordered):
        expected = dict(summary_rows(summarise_job(workspace, job_id=job_id)))
        for label in ("Best validation loss", "Final training loss", "Mean throughput", "Base model"):
            assert rows[label].texts[column] == expected[label], label
    # marked on screen: bold on a tint
    row = [r.label for r in table.rows()].index("gpu")
    assert table.item(row, 0).font().bold() and table.verticalHeaderItem(row).font().bold()
    same = [r.label for r in table.rows()].index("lora_rank")
    assert not table.item(same, 0).font().bold()

    window.compare.only_differences.click()
    shown = [table.verticalHeaderItem(r).text() for r in range(table.rowCount()) if not table.isRowHidden(r)]
    assert "gpu" in shown and "lora_rank" not in shown and "Status" in shown


def test_relative_time_on_the_x_axis(qtbot, window, workspace):
    compare_three(qtbot, window)
    chart = window.compare.chart
    chart.x_choice.setCurrentIndex(chart.x_choice.findData(TIME))
    assert chart.bottom_axis.labelText.endswith("since first point")
    x, _ = chart.curves()[0].getOriginalDataset()
    assert x[0] == 0 and np.all(np.diff(x) >= 0)


def test_one_row_again_brings_the_monitor_back(qtbot, window, workspace):
    ids = compare_three(qtbot, window)
    click_row(qtbot, window, ids[1])
    assert window.monitor.isVisible() and not window.compare.isVisible()
    assert window.monitor.title.text() == window.model.job(ids[1]).name
    # Ctrl-click the other two away: one job left, its monitor
    with qtbot.waitSignal(window.compare.loaded, timeout=LOAD_MS):
        ctrl_click_row(window, ids[2])
    assert window.compare.isVisible()
    with qtbot.waitSignal(window.detail_shown, timeout=LOAD_MS):
        ctrl_click_row(window, ids[2])
    assert window.monitor.isVisible() and window.monitor.job.id == ids[1]


def test_compare_selected_is_in_the_jobs_menu_with_a_shortcut(qtbot, window):
    menus = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions()}
    assert window.named_actions["compare_action"] in menus["Jobs"].actions()
    assert window.named_actions["compare_action"].shortcut().toString() == "Ctrl+M"
    click_row(qtbot, window, job_named(window, DEMO_JOBS[0].name).id)
    QTest.keyClick(window.table, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    assert "Select two or more jobs" in window.banner.text()


def test_compare_with_selected(qtbot, window):
    first, other = (job_named(window, DEMO_JOBS[n].name).id for n in (0, 2))
    click_row(qtbot, window, first)
    with qtbot.waitSignal(window.compare.loaded, timeout=LOAD_MS):
        window.selection.compare_with([*window.table.selected_job_ids(), other])
    assert sorted(window.compare.job_ids) == sorted([first, other])


def test_the_monitor_summarises_the_selected_run(qtbot, window, workspace):
    job = job_named(window, DEMO_JOBS[0].name)  # completed
    click_row(qtbot, window, job.id)
    monitor = window.monitor
    tabs = monitor.tabs.tabBar()
    QTest.mouseClick(
        tabs, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, tabs.tabRect(1).center()
    )
    assert monitor.tabs.currentWidget() is monitor.summary_view
    expected = dict(summary_rows(summarise_job(workspace, job_id=job.id)))
    qtbot.waitUntil(lambda: monitor.summary_view.summary() == expected, timeout=LOAD_MS)
    assert expected["Dataset"] == "support-chat-v3 (2,400 pairs)"
    settings = monitor.summary_view.settings()
    assert settings["lora_rank"] == "16" and settings["epochs"] == "3"
    assert settings["warmup_ratio"] == "0.1" and settings["max_length"] == "256"  # defaults shown too
    assert settings["gpu"] == "A100-80GB × 2"


def test_chosen_setting_columns_sort_and_survive_a_restart(qtbot, window, workspace):
    table = window.table
    before = window.model.columnCount()
    menu = table.show_column_chooser(QPoint(20, 5))
    qtbot.waitUntil(menu.isVisible)
    action = next(a for a in menu.actions() if a.text() == "lora_rank")
    point = menu.actionGeometry(action).center()
    QTest.mouseClick(menu, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    assert window.model.columnCount() == before + 1
    column = window.model.column_of_setting("lora_rank")
    assert window.proxy.headerData(column, Qt.Orientation.Horizontal) == "lora_rank"
    demo_job = job_named(window, DEMO_JOBS[0].name)  # made with rank 16; others with the default 8
    assert window.proxy.index(window.proxy.index_of(demo_job.id).row(), column).data() == "16"
    header = table.horizontalHeader()
    section = QPoint(header.sectionViewportPosition(column) + 10, 5)
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, section)
    assert window.model.sort_column == column
    ranks = [window.proxy.index(row, column).data() for row in range(window.proxy.rowCount())]
    assert ranks == sorted(ranks, key=int) and ranks[0] == "8" and ranks[-1] == "16"

    again = MainWindow()
    qtbot.addWidget(again)
    assert again.model.setting_columns == ["lora_rank"]
    assert again.model.headerData(column, Qt.Orientation.Horizontal) == "lora_rank"


def test_refresh_loads_the_compared_jobs_again(qtbot, window):
    ids = compare_three(qtbot, window)
    before = {job_id: window.compare.run(job_id) for job_id in ids}
    with qtbot.waitSignal(window.compare.loaded, timeout=LOAD_MS):
        QTest.keyClick(window.table, Qt.Key.Key_F5)
    assert sorted(window.compare.job_ids) == sorted(ids)
    assert all(window.compare.run(job_id) is not before[job_id] for job_id in ids)  # loaded anew
    assert len(window.compare.chart.curves()) == 6


def test_a_compared_job_that_moves_on_loads_again(qtbot, window, monkeypatch):
    monkeypatch.setattr("desktop.compare_loader.RELOAD_S", 0.05)
    ids = compare_three(qtbot, window)
    running = window.compare.run(ids[2]).job  # DEMO_JOBS[3] runs
    before = window.compare.run(running.id)
    moved = replace(
        running, current_step=running.current_step + 10, updated_at=running.updated_at + timedelta(seconds=1)
    )
    with qtbot.waitSignal(window.compare.loaded, timeout=LOAD_MS):
        window.state.apply(Change(jobs=[moved]))
    assert window.compare.run(running.id) is not before
    # a snapshot that did not move (or a finished job's) loads nothing
    same = window.compare.run(ids[0]).job
    with qtbot.assertNotEmitted(window.compare.loaded, wait=300):
        window.state.apply(Change(jobs=[replace(same, updated_at=same.updated_at + timedelta(seconds=1))]))


def test_sorting_by_a_setting_column_survives_adding_another(qtbot, window):
    window.table.set_setting_columns(["lora_rank"])
    column = window.model.column_of_setting("lora_rank")
    window.proxy.sort(column, Qt.SortOrder.DescendingOrder)
    window.table.set_setting_columns(["batch_size", "lora_rank"])
    assert window.model.sort_column == window.model.column_of_setting("lora_rank")
    window.table.set_setting_columns(["batch_size"])  # the sorted column is gone: back to Created
    assert window.model.sort_column == Column.CREATED
    assert window.model.sort_order == Qt.SortOrder.DescendingOrder


def test_before_any_choice_the_compare_view_smooths_as_the_monitor_did(qtbot, window):
    ids = [job_named(window, DEMO_JOBS[n].name).id for n in (0, 1, 3)]
    first = ids[0]  # 1,200 steps: 0.92 suits it
    click_row(qtbot, window, first)
    monitor_chart = window.monitor.loss_chart
    assert monitor_chart.smoothing_label.text() == "0.92"
    with qtbot.waitSignal(window.compare.loaded, timeout=LOAD_MS):
        ctrl_click_row(window, ids[1])
        ctrl_click_row(window, ids[2])  # the longest of the three: 3,000 steps
    chart = window.compare.chart
    assert chart.smoothing_label.text() == "0.92" and chart.smoothing_slider.value() == 92
    stored = window.compare.run(first).columns
    _x, drawn = chart.curves()[table_order(window, ids).index(first) * 2].getOriginalDataset()
    assert np.allclose(drawn, smooth(stored["training_loss"], 0.92)[0])  # drawn with it
    click_row(qtbot, window, ids[2])  # the 3,000-step run alone: 0.95 suits it, in both views
    assert monitor_chart.smoothing_label.text() == "0.95"
    assert chart.smoothing_label.text() == "0.95" and chart.smoothing_slider.value() == 95


def test_compare_shares_the_monitors_smoothing_and_its_table_fits_three_jobs(qtbot, window):
    ids = compare_three(qtbot, window)
    chart = window.compare.chart
    slider = chart.smoothing_slider
    slider.setFocus()
    slider.setValue(80)  # moved in the compare view
    assert chart.smoothing == 0.8 and chart.smoothing_label.text() == "0.80"
    assert window.monitor.loss_chart.smoothing == 0.8  # the monitor's slider moved with it
    assert window.monitor.loss_chart.smoothing_slider.value() == 80
    window.monitor.loss_chart.smoothing_slider.setValue(30)  # and back the other way
    assert chart.smoothing == 0.3 and slider.value() == 30

    table = window.compare.table
    qtbot.waitUntil(lambda: table.columnCount() == 3)
    assert table.horizontalScrollBar().maximum() == 0  # no sideways scrolling for three jobs
    header = table.horizontalHeaderItem(0)
    assert header.toolTip().startswith(window.model.job(table_order(window, ids)[0]).name)
