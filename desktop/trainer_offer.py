"""Offer "Set up local training" where local jobs need it: a job failed for want of a trainer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from PySide6.QtWidgets import QMessageBox, QWidget

from core.config import Settings
from core.records import Job, JobStatus
from core.trainer_python import NOT_SET_UP
from desktop import formatting as fmt
from desktop.dialogs.trainer_setup_dialog import TITLE, TrainerSetupDialog
from desktop.operations import Runner

FAILED_TITLE = "Local training is not set up"


def failed_for_want_of_a_trainer(jobs: list[Job]) -> Job | None:
    """The first of `jobs` that failed because this machine has no trainer environment."""
    return next(
        (j for j in jobs if j.status is JobStatus.FAILED and NOT_SET_UP in (j.error_message or "")), None
    )


def just_failed(job: Job, *, within: timedelta = timedelta(minutes=10)) -> bool:
    """Failed moments ago (not an old failure the table loads at start)."""
    return job.completed_at is not None and fmt.utc(job.completed_at) > fmt.now() - within


def why_no_trainer(job: Job) -> str:
    """Which Python was tried and what it lacks ("/usr/bin/python3 has no torch"), when the job
    says; else that there is no trainer environment at all."""
    reason = (job.error_message or "").partition(f"{NOT_SET_UP}: ")[2].split(";")[0].strip()
    if " has no " in reason:
        return reason
    return "this machine has no Python environment with torch for Loradesk yet"


def open_setup(
    parent: QWidget, settings: Settings, runner: Runner, *, on_ready: Callable[[object], None]
) -> TrainerSetupDialog:
    """The setup dialog, opened and already running."""
    dialog = TrainerSetupDialog(settings, runner, parent=parent)
    dialog.ready.connect(on_ready)
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    dialog.start()
    return dialog


def offer_setup_for_failed_job(parent: QWidget, job: Job, *, on_setup: Callable[[], None]) -> QMessageBox:
    """Say why the job failed and offer the setup (without blocking the event loop)."""
    box = QMessageBox(
        QMessageBox.Icon.Information,
        FAILED_TITLE,
        f"“{job.name}” could not start: {why_no_trainer(job)}.\n\nSet it up now? Loradesk installs"
        " torch, transformers, peft and safetensors once, in an environment of its own (a few minutes);"
        " then submit the job again.",
        parent=parent,
    )
    setup = box.addButton(TITLE, QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(setup)

    def answered() -> None:
        if box.clickedButton() is setup:
            on_setup()
        box.deleteLater()

    box.finished.connect(answered)
    box.open()
    return box
