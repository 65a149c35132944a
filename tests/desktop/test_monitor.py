"""The job monitor: cards, chart data, Cancel per status, confirmation, export."""

from __future__ import annotations

import csv
import dataclasses

import pytest
from PySide6.QtWidgets import QMessageBox

from core.records import JobDetail, JobStatus
from desktop.updates import points_change
from tests.desktop.factories import bump, make_job, make_points


def append(monitor, job_id, points) -> int:
    """New points of a job as an event brings them, into the monitor's state: how many it kept."""
    before = len(monitor.series)
    monitor.state.apply(points_change(job_id, points))
    return len(monitor.series) - before


def loaded(monitor, steps=range(1, 301), **changes):
    job = make_job(1, **changes)
    monitor.show_job(job)
    monitor.show_detail(JobDetail(job=job, metrics=tuple(make_points(job.id, steps))))
    return job


def test_empty_until_a_job_is_shown(monitor):
    assert monitor.pages.currentWidget() is monitor.empty
    loaded(monitor)
    assert monitor.pages.currentIndex() == 0


def test_header_progress_and_cards(monitor):
    job = loaded(monitor, current_cost=3.5)
    points = make_points(job.id, range(300, 301))
    assert monitor.title.text() == "run 1"
    assert monitor.badge.text() == "Running"
    assert monitor.progress.value() == 400  # 40.0 % in tenths
    assert "step 400 / 1,000" in monitor.progress_text.text()
    assert "ETA" in monitor.progress_text.text()
    assert monitor.cards["training_loss"].text() == f"{points[0].training_loss:.4f}"
    assert monitor.cards["validation_loss"].text() == f"{points[0].validation_loss:.4f}"  # step 300
    assert monitor.cards["throughput"].text() == f"{points[0].throughput:,.0f} tok/s"
    assert monitor.cards["gpu_utilization"].text() == "80%"
    assert monitor.cards["cost"].text() == "$3.50"
    assert monitor.cards["cost"].hint.text() == "$3.70/h"


def test_final_cost_card(monitor):
    loaded(monitor, status=JobStatus.COMPLETED, final_cost=12.0)
    assert monitor.cards["cost"].text() == "$12.00"
    assert monitor.cards["cost"].hint.text() == "final"


def test_cards_show_the_newest_value_reported_however_far_back(monitor):
    """The cards look for the newest finite value from the end: one reported 3,000 points
    before the end (past the first windows looked at) is still found, with its step."""
    job = make_job(1)
    points = make_points(job.id, range(1, 4001))
    points = [p if p.step <= 1000 else dataclasses.replace(p, throughput=None) for p in points]
    monitor.show_job(job)
    monitor.show_detail(JobDetail(job=job, metrics=tuple(points)))
    assert monitor.cards["throughput"].text() == f"{points[999].throughput:,.0f} tok/s"
    assert monitor.cards["throughput"].hint.text() == "step 1,000"
    assert monitor.cards["training_loss"].hint.text() == "step 4,000"


def test_charts_hold_the_loaded_and_appended_points(monitor, qtbot):
    job = loaded(monitor)
    assert len(monitor.loss_chart.raw.getOriginalDataset()[0]) == 300
    assert append(monitor, job.id, make_points(job.id, range(250, 351))) == 50
    assert append(monitor, "another-job", make_points("another-job", range(1, 10))) == 0
    qtbot.waitUntil(lambda: len(monitor.loss_chart.raw.getOriginalDataset()[0]) == 350)
    for chart in monitor.charts:
        assert list(chart.series.steps) == list(range(1, 351))
    assert len(monitor.throughput_chart.curve.getOriginalDataset()[0]) == 350
    assert monitor.cards["training_loss"].hint.text() == "step 350"


def test_learning_rate_and_gradient_norm_are_charted_beside_the_loss(monitor, qtbot):
    job = loaded(monitor)
    monitor.tabs.setCurrentIndex(0)
    for chart, column in (
        (monitor.learning_rate_chart, "learning_rate"),
        (monitor.grad_norm_chart, "grad_norm"),
    ):
        steps, values = chart.curve.getOriginalDataset()
        assert list(steps) == list(range(1, 301))
        assert list(values) == [getattr(p, column) for p in make_points(job.id, range(1, 301))]
        assert chart.stack.currentWidget() is chart.plot_widget
    assert monitor.grad_norm_chart.readout.text() == f"step 300 · {1 + 1 / 300:.3g}"
    assert monitor.learning_rate_chart.readout.text() == "step 300 · 0.0002"
    low, high = monitor.learning_rate_chart.plot_item.viewRange()[1]  # a constant rate, readable
    assert low < 0.0002 < high and high - low < 0.001
    append(monitor, job.id, make_points(job.id, range(301, 321)))
    qtbot.waitUntil(lambda: len(monitor.grad_norm_chart.curve.getOriginalDataset()[0]) == 320)


def test_a_run_without_gradient_norms_says_so(monitor):
    job = make_job(1)
    monitor.show_job(job)
    monitor.show_detail(JobDetail(job=job, metrics=tuple(make_points(job.id, range(1, 50), grad_norm=False))))
    chart = monitor.grad_norm_chart
    assert chart.stack.currentWidget() is chart.placeholder
    assert chart.placeholder.text() == "No gradient norm reported (the cluster's trainer sends none)"
    assert monitor.learning_rate_chart.stack.currentWidget() is monitor.learning_rate_chart.plot_widget


def test_smoothing_and_log_controls_reach_the_loss_chart(monitor):
    loaded(monitor)
    chart = monitor.loss_chart
    chart.smoothing_slider.setValue(0)
    raw = chart.raw.getOriginalDataset()[1]
    assert list(chart.smoothed.getOriginalDataset()[1]) == list(raw)
    chart.log_check.click()
    assert chart.log_y


