"""Ctrl+Q with jobs training says they keep training and how to stop them; About names the version."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

import core
from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.jobs.service import create_job
from core.workspace import Workspace
from desktop.app import DesktopApp
from tests.conftest import TOKEN
from tests.core.helpers import set_job_columns


@pytest.fixture
def app(qapp, qtbot, home: Path, fake_cluster, dataset_file, monkeypatch):
    monkeypatch.setenv("LORADESK_CLUSTER_TOKEN", TOKEN)
    settings = load_settings(
        {"home": str(home), "user": "quinn", "cluster": "http", "cluster_url": fake_cluster.url}
    )
    ws = Workspace.open(settings)
    dataset = add_dataset(ws, file=dataset_file, name="sums")
    job = create_job(ws, dataset_id=dataset.id, name="long run", gpu_type="T4")
    set_job_columns(ws, job.id, status="running", external_job_id="ext-long")
    ws.close()
    desktop = DesktopApp(qapp, settings)
    quits: list[int] = []
    monkeypatch.setattr(desktop, "quit", lambda code=0: quits.append(code))
    desktop.start()
    qtbot.waitUntil(lambda: len(desktop.window.model.jobs()) == 1, timeout=10_000)
    desktop.quits = quits
    yield desktop
    desktop.shutdown()
    desktop.window.close()
    desktop.deleteLater()


def test_ctrl_q_with_a_job_training_says_it_keeps_training_and_how_to_stop_it(app, qtbot):
    qtbot.keyClick(app.window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    box = app.quit_box
    assert box is not None and box.isVisible()
    assert box.text() == "“long run” is still queued or training. It keeps training after you quit."
    assert (
        "cancel it first: select it and press Del, or run `loradesk jobs cancel ID`" in box.informativeText()
    )

    box.button(QMessageBox.StandardButton.No).click()  # Stay
    qtbot.waitUntil(lambda: app.quit_box is None)
    assert app.quits == []

    qtbot.keyClick(app.window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    app.quit_box.button(QMessageBox.StandardButton.Yes).click()  # Quit, keep them training
    qtbot.waitUntil(lambda: app.quits == [0])


def test_about_names_the_version(app, qtbot):
    app.window.named_actions["about_action"].trigger()
    qtbot.waitUntil(lambda: any(b.isVisible() for b in app.window.findChildren(QMessageBox)))
    (box,) = [b for b in app.window.findChildren(QMessageBox) if b.isVisible()]
    assert box.text().startswith(f"Loradesk {core.__version__}\n")


def test_saving_settings_keeps_the_selection(app, qtbot):
    from desktop.dialogs.settings_dialog import SettingsDialog

    (job,) = app.window.model.jobs()
    assert app.window.select_job(job.id)
    app.edit_settings()
    dialog = app.window.findChild(SettingsDialog)
    qtbot.waitUntil(dialog.isVisible)
    with qtbot.waitSignal(app.window.loaded, timeout=15_000):
        dialog.ok_button.click()
    qtbot.waitUntil(lambda: app.window.table.selected_job_id() == job.id, timeout=5000)
    qtbot.waitUntil(lambda: app.window.monitor.job is not None and app.window.monitor.job.id == job.id)
