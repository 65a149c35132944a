"""File → Datasets…: a person opens it from the menu, reads a dataset's rows and the jobs that
used it, and deletes one that no job uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from core.config import load_settings
from core.datasets.catalog import add_dataset, list_datasets
from core.jobs.service import create_job
from core.workspace import Workspace
from desktop.datasets_view import DatasetsDialog
from tests.desktop.test_job_actions import attach


@pytest.fixture
def workspace(home: Path):
    ws = Workspace.open(load_settings({"home": str(home), "user": "alice", "cluster": "local"}))
    yield ws
    ws.close()


def test_the_datasets_view_previews_lists_jobs_and_deletes_an_unused_dataset(
    window, workspace, dataset_file, qtbot
):
    widget, session = window
    used = add_dataset(workspace, file=dataset_file, name="sums in use")
    unused = add_dataset(workspace, file=dataset_file, name="sums spare")
    create_job(workspace, dataset_id=used.id, name="adding up", gpu_type="cpu")
    attach(qtbot, widget, session)

    file_menu = next(a.menu() for a in widget.menuBar().actions() if a.text().replace("&", "") == "File")
    entry = next(a for a in file_menu.actions() if a.text() == "Datasets…")
    entry.trigger()
    dialog = widget.findChild(DatasetsDialog)
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 2, timeout=5000)
    names = [dialog.table.item(row, 0).text() for row in range(2)]
    assert names == ["sums spare", "sums in use"]  # newest first

    dialog.table.selectRow(1)
    qtbot.waitUntil(lambda: "Used by" in dialog.used_by.text(), timeout=5000)
    assert dialog.used_by.text() == "Used by 1 job: “adding up” (queued)."
    assert dialog.preview.text().startswith("1. What is 0 + 0? → 0\n2. What is 1 + 1? → 2")
    assert f"20 pairs · {dataset_file.stat().st_size} B" in dialog.facts.text()
    assert not dialog.delete_button.isEnabled()

    dialog.table.selectRow(0)
    qtbot.waitUntil(lambda: dialog.used_by.text() == "No job uses it.", timeout=5000)
    assert dialog.delete_button.isEnabled()
    qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
    box = dialog._box
    assert box is not None and box.text() == "Delete “sums spare” and its file? This cannot be undone."
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=5000)
    assert [d.id for d in list_datasets(workspace)] == [used.id]
    assert unused.id not in {d.id for d in list_datasets(workspace)}
