"""The new-job dialog: the fields become create_job's arguments, and the estimate follows them."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.formats.hyperparameters import TINY_LEARNING_RATE, Hyperparameters
from core.jobs.service import create_job, list_jobs
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


@pytest.fixture
def dialog_on(qtbot, home: Path, dataset_file: Path):
    """A new-job dialog over a workspace of these settings, its dataset list loaded."""
    opened = []

    def make(**settings) -> NewJobDialog:
        ws = Workspace.open(load_settings({"home": str(home), "user": "alice", **settings}))
        add_dataset(ws, file=dataset_file, name="sums")
        runner = Runner()
        opened.append((ws, runner))
        widget = NewJobDialog(Session(ws, runner, CoreEvents()))
        qtbot.addWidget(widget)
        qtbot.waitUntil(lambda: widget.dataset_combo.count() == 1, timeout=5000)
        return widget

    yield make
    for ws, runner in opened:
        qtbot.waitUntil(lambda runner=runner: runner.in_flight == 0, timeout=5000)
        runner.shutdown()
        ws.close()


def test_estimate_follows_gpu_count_and_hours(dialog_on):
    dialog = dialog_on(cluster="http", cluster_url="http://127.0.0.1:9")
    dialog.gpu_type.setCurrentIndex(dialog.gpu_type.findData("H100"))
    dialog.gpu_count.setValue(4)
    dialog.hours.setValue(2.5)
    assert dialog.estimate.text() == "$45.00  ($18.00/h)"  # $4.50 per GPU-hour


def test_the_local_backend_offers_what_the_machine_has_at_the_local_rate(dialog_on, monkeypatch):
    from core.money import gpu_offer

    monkeypatch.setattr(gpu_offer, "local_gpus", lambda: {"NVIDIA L4": 1})
    dialog = dialog_on(local_rate="0.3")
    offered = [dialog.gpu_type.itemText(i) for i in range(dialog.gpu_type.count())]
    assert offered == ["cpu  ($0.30/h)", "NVIDIA L4  ($0.30/h)"]  # no H100 this machine lacks
    dialog.gpu_type.setCurrentIndex(dialog.gpu_type.findData("NVIDIA L4"))
    dialog.hours.setValue(2)
    assert dialog.estimate.text() == "$0.60  ($0.30/h)"


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


def _shown(qtbot, dialog) -> None:
    """Shown and active, as a person's window is: Tab then leaves a field and it takes the value."""
    with qtbot.waitActive(dialog):
        dialog.show()
        dialog.activateWindow()


def _type(qtbot, field, text: str) -> None:
    field.setFocus()
    field.selectAll()
    qtbot.keyClicks(field, text)
    qtbot.keyClick(field, Qt.Key.Key_Tab)


