"""The add-dataset dialog shows add_dataset's refusals inline, in the service's words; the storage
bucket waits under "Advanced"."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from core.config import load_settings
from core.datasets.catalog import add_dataset, list_datasets
from core.workspace import Workspace
from desktop.core_events import CoreEvents
from desktop.dialogs.add_dataset import AddDatasetDialog
from desktop.operations import Runner
from desktop.session import Session


@pytest.fixture
def session(home: Path):
    ws = Workspace.open(load_settings({"home": str(home), "user": "alice"}))
    runner = Runner()
    yield Session(ws, runner, CoreEvents())
    runner.shutdown()
    ws.close()


@pytest.fixture
def dialog(qtbot, session):
    widget = AddDatasetDialog(session)
    qtbot.addWidget(widget)
    return widget


def error_after_ok(dialog, qtbot) -> str:
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: not dialog.error.isHidden() and dialog.ok_button.isEnabled(), timeout=5000)
    return dialog.error.text()


def test_adds_the_file_it_names(dialog, session, qtbot, dataset_file):
    dialog.file_edit.setText(str(dataset_file))
    dialog.name_edit.setText("sums")
    with qtbot.waitSignal(dialog.dataset_added, timeout=5000) as added:
        dialog.ok_button.click()
    assert added.args[0].name == "sums" and list_datasets(session.ws) == [added.args[0]]


def test_a_name_in_use_is_refused_inline(dialog, session, qtbot, dataset_file):
    first = add_dataset(session.ws, file=dataset_file, name="sums")
    dialog.file_edit.setText(str(dataset_file))
    dialog.name_edit.setText("sums")
    assert error_after_ok(dialog, qtbot) == (
        f"you already have a dataset named 'sums' ({first.id}); choose another name"
    )
    assert list_datasets(session.ws) == [first]


def test_a_long_name_is_refused_before_the_file_is_stored(dialog, session, qtbot, dataset_file, home):
    dialog.file_edit.setText(str(dataset_file))
    dialog.name_edit.setText("n" * 201)
    assert error_after_ok(dialog, qtbot) == "a dataset name may have at most 200 characters; this one has 201"
    assert list_datasets(session.ws) == [] and not (home / "storage").exists()


def test_a_folder_is_named_as_one(dialog, qtbot, tmp_path):
    dialog.file_edit.setText(str(tmp_path))
    assert (
        error_after_ok(dialog, qtbot) == f"{tmp_path} is a folder; give the dataset's .jsonl file inside it"
    )


def test_the_bucket_is_hidden_until_advanced_is_opened(dialog, qtbot, dataset_file):
    dialog.show()
    qtbot.waitExposed(dialog)
    assert not dialog.bucket_combo.isVisible()
    assert dialog.advanced_button.text() == "Advanced"
    QTest.mouseClick(dialog.advanced_button, Qt.MouseButton.LeftButton)
    assert dialog.bucket_combo.isVisible()
    assert dialog.advanced.geometry().bottom() < dialog.height()  # the dialog grew to show it
    dialog.bucket_combo.setCurrentText("training-files")
    QTest.mouseClick(dialog.advanced_button, Qt.MouseButton.LeftButton)
    assert not dialog.bucket_combo.isVisible()

    dialog.file_edit.setText(str(dataset_file))
    with qtbot.waitSignal(dialog.dataset_added, timeout=5000) as added:
        QTest.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert added.args[0].storage_bucket == "training-files"  # a hidden choice still counts


def test_without_advanced_the_default_bucket_is_used(dialog, qtbot, dataset_file):
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.file_edit.setText(str(dataset_file))
    with qtbot.waitSignal(dialog.dataset_added, timeout=5000) as added:
        QTest.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert added.args[0].storage_bucket in (None, "lora-datasets")
