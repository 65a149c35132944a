"""The new-job dialog: the fields become create_job's arguments, and the estimate follows them."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from core.config import load_settings
from core.datasets import add_dataset
from core.hyperparameters import TINY_LEARNING_RATE, Hyperparameters
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


def test_creates_the_job_it_shows(dialog, session, qtbot, tmp_path):
    model = tmp_path / "llama-3-8b"
    model.mkdir()
    (model / "config.json").write_text("{}")
    dialog.base_model.setText(str(model))
    dialog.epochs.setValue(5)
    dialog.rank.setValue(32)
    dialog.learning_rate.setText("1e-4")
    with qtbot.waitSignal(dialog.job_created, timeout=5000) as created:
        dialog.ok_button.click()
    (job,) = list_jobs(session.ws)
    assert created.args[0].id == job.id
    assert job.hyperparameters == {
        "base_model": str(model),
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


def test_defaults_come_from_the_hyperparameters_record(dialog, session, qtbot):
    hp = Hyperparameters()
    assert (dialog.epochs.value(), dialog.rank.value(), dialog.batch_size.value()) == (
        hp.epochs,
        hp.lora_rank,
        hp.batch_size,
    )
    assert (
        dialog.learning_rate.text() == ""
        and "3e-3 for the tiny model" in dialog.learning_rate.placeholderText()
    )
    with qtbot.waitSignal(dialog.job_created, timeout=5000):
        dialog.ok_button.click()
    (job,) = list_jobs(session.ws)
    assert job.hyperparameters["base_model"] == "tiny"
    assert job.hyperparameters["learning_rate"] == TINY_LEARNING_RATE  # the tiny model's default


def error_after_ok(dialog, qtbot) -> str:
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: not dialog.error.isHidden() and dialog.ok_button.isEnabled(), timeout=5000)
    return dialog.error.text()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("learning_rate", "5", "learning rate must be a number above 0 and below 1, not 5.0"),
        ("learning_rate", "-1e-4", "learning rate must be a number above 0 and below 1, not -0.0001"),
        (
            "base_model",
            "/no/such/model",
            "base model '/no/such/model' is neither 'tiny', a local model folder with a config.json,"
            " nor a Hugging Face model id",
        ),
        ("name_edit", "n" * 201, "a job name may have at most 200 characters; this one has 201"),
    ],
)
def test_the_services_refusal_shows_inline(dialog, session, qtbot, field, value, message):
    getattr(dialog, field).setText(value)
    assert error_after_ok(dialog, qtbot) == message
    assert list_jobs(session.ws) == []


def test_sample_prompts_are_set_in_the_advanced_part(dialog, session, qtbot):
    assert not dialog.sample_fields.isVisible()
    dialog.show()
    toggle = dialog.advanced_toggle
    qtbot.mouseClick(toggle, Qt.MouseButton.LeftButton, pos=QPoint(8, toggle.height() // 2))
    assert dialog.sample_fields.isVisible()
    prompts = dialog.sample_fields.prompts
    prompts.setFocus()
    QTest.keyClicks(prompts, "Say hi")
    QTest.keyClick(prompts, Qt.Key.Key_Return)
    QTest.keyClicks(prompts, "Line one\\nline two")
    spin = dialog.sample_fields.max_new_tokens
    spin.selectAll()
    QTest.keyClicks(spin, "48")
    with qtbot.waitSignal(dialog.job_created, timeout=5000):
        dialog.ok_button.click()
    (job,) = list_jobs(session.ws)
    assert job.hyperparameters["sample_prompts"] == ["Say hi", "Line one\nline two"]
    assert job.hyperparameters["max_new_tokens"] == 48

    clone = NewJobDialog(session, like=job, mode="clone")  # a clone starts from them, shown
    qtbot.addWidget(clone)
    assert clone.advanced_toggle.isChecked()
    assert clone.sample_fields.prompts.toPlainText() == "Say hi\nLine one\\nline two"
    assert clone.sample_fields.values() == {
        "sample_prompts": ["Say hi", "Line one\nline two"],
        "max_new_tokens": 48,
    }