def test_the_advanced_section_sets_every_other_hyperparameter(dialog, session, qtbot):
    _shown(qtbot, dialog)
    assert not dialog.training_fields.isVisible()
    toggle = dialog.advanced_toggle
    closed_height = dialog.height()
    qtbot.mouseClick(toggle, Qt.MouseButton.LeftButton, pos=QPoint(8, toggle.height() // 2))
    assert dialog.training_fields.isVisible()
    # Taller with the section open, yet within the screen: Create stays in sight, the fields scroll.
    qtbot.waitUntil(lambda: dialog.height() > closed_height)
    screen = dialog.screen().availableGeometry()
    assert dialog.frameGeometry().height() <= screen.height()
    assert dialog.rect().contains(dialog.ok_button.geometry())
    fields = dialog.training_fields
    for field, text in (
        (fields.warmup_ratio, "0.2"),
        (fields.lora_dropout, "0.1"),
        (fields.max_length, "512"),
        (fields.seed, "7"),
        (fields.validation_split, "0.25"),
        (fields.eval_interval, "20"),
        (fields.gradient_accumulation_steps, "4"),
        (fields.max_steps, "300"),
    ):
        _type(qtbot, field, text)
    _type(qtbot, fields.target_modules, "q_proj, v_proj")
    _type(qtbot, fields.checkpoint_interval, "25")
    for combo, word in ((fields.precision, "fp32"), (fields.quantization, "8bit")):
        combo.setFocus()
        while combo.currentText() != word:  # arrow keys, as a person steps through a list
            qtbot.keyClick(combo, Qt.Key.Key_Down)
    for box in (fields.gradient_checkpointing, fields.packing):
        qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    with qtbot.waitSignal(dialog.job_created, timeout=5000):
        dialog.ok_button.click()
    (job,) = list_jobs(session.ws)
    hp = job.hyperparameters
    assert (hp["precision"], hp["quantization"], hp["checkpoint_interval"]) == ("fp32", "8bit", 25)
    assert hp["gradient_checkpointing"] is True and hp["packing"] is True
    assert (hp["warmup_ratio"], hp["lora_dropout"], hp["max_length"], hp["seed"]) == (0.2, 0.1, 512, 7)
    assert (hp["validation_split"], hp["eval_interval"], hp["gradient_accumulation_steps"]) == (0.25, 20, 4)
    assert (hp["max_steps"], hp["target_modules"]) == (300, ["q_proj", "v_proj"])


def test_a_job_started_from_another_shows_its_memory_and_precision_settings(dialog, session, qtbot):
    settings = {
        "precision": "bf16",
        "quantization": "4bit",
        "gradient_checkpointing": True,
        "packing": True,
        "checkpoint_interval": 10,
    }
    job = create_job(session.ws, dataset_id="sums", hyperparameters=settings)
    _shown(qtbot, dialog)
    dialog.start_from(job, keep_name=False)  # what Clone… and Retry do
    fields = dialog.training_fields
    assert fields.isVisible()  # settings of its own: the section opens on them
    assert (fields.precision.currentText(), fields.quantization.currentText()) == ("bf16", "4bit")
    assert fields.gradient_checkpointing.isChecked() and fields.packing.isChecked()
    assert fields.checkpoint_interval.text() == "10"
    with qtbot.waitSignal(dialog.job_created, timeout=5000) as created:
        dialog.ok_button.click()
    assert {k: created.args[0].hyperparameters[k] for k in settings} == settings


def test_untouched_advanced_fields_keep_the_defaults(dialog, session, qtbot):
    with qtbot.waitSignal(dialog.job_created, timeout=5000):
        dialog.ok_button.click()
    (job,) = list_jobs(session.ws)
    assert set(job.hyperparameters) == {
        "base_model",
        "epochs",
        "learning_rate",
        "lora_rank",
        "lora_alpha",
        "batch_size",
    }


def test_expected_time_below_an_hour_reads_in_minutes(dialog, qtbot):
    _shown(qtbot, dialog)
    _type(qtbot, dialog.hours, "45 min")
    assert dialog.hours.text() == "45 min" and dialog.hours.value() == pytest.approx(0.75)
    _type(qtbot, dialog.hours, "2.5")
    assert dialog.hours.text() == "2.50 h"
    dialog.hours.setValue(0.5)
    assert dialog.hours.text() == "30 min"


def test_stop_rule_fields_show_their_whole_text(dialog, qtbot):
    _shown(qtbot, dialog)
    qtbot.waitExposed(dialog)
    for spin in (dialog.rules.stop_on_plateau, dialog.rules.max_cost, dialog.rules.max_hours):
        shown = spin.lineEdit()
        assert shown.fontMetrics().horizontalAdvance(spin.text()) < shown.width(), spin.text()


def test_clearing_a_cap_clears_it(dialog, session, qtbot):
    _shown(qtbot, dialog)
    _type(qtbot, dialog.rules.max_cost, "5")
    assert dialog.rules.rules()["max_cost"] == 5
    dialog.rules.max_cost.setFocus()
    dialog.rules.max_cost.selectAll()
    qtbot.keyClick(dialog.rules.max_cost, Qt.Key.Key_Backspace)
    qtbot.keyClick(dialog.rules.max_cost, Qt.Key.Key_Tab)
    assert dialog.rules.rules()["max_cost"] is None
    assert dialog.rules.max_cost.text() == "No cap"
    with qtbot.waitSignal(dialog.job_created, timeout=5000):
        dialog.ok_button.click()
    (job,) = list_jobs(session.ws)
    assert job.max_cost is None  # the job has no cost cap, not the $5 typed before


def test_a_name_past_200_characters_is_flagged_while_typing(dialog, qtbot):
    _shown(qtbot, dialog)
    dialog.name_edit.setFocus()
    qtbot.keyClicks(dialog.name_edit, "x" * 200)
    assert not dialog.error.isVisible()
    qtbot.keyClicks(dialog.name_edit, "yz")
    assert dialog.error.isVisible()
    assert dialog.error.text() == "The name has 202 characters; at most 200 (2 too many)."
    assert dialog.name_edit.property("invalid") is True
    qtbot.keyClick(dialog.name_edit, Qt.Key.Key_Backspace)
    qtbot.keyClick(dialog.name_edit, Qt.Key.Key_Backspace)
    assert not dialog.error.isVisible()


def test_a_dialog_edited_while_the_app_closes_asks_for_nothing(dialog, session, qtbot):
    """The runner is shut down (the app closing) while the dialog is still open: an edit that
    asks for a new time estimate is dropped instead of failing on the stopped worker pool."""
    qtbot.waitUntil(lambda: session.runner.in_flight == 0, timeout=5000)  # the dialog's first loads
    session.runner.shutdown()
    dialog.epochs.setValue(dialog.epochs.value() + 1)
    assert session.runner.in_flight == 0
