"""The new-job dialog: the fields become create_job's arguments, and the estimate follows them."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_settings
from core.datasets import add_dataset
from core.jobs import list_jobs
from core.workspace import Workspace
from desktop.core_events import CoreEvents
from desktop.dialogs.new_job import NewJobDialog
from desktop.operations import Runner
from desktop.session import Session


@pytest.fixture
def session(home: Path, dataset_file: Path):
    ws = Workspace.open(load_settings({"home": str(home), "user": "alice"}))
    add_dataset(ws, file=dataset_file, name="sums")
    runner = Runner()
    yield Session(ws, runner, CoreEvents())
    runner.shutdown()
    ws.close()


@pytest.fixture
def dialog(qtbot, session):
    widget = NewJobDialog(session)
    qtbot.addWidget(widget)
    qtbot.waitUntil(lambda: widget.dataset_combo.count() == 1, timeout=5000)
    return widget


def test_creates_the_job_it_shows(dialog, session, qtbot):
    dialog.base_model.setText("/models/llama-3-8b")
    dialog.epochs.setValue(5)
    dialog.rank.setValue(32)
    dialog.learning_rate.setText("1e-4")
    with qtbot.waitSignal(dialog.job_created, timeout=5000) as created:
        dialog.ok_button.click()
    (job,) = list_jobs(session.ws)
    assert created.args[0].id == job.id
    assert job.hyperparameters == {
        "base_model": "/models/llama-3-8b",
        "epochs": 5,
        "learning_rate": 1e-4,
        "lora_rank": 32,
        "lora_alpha": 64,  # follows 2 × rank until set by hand
        "batch_size": 8,
    }


def test_local_backend_defaults_to_the_tiny_model(dialog):
    assert dialog.base_model.text() == "tiny"


def test_estimate_follows_gpu_count_and_hours(dialog, session):
    dialog.gpu_type.setCurrentIndex(dialog.gpu_type.findData("H100"))
    dialog.gpu_count.setValue(4)
    dialog.hours.setValue(2.5)
    expected = session.settings.gpu_rates["H100"] * 4 * 2.5
    assert f"{expected:,.2f}" in dialog.estimate.text()


def test_bad_learning_rate_is_refused_with_a_message(dialog, session):
    dialog.learning_rate.setText("fast")
    dialog.ok_button.click()
    assert "Learning rate must be a number" in dialog.error.text()
    assert list_jobs(session.ws) == []
