"""The selection is the one source of truth: what a person clicks is what the monitor, Del and
Export act on. Each test clicks rows and presses keys on a real window over a real workspace
(the demo history: completed, failed, cancelled, two running and one queued job), then reads
what is on screen: the monitor's title, badge and cards, the points each chart draws, the
words of the confirmation.
"""

from __future__ import annotations

import shutil
import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox

from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.jobs import service as jobs
from core.records import Job, JobStatus
from core.workspace import Workspace
from desktop.app import DesktopApp
from desktop.core_events import CoreEvents
from desktop.main_window import MainWindow
from desktop.operations import Runner
from desktop.session import Session
from tests.conftest import TOKEN
from tests.desktop.demo_workspace import DEMO_JOBS, REFUSED, REFUSED_JOB, build_demo, demo_settings
from tests.desktop.windows import show_main_window
from tests.fakes.cluster import JobPlan

LOAD_MS = 5000


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    settings, _featured = build_demo(tmp_path_factory.mktemp("demo"), cycles=8)
    return settings


@pytest.fixture
def workspace(demo, tmp_path):
    """A copy of the demo home per test: tests cancel jobs."""
    home = tmp_path / "home"
    shutil.copytree(demo.home, home)
    ws = Workspace.open(demo_settings(home, demo.cluster_url))
    yield ws
    ws.close()


@pytest.fixture
def window(qtbot, workspace):
    runner = Runner()
    session = Session(workspace, runner, CoreEvents())
    widget = show_main_window(qtbot)
    with qtbot.waitSignal(widget.loaded, timeout=LOAD_MS):
        widget.attach(session, live=False)
    yield widget
    widget.detach()
    runner.shutdown()


def job_named(window: MainWindow, name: str) -> Job:
    model = window.model
    found = [model.job_at(row) for row in range(model.rowCount()) if model.job_at(row).name == name]
    assert len(found) == 1, name
    return found[0]


def by_status(window: MainWindow, status: JobStatus) -> Job:
    model = window.model
    return next(model.job_at(row) for row in range(model.rowCount()) if model.job_at(row).status is status)


def click_row(qtbot, window: MainWindow, job_id: str, *, wait: bool = True) -> None:
    """A left click in the middle of the job's Name cell, as a person clicks it."""
    index = window.proxy.index_of(job_id)
    assert index.isValid(), f"{job_id} is not in the table"
    window.table.scrollTo(index)
    point = window.table.visualRect(index).center()
    if not wait:
        QTest.mouseClick(
            window.table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point
        )
        return
    with qtbot.waitSignal(window.detail_shown, timeout=LOAD_MS) as shown:
        QTest.mouseClick(
            window.table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point
        )
    assert shown.args == [job_id]


def drawn(chart) -> int:
    """How many points a chart was given to draw (its main curve)."""
    curve = getattr(chart, "raw", None) or chart.curve
    x, _y = curve.getOriginalDataset()
    return 0 if x is None else len(x)


def stored_points(ws: Workspace, job_id: str) -> int:
    return len(jobs.get_job(ws, job_id=job_id).metrics)


def open_cancel_box(monitor) -> QMessageBox | None:
    return (
        monitor._cancel_box if monitor._cancel_box is not None and monitor._cancel_box.isVisible() else None
    )


def test_clicking_through_jobs_shows_each_one(qtbot, window, workspace):
    completed = by_status(window, JobStatus.COMPLETED)
    running = job_named(window, DEMO_JOBS[3].name)
    queued = by_status(window, JobStatus.QUEUED)
    monitor = window.monitor

    for job, badge in (
        (completed, "Completed"),
        (running, "Running"),
        (queued, "Queued"),
        (completed, "Completed"),
    ):
        click_row(qtbot, window, job.id)
        assert window.table.selected_job_id() == job.id
        assert monitor.title.text() == job.name
        assert monitor.badge.text() == badge
        expected = stored_points(workspace, job.id)
        assert drawn(monitor.loss_chart) == expected
        assert drawn(monitor.throughput_chart) == expected
        if expected:
            assert monitor.cards["training_loss"].text() != "—"
            assert not monitor.loss_chart.placeholder.isVisible()

    assert stored_points(workspace, completed.id) == DEMO_JOBS[0].total_steps
    assert monitor.cards["cost"].hint.text() == "final"
    click_row(qtbot, window, queued.id)
    assert drawn(monitor.loss_chart) == 0
    assert monitor.loss_chart.placeholder.isVisible()
    assert monitor.loss_chart.placeholder.text().startswith("Queued")
    assert "waiting to start" in monitor.progress_text.text()


