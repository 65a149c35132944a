"""What the monitor shows from the job alone: the bar's colour, empty charts that say why, no GPU,
axis titles and readable ticks, smoothing that suits the run and is remembered, a recent-pace ETA."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu

from core.records import JobDetail, JobStatus
from desktop import formatting as fmt
from desktop import theme
from desktop.app_state import AppState, Change
from desktop.axes import compact
from desktop.charts import LossChart
from desktop.jobs_model import Column, JobTableModel
from desktop.metric_series import MetricSeries
from tests.desktop.factories import bump, make_job, make_points
from tests.desktop.windows import show_monitor


@pytest.fixture
def monitor(qtbot):
    widget = show_monitor(qtbot, height=640)
    qtbot.waitExposed(widget)
    return widget


def show(monitor, job, points=()):
    monitor.show_job(job)
    monitor.show_detail(JobDetail(job=job, metrics=tuple(points)))
    QApplication.processEvents()


def bar_colour(monitor) -> QColor:
    bar = monitor.progress
    image = bar.grab().toImage()
    return image.pixelColor(QPoint(bar.width() // 10, bar.height() // 2))


@pytest.mark.parametrize("status", [JobStatus.RUNNING, JobStatus.FAILED, JobStatus.COMPLETED])
def test_progress_bar_takes_the_status_colour_of_the_table(monitor, status):
    show(monitor, make_job(1, status=status, progress=60.0))
    expected = theme.current().status_color(status)
    seen = bar_colour(monitor)
    assert abs(seen.red() - expected.red()) + abs(seen.green() - expected.green()) < 30, seen.name()
    assert abs(seen.blue() - expected.blue()) < 30, seen.name()


def test_a_job_that_failed_before_training_says_so(monitor):
    job = make_job(
        1,
        status=JobStatus.FAILED,
        progress=0.0,
        current_step=0,
        started_at=None,
        current_metrics={},
        error_message="the cluster rejected the job: no such base model",
    )
    show(monitor, job)
    for chart in monitor.charts:
        assert chart.placeholder.isVisible()
        assert chart.placeholder.text() == "Failed before training reported any metrics"
    assert monitor.error_label.text() == "the cluster rejected the job: no such base model"
    assert "never started" in monitor.progress_text.text()


def export_entries(qtbot, monitor) -> list[str]:
    seen: list[str] = []

    def read_and_close() -> None:
        menu = QApplication.activePopupWidget()
        assert isinstance(menu, QMenu)
        seen.extend(action.text() for action in menu.actions())
        menu.close()

    QTimer.singleShot(200, read_and_close)
    QTest.mouseClick(monitor.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(seen), timeout=3000)
    return seen


def test_without_a_gpu_the_gpu_card_and_chart_fold_to_one_line(monitor, qtbot):
    cpu = make_job(1, gpu_type="cpu", hourly_rate=0.0)
    show(monitor, cpu, make_points(cpu.id, range(1, 200), gpu=False))
    gpu_chart = monitor.gpu_chart
    assert not monitor.cards["gpu_utilization"].isVisible()
    assert gpu_chart.no_gpu_label.text() == "No GPU: this job runs on the CPU"
    assert not gpu_chart.plot_widget.isVisible()
    assert gpu_chart.height() < 2.5 * gpu_chart.no_gpu_label.height()  # one line
    assert monitor.throughput_chart.height() > 5 * gpu_chart.height()  # the room goes to throughput
    assert export_entries(qtbot, monitor) == [
        "Metrics as CSV…",
        "Loss chart as PNG…",
        "Throughput chart as PNG…",
        "Learning rate chart as PNG…",
        "Gradient norm chart as PNG…",
    ]

    gpu = make_job(2, gpu_type="A100-80GB")
    show(monitor, gpu, make_points(gpu.id, range(1, 200)))
    assert monitor.cards["gpu_utilization"].isVisible()
    assert gpu_chart.plot_widget.isVisible() and not gpu_chart.no_gpu_label.isVisible()
    assert "GPU utilisation chart as PNG…" in export_entries(qtbot, monitor)


def test_charts_have_axis_titles_and_readable_large_numbers(monitor):
    job = make_job(1, total_steps=3_000_000)
    steps = range(0, 3_000_000, 10_000)
    show(monitor, job, make_points(job.id, steps))
    titles = {
        chart.title: (chart.plot_item.getAxis("bottom").labelText, chart.plot_item.getAxis("left").labelText)
        for chart in monitor.charts
    }
    assert titles == {
        "Loss": ("step", "loss"),
        "GPU utilisation": ("step", "%"),
        "Throughput": ("step", "tokens/s"),
        "Learning rate": ("step", "learning rate"),
        "Gradient norm": ("step", "norm"),
    }
    axis = monitor.loss_chart.plot_item.getAxis("bottom")
    low, high = monitor.loss_chart.plot_item.getViewBox().viewRange()[0]
    labels = [
        text
        for spacing, values in axis.tickValues(low, high, axis.width())
        for text in axis.tickStrings(values, 1.0, spacing)
    ]
    assert "1M" in labels and "2M" in labels
    assert not any("e+" in text or len(text) > 5 for text in labels)


def test_compact_numbers():
    assert [compact(v) for v in (0, 1_000_000, 1_500_000, 250_000, 1200, 950, 0.35, 2e-5)] == [
        "0",
        "1M",
        "1.5M",
        "250k",
        "1.2k",
        "950",
        "0.35",
        "2e-5",
    ]


def test_smoothing_suits_the_run_until_the_user_picks_one_which_is_remembered(monitor, qtbot):
    slider = monitor.loss_chart.smoothing_slider
    show(monitor, make_job(1, total_steps=60), make_points("job-000001", range(1, 61)))
    assert monitor.loss_chart.smoothing == 0.0  # a short run: every point matters
    show(monitor, make_job(2, total_steps=1000), make_points("job-000002", range(1, 300)))
    assert monitor.loss_chart.smoothing == pytest.approx(0.9)
    assert monitor.loss_chart.smoothing_label.text() == "0.90"

    slider.setFocus()
    for _ in range(5):
        QTest.keyClick(slider, Qt.Key.Key_Left)
    assert monitor.loss_chart.smoothing == pytest.approx(0.85)
    show(monitor, make_job(3, total_steps=60), make_points("job-000003", range(1, 61)))
    assert monitor.loss_chart.smoothing == pytest.approx(0.85)  # the user's choice, for every job

    restarted = LossChart(MetricSeries())  # the next start of the app
    qtbot.addWidget(restarted)
    assert restarted.smoothing == pytest.approx(0.85)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_eta_uses_the_recent_pace_after_a_short_warm_up(qtbot):
    clock = Clock()
    state = AppState(clock=clock)
    model = JobTableModel(state=state)
    # Ten minutes since it started, but nine of them went to loading the model: 10 steps/s since.
    job = make_job(1, status=JobStatus.RUNNING, current_step=50, total_steps=10_000, progress=0.5)
    job = bump(job, started_at=job.created_at)
    state.apply(Change(jobs=[job], all_jobs=True))
    eta_cell = model.index(0, Column.ETA)
    assert eta_cell.data() == "—"  # no pace yet, and the pace since the start would mislead

    clock.now += 1
    state.apply(Change(jobs=[job := bump(job, current_step=60)]))
    clock.now += 2
    state.apply(Change(jobs=[job := bump(job, current_step=80)]))
    assert eta_cell.data() == "—"  # two seconds of samples: still warming up

    clock.now += 8
    state.apply(Change(jobs=[job := bump(job, current_step=160)]))
    assert state.seconds_left(job) == pytest.approx((10_000 - 160) / 10)  # 10 steps/s: 984 s
    assert eta_cell.data() == "16m 24s"
    assert fmt.eta_seconds(job) > 10 * 3600  # what the pace since the start said: over ten hours

    clock.now += 5  # no new sample yet: the ETA counts down meanwhile
    assert state.seconds_left(job) == pytest.approx(984 - 5)


def test_each_state_keeps_its_own_pace_and_a_table_without_one_goes_by_the_start(qtbot):
    """Two windows (two states) learn their paces apart; no pace is kept anywhere else."""
    clock = Clock()
    watched, other = AppState(clock=clock), AppState(clock=clock)
    tables = JobTableModel(state=watched), JobTableModel(state=other), JobTableModel()
    job = make_job(1, status=JobStatus.RUNNING, current_step=50, total_steps=10_000, progress=0.5)
    job = bump(job, started_at=job.created_at)
    for state in (watched, other):
        state.apply(Change(jobs=[job], all_jobs=True))
    tables[2].set_jobs([job])
    for seconds, step in ((4, 90), (4, 130)):  # 10 steps/s in the watched window only
        clock.now += seconds
        watched.apply(Change(jobs=[job := bump(job, current_step=step)]))
    cells = [table.index(0, Column.ETA).data() for table in tables]
    assert cells == [fmt.duration((10_000 - 130) / 10), "—", "—"]  # 0.5 % done: no pace from the start
