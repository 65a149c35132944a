"""The first-run offer: a new user with no jobs on the local backend gets a real run in one click."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox, QWidget

from core.config import Settings, save_settings
from core.records import Job
from desktop.session import Session

TITLE = "Welcome to Loradesk"
TEXT = (
    "Train a small LoRA adapter on this machine now?\n\n"
    "Loradesk adds its sample dataset (200 prompt/completion pairs) and starts a 3-epoch job on "
    "the built-in tiny model. It runs on the CPU in about a minute, and you can watch its loss "
    "fall in the charts below."
)
SETUP_FIRST = (
    "\n\nLocal training needs a one-time setup first: Loradesk installs torch, transformers, peft "
    "and safetensors into a Python environment of its own (a few minutes), then starts the demo."
)


def wants_demo(settings: Settings, *, jobs_shown: int) -> bool:
    """Offer once, to someone with no jobs yet, when jobs run on this machine."""
    return settings.cluster == "local" and not settings.demo_offered and jobs_shown == 0


def offer_demo(
    parent: QWidget,
    session: Session,
    *,
    on_answered: Callable[[Settings], None],
    on_created: Callable[[Job], None],
    on_error: Callable[[BaseException], None],
    set_up_first: Callable[[], None] | None = None,
) -> QMessageBox:
    """Ask without blocking the event loop; either answer is remembered in settings.toml. The
    demo job, once queued, goes to `on_created` (`on_error` hears why it could not be).

    With `set_up_first` (this machine has no trainer yet) the offer says so, and accepting it calls
    `set_up_first` instead of queueing the demo: the setup starts the demo once it is done.
    """
    text = TEXT + (SETUP_FIRST if set_up_first else "")
    box = QMessageBox(QMessageBox.Icon.Question, TITLE, text, parent=parent)
    accept = "Set up local training" if set_up_first else "Start demo run"
    start = box.addButton(accept, QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(start)

    def answered() -> None:
        settings = session.settings.with_changes(demo_offered=True)
        session.runner.run(
            save_settings, settings.home, {"demo_offered": True}, on_done=lambda _path: on_answered(settings)
        )
        if box.clickedButton() is start and set_up_first is not None:
            set_up_first()
        elif box.clickedButton() is start:
            session.start_demo_job(on_done=on_created, on_error=on_error)
        box.deleteLater()

    box.finished.connect(answered)
    box.open()
    return box
