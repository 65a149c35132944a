"""The first-run demo offer: once, to a new user on the local backend, a real job in one click."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_settings
from core.datasets.catalog import list_datasets
from core.demo import DEMO_DATASET_NAME, sample_dataset_file, start_demo_job
from core.jobs.service import list_jobs
from core.workspace import Workspace
from desktop.core_events import CoreEvents
from desktop.first_run import offer_demo, wants_demo
from desktop.main_window import MainWindow
from desktop.operations import Runner
from desktop.session import Session


@pytest.fixture
def session(qtbot, home: Path):
    ws = Workspace.open(load_settings({"home": str(home), "user": "newcomer"}))
    runner = Runner()
    yield Session(ws, runner, CoreEvents())
    runner.shutdown()
    ws.close()


def test_offered_once_to_a_new_local_user(home):
    settings = load_settings({"home": str(home)})
    assert wants_demo(settings, jobs_shown=0)
    assert not wants_demo(settings, jobs_shown=3)
    assert not wants_demo(settings.with_changes(demo_offered=True), jobs_shown=0)
    assert not wants_demo(settings.with_changes(cluster="http", cluster_url="http://c:1"), jobs_shown=0)


def test_demo_job_uses_the_shipped_sample(session):
    job = start_demo_job(session.ws)
    again = start_demo_job(session.ws)
    assert job.hyperparameters["base_model"] == "tiny" and job.status.value == "queued"
    assert again.dataset_id == job.dataset_id  # the sample is added once
    assert sample_dataset_file().is_file()


@pytest.mark.parametrize("accept", [True, False])
def test_answer_is_remembered_and_start_queues_a_job(qtbot, session, home, accept):
    window = MainWindow()
    qtbot.addWidget(window)
    answered = []
    box = offer_demo(
        window,
        session,
        on_answered=answered.append,
        on_created=window.toolbar.show_created_job,
        on_error=window.show_error,
    )
    assert box.isVisible()
    button = box.buttons()[0 if accept else 1]
    assert button.text() == ("Start demo run" if accept else "Not now")
    button.click()

    qtbot.waitUntil(lambda: bool(answered), timeout=5000)
    # Only the answer: not the user given as an option when the session opened.
    assert (home / "settings.toml").read_text() == "demo_offered = true\n"
    assert load_settings({"home": str(home)}).demo_offered
    if accept:
        qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)
        (job,) = list_jobs(session.ws)
        assert job.name.startswith("demo")
        assert DEMO_DATASET_NAME in {d.name for d in list_datasets(session.ws)}
    else:
        assert list_jobs(session.ws) == []
