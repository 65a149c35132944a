"""Del → Cancel job on a running local job whose trainer is saving its adapter: the window says
so, and keeps the amber "could not be reached" for a cluster that really is away."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from core.cluster.local import LocalCluster
from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.jobs.service import create_job
from core.scheduler import Scheduler
from core.workspace import Workspace
from desktop.core_events import CoreEvents
from desktop.jobs_model import Column
from desktop.main_window import MainWindow
from desktop.operations import Runner
from desktop.session import Session
from tests.core.test_cancel_local import slow_saver, until_running  # noqa: F401 (the fixture)
from tests.desktop.test_job_actions import attach
from tests.desktop.test_selection import drawn
from tests.desktop.windows import open_on_fake_cluster, show_main_window
from tests.fakes.cluster import JobPlan


@pytest.fixture
def workspace(home: Path, slow_saver: Path):  # noqa: F811
    ws = Workspace.open(
        load_settings(
            {"home": str(home), "user": "alice", "cluster": "local", "trainer_python": str(slow_saver)}
        )
    )
    ws.use_backend(LocalCluster(ws.settings, cancel_wait=0.2))
    yield ws
    asyncio.run(ws.aclose())
    ws.close()


def running_job(ws: Workspace, dataset_file: Path) -> str:
    dataset = add_dataset(ws, file=dataset_file, name="sums")
    job = create_job(ws, dataset_id=dataset.id, name="saving run", gpu_type="cpu")
    asyncio.run(until_running(Scheduler(ws), ws, job.id))
    return job.id


def test_cancel_while_the_trainer_saves_says_so(window, workspace, dataset_file, qtbot):
    widget, session = window
    job_id = running_job(workspace, dataset_file)
    attach(qtbot, widget, session)
    widget.select_job(job_id)
    qtbot.waitUntil(lambda: widget.table.selected_job_id() == job_id)

    qtbot.keyClick(widget.table, Qt.Key.Key_Delete)  # Del: cancel, after asking
    qtbot.waitUntil(lambda: widget.monitor._cancel_box is not None and widget.monitor._cancel_box.isVisible())
    widget.monitor._cancel_box.button(QMessageBox.StandardButton.Yes).click()

    qtbot.waitUntil(lambda: widget.banner.isVisible() and "saving" in widget.banner.text(), timeout=10_000)
    assert widget.banner.text() == "Cancelling “saving run”: the trainer is saving its adapter."
    assert widget.banner.property("kind") == "info"
    assert "could not be reached" not in widget.banner.text()


def submit_elsewhere(fake_cluster, home: Path) -> None:
    """A headless scheduler (a workspace and event loop of its own) submits the queued jobs."""
    ws = open_on_fake_cluster(fake_cluster, home=str(home))

    async def once() -> None:
        await Scheduler(ws).run_once()
        await ws.aclose()

    asyncio.run(once())
    ws.close()


@pytest.fixture
def cluster_workspace(fake_cluster, home: Path):
    ws = open_on_fake_cluster(fake_cluster, home=str(home))
    yield ws
    asyncio.run(ws.aclose())
    ws.close()


@contextmanager
def window_on(qtbot, ws: Workspace) -> Iterator[MainWindow]:
    """The main window over `ws`, attached and live, as the app shows it (its scheduler idle)."""
    runner = Runner()
    session = Session(ws, runner, CoreEvents())
    widget = show_main_window(qtbot)
    try:
        attach(qtbot, widget, session)
        yield widget
    finally:
        widget.detach()
        qtbot.waitUntil(lambda: runner.in_flight == 0, timeout=5000)
        session.close()
        runner.shutdown()


def press_del_and_confirm(qtbot, widget: MainWindow, job_id: str) -> None:
    widget.select_job(job_id)
    qtbot.waitUntil(lambda: widget.table.selected_job_id() == job_id)
    qtbot.keyClick(widget.table, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: widget.monitor._cancel_box is not None and widget.monitor._cancel_box.isVisible())
    widget.monitor._cancel_box.button(QMessageBox.StandardButton.Yes).click()


def test_cancel_while_the_cluster_is_down_keeps_the_amber_unreachable_words(
    qtbot, cluster_workspace, fake_cluster, dataset_file
):
    dataset = add_dataset(cluster_workspace, file=dataset_file, name="sums")
    job = create_job(cluster_workspace, dataset_id=dataset.id, name="remote run", gpu_type="A10G")
    submit_elsewhere(fake_cluster, cluster_workspace.settings.home)  # on the cluster now
    fake_cluster.fail_with(503, times=None, endpoint="cancel")  # and then the cluster goes away
    with window_on(qtbot, cluster_workspace) as widget:
        press_del_and_confirm(qtbot, widget, job.id)
        qtbot.waitUntil(lambda: "could not be reached" in widget.banner.text(), timeout=10_000)
        assert widget.banner.text() == (
            "Cancel of “remote run” requested; the cluster could not be reached, retrying each cycle."
        )
        assert widget.banner.property("kind") == "warning"
        row = widget.proxy.index_of(job.id).siblingAtColumn(Column.STATUS)
        qtbot.waitUntil(lambda: row.data() == "Cancelling…", timeout=5000)


def test_the_steps_trained_since_the_last_poll_reach_the_chart_when_cancelled(
    qtbot, cluster_workspace, fake_cluster, dataset_file
):
    """Issue 21, item 4: the steps between the last poll and the stop are not lost."""
    dataset = add_dataset(cluster_workspace, file=dataset_file, name="sums")
    job = create_job(cluster_workspace, dataset_id=dataset.id, name="stopped run", gpu_type="A10G")
    fake_cluster.plan_job(job.id, JobPlan(total_steps=100, steps_per_poll=0))
    submit_elsewhere(fake_cluster, cluster_workspace.settings.home)
    external_id = next(iter(fake_cluster.jobs))
    fake_cluster.advance(external_id, 10)
    submit_elsewhere(fake_cluster, cluster_workspace.settings.home)  # a cycle polls it at step 10
    with window_on(qtbot, cluster_workspace) as widget:
        widget.select_job(job.id)
        qtbot.waitUntil(lambda: drawn(widget.monitor.loss_chart) == 10, timeout=5000)
        fake_cluster.advance(external_id, 7)  # the trainer goes on; nothing polls it
        press_del_and_confirm(qtbot, widget, job.id)
        qtbot.waitUntil(lambda: widget.monitor.badge.text() == "Cancelled", timeout=10_000)
        qtbot.waitUntil(lambda: drawn(widget.monitor.loss_chart) == 17, timeout=5000)
        assert "step 17 / 100" in widget.monitor.progress_text.text()
