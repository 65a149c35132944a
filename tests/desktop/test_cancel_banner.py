"""Del → Cancel job on a running local job whose trainer is saving its adapter: the window says
so, and keeps the amber "could not be reached" for a cluster that really is away."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from core.cluster.local import LocalCluster
from core.config import load_settings
from core.datasets import add_dataset
from core.jobs import create_job
from core.scheduler import Scheduler
from core.workspace import Workspace
from tests.core.test_cancel_local import slow_saver, until_running  # noqa: F401 (the fixture)
from tests.desktop.test_job_actions import attach


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
