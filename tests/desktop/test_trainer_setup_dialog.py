"""Set up local training from the app, as a person does it: the offer, the dialog, the demo after.

The setup runs the real pip against a stand-in index in tmp (tests/core/stub_index.py), and the
app believes it is the installed bundle (`sys.frozen`), which has no trainer of its own.
"""

from __future__ import annotations

import http.server
import json
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox

from core.config import load_settings
from core.jobs.request import JobOrder
from core.trainer_python import env_dir, env_python
from desktop.app import DesktopApp
from desktop.dialogs.trainer_setup_dialog import TrainerSetupDialog
from desktop.first_run import TITLE as FIRST_RUN_TITLE
from desktop.operations import Runner
from desktop.trainer_offer import FAILED_TITLE
from tests.core.stub_index import make_index, use_only


@pytest.fixture
def installed_app(monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)


@pytest.fixture
def stub_index(tmp_path, monkeypatch) -> Path:
    index = make_index(tmp_path / "index")
    use_only(monkeypatch, index_url=index.as_uri(), find_links=tmp_path / "no-links")
    return index


@pytest.fixture
def desktop(qapp, home):
    apps: list[DesktopApp] = []

    def start(**overrides) -> DesktopApp:
        app = DesktopApp(qapp, load_settings({"home": str(home), "user": "newcomer", **overrides}))
        apps.append(app)
        app.start()
        return app

    yield start
    for app in apps:
        app.shutdown()
        app.window.close()
        app.deleteLater()


def message_box(app: DesktopApp, title: str) -> QMessageBox | None:
    return next(
        (b for b in app.window.findChildren(QMessageBox) if b.windowTitle() == title and b.isVisible()), None
    )


def click(button) -> None:
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


def leftovers(home: Path) -> list[str]:
    return sorted(p.name for p in home.iterdir() if p.name.startswith("trainer-env") and not p.suffix)


def test_first_run_sets_up_local_training_then_runs_the_demo(qtbot, home, installed_app, stub_index, desktop):
    app = desktop()
    qtbot.waitUntil(lambda: message_box(app, FIRST_RUN_TITLE) is not None, timeout=15_000)
    offer = message_box(app, FIRST_RUN_TITLE)
    assert "one-time setup" in offer.text()
    setup_button = next(b for b in offer.buttons() if b.text() == "Set up local training")
    click(setup_button)

    qtbot.waitUntil(lambda: app.window.findChild(TrainerSetupDialog) is not None, timeout=5000)
    dialog = app.window.findChild(TrainerSetupDialog)
    assert dialog.isVisible() and dialog.windowTitle() == "Set up local training"
    values: list[int] = []
    dialog.bar.valueChanged.connect(values.append)
    assert not dialog.log_view.isVisible()
    click(dialog.details)
    assert dialog.log_view.isVisible()

    qtbot.waitUntil(lambda: dialog.stage.text().startswith("Local training is ready"), timeout=180_000)
    assert dialog.bar.value() == 100
    assert len(set(values)) >= 6 and values == sorted(values)  # it moved, step by step, forwards
    log = dialog.log_view.toPlainText()
    assert "Successfully installed" in log and "peft" in log
    assert dialog.cancel_button.text() == "Close"

    # The workspace opens anew with the new trainer, and the demo is queued and handed to it.
    qtbot.waitUntil(lambda: app.window.model.rowCount() == 1, timeout=30_000)
    jobs = home / "jobs"
    qtbot.waitUntil(lambda: any(jobs.glob("*/process.json")), timeout=30_000)
    process = json.loads(next(jobs.glob("*/process.json")).read_text())
    assert process["python"] == str(env_python(env_dir(home)))
    click(dialog.cancel_button)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)


class _StallingIndex(http.server.BaseHTTPRequestHandler):
    asked = threading.Event()
    release = threading.Event()

    def do_GET(self) -> None:
        type(self).asked.set()
        type(self).release.wait(60)

    def log_message(self, *args: object) -> None:
        pass