@pytest.mark.parametrize(
    ("name", "reason"), [(DEMO_JOBS[1].name, "CUDA out of memory"), (REFUSED_JOB, REFUSED)]
)
def test_failed_job_without_points_says_it_failed(qtbot, window, workspace, name, reason):
    failed = job_named(window, name)
    click_row(qtbot, window, failed.id)
    monitor = window.monitor
    assert monitor.badge.text() == "Failed"
    assert monitor.error_label.isVisible() and reason in monitor.error_label.text()
    if stored_points(workspace, failed.id) == 0:
        assert monitor.loss_chart.placeholder.text().startswith("Failed before training")
    else:
        assert drawn(monitor.loss_chart) == stored_points(workspace, failed.id)


def test_switching_while_a_load_is_in_flight_shows_the_last_click(qtbot, window, workspace, monkeypatch):
    slow = job_named(window, DEMO_JOBS[3].name)
    fast = by_status(window, JobStatus.COMPLETED)
    release = threading.Event()
    real_get_job = jobs.get_job

    def get_job(ws, *, job_id):
        if job_id == slow.id:
            release.wait(10)
        return real_get_job(ws, job_id=job_id)

    monkeypatch.setattr(jobs, "get_job", get_job)
    monitor = window.monitor
    click_row(qtbot, window, slow.id, wait=False)
    # the header follows the click at once; the charts say they are loading, not "waiting"
    assert monitor.title.text() == slow.name
    assert monitor.badge.text() == "Running"
    assert monitor.loss_chart.placeholder.isVisible()
    assert monitor.loss_chart.placeholder.text() == "Loading metrics…"

    click_row(qtbot, window, fast.id)
    assert monitor.title.text() == fast.name
    assert drawn(monitor.loss_chart) == stored_points(workspace, fast.id)

    release.set()  # the first click's load now finishes, late
    qtbot.waitUntil(lambda: window.session.runner.in_flight == 0, timeout=LOAD_MS)
    assert monitor.title.text() == fast.name
    assert monitor.badge.text() == "Completed"
    assert drawn(monitor.loss_chart) == stored_points(workspace, fast.id)