def test_switching_jobs_shows_the_new_job_at_once_then_its_points(monitor):
    loaded(monitor)
    other = make_job(2, status=JobStatus.COMPLETED, current_cost=2.0, final_cost=2.0)
    monitor.show_job(other)
    assert monitor.title.text() == "run 2"
    assert monitor.badge.text() == "Completed"
    assert monitor.cards["cost"].text() == "$2.00"
    assert len(monitor.series) == 0
    assert monitor.loss_chart.stack.currentWidget() is monitor.loss_chart.placeholder
    assert monitor.loss_chart.placeholder.text() == "Loading metrics…"
    monitor.show_detail(JobDetail(job=other, metrics=tuple(make_points(other.id, range(1, 51)))))
    assert monitor.loss_chart.stack.currentWidget() is monitor.loss_chart.plot_widget
    assert len(monitor.loss_chart.raw.getOriginalDataset()[0]) == 50


def test_a_late_load_of_the_previous_job_is_ignored(monitor):
    first = make_job(1)
    second = make_job(2)
    monitor.show_job(first)
    monitor.show_job(second)
    monitor.show_detail(JobDetail(job=first, metrics=tuple(make_points(first.id, range(1, 11)))))
    assert monitor.title.text() == "run 2"
    assert len(monitor.series) == 0
    assert monitor.loss_chart.placeholder.text() == "Loading metrics…"


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (JobStatus.QUEUED, "Queued: charts start with the job's first metrics"),
        (JobStatus.RUNNING, "Waiting for the first metrics…"),
        (JobStatus.FAILED, "Failed before training reported any metrics"),
        (JobStatus.CANCELLED, "Cancelled before training reported any metrics"),
    ],
)
def test_a_job_without_points_says_why(monitor, status, text):
    job = make_job(3, status=status, error_message="no GPU free" if status is JobStatus.FAILED else None)
    monitor.show_job(job)
    monitor.show_detail(JobDetail(job=job, metrics=()))
    for chart in monitor.charts:
        assert chart.placeholder.text() == text


@pytest.mark.parametrize(
    ("status", "enabled"),
    [
        (JobStatus.QUEUED, True),
        (JobStatus.INITIALIZING, True),
        (JobStatus.RUNNING, True),
        (JobStatus.COMPLETED, False),
        (JobStatus.FAILED, False),
        (JobStatus.CANCELLED, False),
    ],
)
def test_cancel_enabled_only_for_cancellable_statuses(monitor, status, enabled):
    monitor.show_job(make_job(3, status=status))
    assert monitor.cancel_button.isEnabled() is enabled


def answer_cancel_box(monitor, qtbot, button):
    monitor.cancel_button.click()
    qtbot.waitUntil(lambda: isinstance(monitor._cancel_box, QMessageBox) and monitor._cancel_box.isVisible())
    box = monitor._cancel_box
    assert box.isModal() and not monitor.cancel_button.isEnabled()  # open(), not exec()
    box.button(button).click()


def test_confirmed_cancel_is_asked_for(monitor, qtbot):
    job = loaded(monitor)
    with qtbot.waitSignal(monitor.cancel_confirmed) as signal:
        answer_cancel_box(monitor, qtbot, QMessageBox.StandardButton.Yes)
    assert signal.args == [job.id]
    assert monitor.cancel_button.text() == "Cancelling…"
    assert not monitor.cancel_button.isEnabled()


def test_declined_cancel_asks_nothing(monitor, qtbot):
    loaded(monitor)
    with qtbot.assertNotEmitted(monitor.cancel_confirmed):
        answer_cancel_box(monitor, qtbot, QMessageBox.StandardButton.No)
        qtbot.waitUntil(lambda: monitor._cancel_box is None)
    assert monitor.cancel_button.isEnabled()
    assert monitor.cancel_button.text() == "Cancel job"


def test_cancelling_job_says_so(monitor):
    job = loaded(monitor)
    monitor.update_job(bump(job, cancel_requested_at=job.updated_at))
    assert monitor.cancel_button.text() == "Cancelling…"
    assert not monitor.cancel_button.isEnabled()
    assert monitor.badge.text() == "Cancelling…"


def test_export_csv_has_every_point(monitor, qtbot, tmp_path):
    job = loaded(monitor, steps=range(1, 121))
    with qtbot.waitSignal(monitor.export_requested) as signal:
        monitor._export_csv(tmp_path / "m.csv")
    series, path = signal.args
    assert series.write_csv(path) == 120
    rows = list(csv.DictReader(path.open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 121))
    assert float(rows[0]["training_loss"]) == pytest.approx(make_points(job.id, [1])[0].training_loss)
    assert rows[0]["validation_loss"] == ""  # not reported at step 1


def test_export_chart_png(monitor, tmp_path):
    loaded(monitor)
    assert monitor.export_png(monitor.loss_chart, tmp_path / "loss.png")
    assert (tmp_path / "loss.png").stat().st_size > 1000


def test_points_arriving_during_the_first_load_are_kept(monitor, qtbot):
    job = make_job(5)
    monitor.show_job(job)
    append(monitor, job.id, make_points(job.id, range(1, 11)))  # while get_job runs
    append(monitor, job.id, make_points(job.id, range(11, 21)))
    # the load read the database before the second batch was written
    monitor.show_detail(JobDetail(job=job, metrics=tuple(make_points(job.id, range(1, 11)))))
    assert list(monitor.series.steps) == list(range(1, 21))
    append(monitor, job.id, make_points(job.id, range(21, 31)))
    assert list(monitor.series.steps) == list(range(1, 31))