def test_cancel_leaves_nothing_half_installed(qtbot, home, tmp_path, monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StallingIndex)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    use_only(
        monkeypatch, index_url=f"http://127.0.0.1:{server.server_port}/simple", find_links=tmp_path / "l"
    )
    runner = Runner()
    dialog = TrainerSetupDialog(load_settings({"home": str(home)}), runner)
    qtbot.addWidget(dialog)
    dialog.open()
    dialog.start()
    try:
        qtbot.waitUntil(_StallingIndex.asked.is_set, timeout=120_000)
        assert dialog.stage.text().startswith("Finding the packages") or "Resolving" in dialog.stage.text()
        assert any(p.name.startswith("trainer-env.partial-") for p in home.iterdir())
        with qtbot.waitSignal(dialog.rejected, timeout=30_000):
            click(dialog.cancel_button)
            assert dialog.stage.text().startswith("Cancelling")
    finally:
        _StallingIndex.release.set()
        server.shutdown()
        runner.shutdown()
    assert not dialog.isVisible()
    assert leftovers(home) == []


def test_no_python_says_what_to_install_and_offers_to_choose_one(qtbot, home, tmp_path, monkeypatch):
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    runner = Runner()
    dialog = TrainerSetupDialog(load_settings({"home": str(home)}), runner)
    qtbot.addWidget(dialog)
    dialog.open()
    dialog.start()
    try:
        qtbot.waitUntil(dialog.error.isVisible, timeout=30_000)
    finally:
        runner.shutdown()
    error = dialog.error.text()
    assert error.startswith("no Python 3.11 or newer")
    assert "sudo apt install python3 python3-venv" in error and "Choose Python…" in error
    assert dialog.choose_button.isVisible() and dialog.choose_button.text() == "Choose Python…"
    assert dialog.retry_button.isVisible() and dialog.cancel_button.text() == "Close"
    assert "nothing was changed" in dialog.stage.text()
    assert leftovers(home) == []


def test_a_job_that_failed_for_want_of_a_trainer_offers_the_setup(qtbot, home, installed_app, desktop):
    app = desktop(demo_offered=True)
    qtbot.waitUntil(lambda: app.session is not None, timeout=15_000)
    created = []
    dataset = Path(__file__).resolve().parents[2] / "resources" / "sample-dataset.jsonl"
    app.session.add_dataset(file=dataset, name="numbers", bucket=None, on_done=created.append)
    qtbot.waitUntil(lambda: bool(created), timeout=10_000)
    order = JobOrder(
        dataset_id=created[0].id, name="my first run", hyperparameters={"base_model": "tiny", "epochs": 1}
    )
    app.session.create_job(order, force=False, on_done=created.append)
    qtbot.waitUntil(lambda: message_box(app, FAILED_TITLE) is not None, timeout=30_000)
    box = message_box(app, FAILED_TITLE)
    assert "“my first run” could not start" in box.text()
    assert [b.text() for b in box.buttons()] == ["Set up local training", "Not now"]
    click(next(b for b in box.buttons() if b.text() == "Not now"))
    qtbot.waitUntil(lambda: message_box(app, FAILED_TITLE) is None, timeout=5000)


def test_a_trainer_python_without_torch_names_itself_and_offers_the_setup(qtbot, home, tmp_path, desktop):
    """Settings name a Trainer Python where torch is missing: the job fails saying which Python
    was tried, and the app offers Set up local training though a Trainer Python is set."""
    # runs `-m MODULE ARGS…` (the trainer and its standby) as a Python would
    python = tmp_path / "python-without-torch"
    python.write_text(
        f"#!/bin/sh\nexec {sys.executable} -c \"import runpy, sys; sys.modules['torch'] = None; "
        "module = sys.argv[2]; sys.argv = [module, *sys.argv[3:]]; "
        'runpy.run_module(module, run_name=\'__main__\', alter_sys=True)" "$@"\n'
    )
    python.chmod(0o755)
    app = desktop(demo_offered=True, trainer_python=str(python))
    qtbot.waitUntil(lambda: app.session is not None, timeout=15_000)
    created = []
    dataset = Path(__file__).resolve().parents[2] / "resources" / "sample-dataset.jsonl"
    app.session.add_dataset(file=dataset, name="numbers", bucket=None, on_done=created.append)
    qtbot.waitUntil(lambda: bool(created), timeout=10_000)
    order = JobOrder(dataset_id=created[0].id, name="torchless", hyperparameters={"epochs": 1})
    app.session.create_job(order, force=False, on_done=created.append)
    qtbot.waitUntil(lambda: message_box(app, FAILED_TITLE) is not None, timeout=60_000)
    box = message_box(app, FAILED_TITLE)
    assert box.text().startswith(f"“torchless” could not start: {sys.executable} has no torch.\n")
    assert [b.text() for b in box.buttons()] == ["Set up local training", "Not now"]
    click(next(b for b in box.buttons() if b.text() == "Not now"))