def test_a_long_run_is_first_drawn_thinned_beside_its_full_load_and_never_after_it(
    qtbot, window, workspace, monkeypatch
):
    running = job_named(window, DEMO_JOBS[3].name)
    other = by_status(window, JobStatus.COMPLETED)
    total = stored_points(workspace, running.id)
    window.selection.first_paint_points = max(2, total // 4)
    assert running.current_step > window.selection.first_paint_points
    gates = {"thinned": threading.Event(), "full": threading.Event()}
    started: list[str] = []
    real_get_job_metrics, real_first_look = jobs.get_job_metrics, jobs.first_look_metrics

    def gated(kind, real):
        def call(ws, *, job_id, **kwargs):
            if job_id == running.id:
                started.append(kind)
                gates[kind].wait(10)
            return real(ws, job_id=job_id, **kwargs)

        return call

    monkeypatch.setattr(jobs, "get_job_metrics", gated("full", real_get_job_metrics))
    monkeypatch.setattr(jobs, "first_look_metrics", gated("thinned", real_first_look))
    monitor = window.monitor
    # The first look comes first: drawn thinned while the full load, already under way, runs.
    click_row(qtbot, window, running.id, wait=False)
    qtbot.waitUntil(lambda: sorted(started) == ["full", "thinned"], timeout=LOAD_MS)
    gates["thinned"].set()
    qtbot.waitUntil(lambda: 0 < drawn(monitor.loss_chart) < total, timeout=LOAD_MS)
    assert not monitor.loaded
    with qtbot.waitSignal(window.detail_shown, timeout=LOAD_MS):
        gates["full"].set()
    assert drawn(monitor.loss_chart) == total

    # The full load comes first: the first look, later, changes nothing on screen.
    click_row(qtbot, window, other.id)
    gates["thinned"].clear()
    with qtbot.waitSignal(window.detail_shown, timeout=LOAD_MS):
        click_row(qtbot, window, running.id, wait=False)
    assert drawn(monitor.loss_chart) == total
    gates["thinned"].set()
    qtbot.waitUntil(lambda: window.session.runner.in_flight == 0, timeout=LOAD_MS)
    assert drawn(monitor.loss_chart) == total
    assert monitor.loaded


def test_keyboard_moves_the_selection_and_the_monitor_follows(qtbot, window):
    first, second = window.proxy.job_at(0), window.proxy.job_at(1)
    click_row(qtbot, window, first.id)
    with qtbot.waitSignal(window.detail_shown, timeout=LOAD_MS) as shown:
        QTest.keyClick(window.table, Qt.Key.Key_Down)
    assert shown.args == [second.id]
    assert window.table.selected_job_id() == second.id
    assert window.monitor.title.text() == second.name


@pytest.mark.parametrize(
    "status", [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED], ids=lambda s: s.value
)
def test_del_on_a_finished_job_says_why_nothing_happens(qtbot, window, status):
    job = by_status(window, status)
    click_row(qtbot, window, job.id)
    window.table.setFocus()
    QTest.keyClick(window.table, Qt.Key.Key_Delete)
    assert open_cancel_box(window.monitor) is None
    assert window.banner.isVisible()
    assert window.banner.label.text() == (
        f"“{job.name}” is {status.value}: only queued or running jobs can be cancelled."
    )


def test_del_asks_about_the_selected_job_and_keep_running_changes_nothing(qtbot, window):
    running = job_named(window, DEMO_JOBS[3].name)
    queued = by_status(window, JobStatus.QUEUED)
    click_row(qtbot, window, running.id)
    click_row(qtbot, window, queued.id)  # Del must ask about this one, not the one shown before
    window.table.setFocus()
    QTest.keyClick(window.table, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: open_cancel_box(window.monitor) is not None)
    box = open_cancel_box(window.monitor)
    assert box.text() == f"Cancel “{queued.name}”?"
    box.button(QMessageBox.StandardButton.No).click()  # "Keep running"
    qtbot.waitUntil(lambda: open_cancel_box(window.monitor) is None)
    assert window.model.job(queued.id).status is JobStatus.QUEUED
    assert window.monitor.cancel_button.isEnabled()


def test_del_cancels_the_selected_queued_job_through_the_core(qtbot, window, workspace):
    running = job_named(window, DEMO_JOBS[3].name)
    queued = by_status(window, JobStatus.QUEUED)
    click_row(qtbot, window, running.id)
    click_row(qtbot, window, queued.id)
    window.table.setFocus()
    QTest.keyClick(window.table, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: open_cancel_box(window.monitor) is not None)
    open_cancel_box(window.monitor).button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: window.model.job(queued.id).status is JobStatus.CANCELLED, timeout=LOAD_MS)
    assert window.monitor.badge.text() == "Cancelled"
    assert jobs.get_job(workspace, job_id=queued.id).job.status is JobStatus.CANCELLED
    assert jobs.get_job(workspace, job_id=running.id).job.status is JobStatus.RUNNING


def test_a_filter_that_hides_the_selected_row_clears_the_selection_until_it_shows_it(qtbot, window):
    running = job_named(window, DEMO_JOBS[3].name)
    click_row(qtbot, window, running.id)
    QTest.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.search.hasFocus()
    with qtbot.waitSignal(window.table.job_selected, timeout=LOAD_MS) as selected:
        QTest.keyClicks(window.search, "phi3")  # matches another job, not the selected one
    assert selected.args == [""]
    assert window.proxy.rowCount() == 1
    assert window.table.selected_job_id() is None
    assert window.monitor.job is None
    assert window.monitor.pages.currentWidget() is window.monitor.empty
    window.table.setFocus()
    QTest.keyClick(window.table, Qt.Key.Key_Delete)  # nothing selected: nothing to cancel
    assert open_cancel_box(window.monitor) is None

    with qtbot.waitSignal(window.detail_shown, timeout=LOAD_MS) as shown:
        window.search.clear()  # the job the person had picked is back, and picked again
    assert shown.args == [running.id]
    assert window.proxy.rowCount() == len(DEMO_JOBS) + 2  # and the refused and the queued job
    assert window.table.selected_job_id() == running.id
    assert window.monitor.title.text() == running.name


def test_status_filter_keeps_a_selected_row_it_shows(qtbot, window):
    running = job_named(window, DEMO_JOBS[3].name)
    click_row(qtbot, window, running.id)
    window.status_filter.setCurrentText("Active")
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 4)  # three running, one queued
    assert window.table.selected_job_id() == running.id
    assert window.monitor.title.text() == running.name
    window.status_filter.setCurrentText("Completed")
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 1)
    assert window.table.selected_job_id() is None
    assert window.monitor.job is None
    click_row(qtbot, window, window.proxy.job_at(0).id)  # a new pick replaces the hidden one
    window.status_filter.setCurrentText("All statuses")
    qtbot.waitUntil(lambda: window.proxy.rowCount() == len(DEMO_JOBS) + 2)
    assert window.table.selected_job_id() == by_status(window, JobStatus.COMPLETED).id


def test_refresh_keeps_the_selected_job_on_screen(qtbot, window, workspace):
    running = job_named(window, DEMO_JOBS[3].name)
    click_row(qtbot, window, running.id)
    with qtbot.waitSignal(window.detail_shown, timeout=LOAD_MS) as shown:
        QTest.keyClick(window, Qt.Key.Key_F5)
    assert shown.args == [running.id]
    assert window.monitor.title.text() == running.name
    assert drawn(window.monitor.loss_chart) == stored_points(workspace, running.id)


def test_export_acts_on_the_selected_job(qtbot, window, workspace, tmp_path):
    completed = by_status(window, JobStatus.COMPLETED)
    running = job_named(window, DEMO_JOBS[3].name)
    click_row(qtbot, window, running.id)
    click_row(qtbot, window, completed.id)
    path = tmp_path / "metrics.csv"
    window.monitor._export_csv(path)  # what choosing a file in Export → "Metrics as CSV…" does
    qtbot.waitUntil(lambda: window.banner.label.text().startswith("Wrote"), timeout=LOAD_MS)
    rows = path.read_text().strip().splitlines()
    assert len(rows) == 1 + stored_points(workspace, completed.id)


def test_the_selected_job_changes_under_the_selection(qtbot, home, fake_cluster, dataset_file, monkeypatch):
    """The embedded scheduler runs two jobs on the fake cluster; the monitor follows the one
    clicked from queued to completed, and draws none of the other's points."""
    monkeypatch.setenv("LORADESK_CLUSTER_TOKEN", TOKEN)
    settings = load_settings(
        {"home": str(home), "cluster": "http", "cluster_url": fake_cluster.url, "poll_interval": 0.2}
    )
    ws = Workspace.open(settings)
    dataset = add_dataset(ws, file=dataset_file, name="pairs")
    fake_cluster.default_plan = JobPlan(total_steps=40, steps_per_poll=10)
    watched = jobs.create_job(ws, dataset_id=dataset.id, name="watched", gpu_type="T4")
    other = jobs.create_job(ws, dataset_id=dataset.id, name="other", gpu_type="T4")
    runner = Runner()
    session = Session(ws, runner, CoreEvents())
    window = show_main_window(qtbot)
    try:
        with qtbot.waitSignal(window.loaded, timeout=LOAD_MS):
            window.attach(session)
        click_row(qtbot, window, watched.id)
        assert window.monitor.badge.text() == "Queued"
        session.start_scheduler()
        qtbot.waitUntil(lambda: window.monitor.badge.text() == "Completed", timeout=30_000)
        qtbot.waitUntil(lambda: drawn(window.monitor.loss_chart) == 40, timeout=LOAD_MS)
        assert window.table.selected_job_id() == watched.id
        assert window.monitor.title.text() == "watched"
        assert window.monitor.progress.value() == 1000
        assert not window.monitor.cancel_button.isEnabled()
        assert list(window.monitor.series.steps) == list(range(1, 41))
        qtbot.waitUntil(lambda: window.model.job(other.id).status is JobStatus.COMPLETED, timeout=30_000)
        assert window.monitor.title.text() == "watched"
    finally:
        window.detach()
        session.close()
        runner.shutdown()


def test_gui_job_option_selects_that_job_in_the_interactive_app(qapp, qtbot, workspace, monkeypatch):
    """`loradesk gui --job ID`: the app opens with that job selected and on the monitor."""
    monkeypatch.setenv("LORADESK_CLUSTER_TOKEN", TOKEN)
    wanted = next(job for job in jobs.list_jobs(workspace) if job.name == DEMO_JOBS[0].name)
    app = DesktopApp(qapp, workspace.settings, job_id=wanted.id)
    try:
        with qtbot.waitSignal(app.window.detail_shown, timeout=10_000) as shown:
            app.start()
        assert shown.args == [wanted.id]
        assert app.window.table.selected_job_id() == wanted.id
        assert app.window.monitor.title.text() == wanted.name
    finally:
        app.shutdown()
        app.window.close()
        app.deleteLater()


def test_a_cancel_answer_after_the_window_let_go_of_its_workspace_changes_nothing(qtbot, window):
    """The app closing (or reopening settings) while a cancel is in flight: its answer is dropped."""
    queued = by_status(window, JobStatus.QUEUED)
    window.detach()
    window.job_actions.cancel_answered(queued)  # what the runner delivers when the cancel returns
    assert window.model.rowCount() == 0
    assert window.monitor.job is None
