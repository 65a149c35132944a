"""Guardrails and the monthly budget in the app: the new-job dialog's rule fields and month's spend,
the question before passing the budget, the monitor's rules and why a rule stopped a job, the
edit-rules dialog and the settings field. Read as a person reads them: labels, chips, buttons."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox
from sqlalchemy import update

from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.db.models import CostRecordRow
from core.jobs.service import cancel_job, create_job, get_job, list_jobs
from core.records import JobStatus
from core.workspace import Workspace
from desktop.core_events import CoreEvents
from desktop.dialogs.new_job import NewJobDialog
from desktop.dialogs.rules_dialog import RulesDialog
from desktop.dialogs.settings_dialog import SettingsDialog
from desktop.jobs_model import Column
from desktop.operations import Runner
from desktop.session import Session
from tests.core.helpers import set_job_columns
from tests.desktop.factories import make_job
from tests.desktop.windows import show_main_window

MONTH = dt.datetime.now(dt.UTC).strftime("%B %Y")


def open_session(home: Path, dataset_file: Path, *, budget: float | None = None, billed: float = 0.0):
    # a cluster that bills its GPUs (the local backend offers only what this machine has)
    settings = {"cluster": "http", "cluster_url": "http://127.0.0.1:9", "monthly_budget": budget}
    ws = Workspace.open(load_settings({"home": str(home), "user": "alice", **settings}))
    dataset = add_dataset(ws, file=dataset_file, name="sums")
    if billed:
        job = create_job(ws, dataset_id=dataset.id, name="earlier")
        asyncio.run(cancel_job(ws, job_id=job.id))
        with ws.db.write() as session:
            session.execute(update(CostRecordRow).where(CostRecordRow.job_id == job.id).values(amount=billed))
    return ws


@pytest.fixture
def make_session(home, dataset_file):
    opened = []

    def make(**options):
        ws = open_session(home, dataset_file, **options)
        runner = Runner()
        opened.append((ws, runner))
        return Session(ws, runner, CoreEvents())

    yield make
    for ws, runner in opened:
        runner.shutdown()
        ws.close()


def new_job_dialog(qtbot, session) -> NewJobDialog:
    dialog = NewJobDialog(session)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.dataset_combo.count() == 1 and dialog.month is not None, timeout=5000)
    dialog.gpu_type.setCurrentIndex(dialog.gpu_type.findData("H100"))  # $4.50/h
    return dialog


def type_into(spin, text: str) -> None:
    spin.setFocus()
    spin.selectAll()
    QTest.keyClicks(spin, text)
    QTest.keyClick(spin, Qt.Key.Key_Tab)


def test_the_rule_fields_become_the_jobs_rules(qtbot, make_session):
    session = make_session()
    dialog = new_job_dialog(qtbot, session)
    type_into(dialog.rules.max_cost, "12")
    type_into(dialog.rules.max_hours, "2.5")
    type_into(dialog.rules.stop_on_plateau, "5")
    QTest.mouseClick(dialog.rules.stop_on_nan, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(dialog.job_created, timeout=5000):
        dialog.ok_button.click()
    (job,) = list_jobs(session.ws)
    assert (job.max_cost, job.max_hours, job.stop_on_nan, job.stop_on_plateau) == (12.0, 2.5, True, 5)


def test_rules_left_at_no_cap_are_off(qtbot, make_session):
    session = make_session()
    dialog = new_job_dialog(qtbot, session)
    assert dialog.rules.max_cost.text() == "No cap" and dialog.rules.stop_on_plateau.text() == "Off"
    with qtbot.waitSignal(dialog.job_created, timeout=5000):
        dialog.ok_button.click()
    (job,) = list_jobs(session.ws)
    assert (job.max_cost, job.max_hours, job.stop_on_nan, job.stop_on_plateau) == (None, None, False, None)


def test_the_months_spend_and_the_jobs_estimate_against_the_budget(qtbot, make_session):
    dialog = new_job_dialog(qtbot, make_session(budget=100, billed=40))
    assert dialog.spend.text() == (
        f"$40.00 of your $100.00 budget spent in {MONTH}; with this job about $44.50 (44%)"
    )
    assert dialog.spend.objectName() == "Muted"
    type_into(dialog.rules.max_cost, "2")  # the cap bounds the estimate
    assert dialog.estimate.text() == "$2.00  ($4.50/h; within the stop rules)"
    assert dialog.spend.text().endswith("with this job about $42.00 (42%)")
    type_into(dialog.rules.max_cost, "0")
    dialog.hours.setValue(20)
    assert dialog.spend.text().endswith("with this job about $130.00 (130%): past the budget")
    assert dialog.spend.objectName() == "FieldError"


def test_without_a_budget_the_spend_is_shown_alone(qtbot, make_session):
    dialog = new_job_dialog(qtbot, make_session(billed=3.25))
    assert dialog.spend.text() == f"$3.25 spent in {MONTH}; no monthly budget (Settings)"


def budget_question(qtbot, dialog) -> QMessageBox:
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: dialog._budget_box is not None and dialog._budget_box.isVisible(), timeout=5000)
    return dialog._budget_box


def test_a_job_past_the_budget_asks_first_and_goes_back(qtbot, make_session):
    session = make_session(budget=10, billed=8)
    dialog = new_job_dialog(qtbot, session)
    dialog.hours.setValue(2)  # $9.00 more
    box = budget_question(qtbot, dialog)
    assert box.text() == "This job would take you past your monthly budget."
    assert "this job (about $9.00) would take it to $17.00, past the budget" in box.informativeText()
    QTest.mouseClick(box.button(QMessageBox.StandardButton.No), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog._budget_box is None, timeout=5000)
    assert [j.name for j in list_jobs(session.ws)] == ["earlier"]
    assert dialog.isVisible() and dialog.ok_button.isEnabled()


def test_a_job_past_the_budget_is_created_when_the_person_says_so(qtbot, make_session):
    session = make_session(budget=10, billed=8)
    dialog = new_job_dialog(qtbot, session)
    dialog.hours.setValue(2)
    box = budget_question(qtbot, dialog)
    assert box.button(QMessageBox.StandardButton.Yes).text() == "Create anyway"
    with qtbot.waitSignal(dialog.job_created, timeout=5000):
        QTest.mouseClick(box.button(QMessageBox.StandardButton.Yes), Qt.MouseButton.LeftButton)
    assert len(list_jobs(session.ws)) == 2


def chips(monitor) -> list[tuple[str, str]]:
    return [(c.text(), c.property("level") or "") for c in monitor.rules.chips if c.isVisible()]


def test_the_monitor_shows_how_close_the_job_is_to_each_rule(monitor):
    job = make_job(
        1,
        started_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
        hourly_rate=12.0,  # by the clock $12 now; the chip shows the recorded cost, as the card does
        current_cost=9.6,
        max_cost=12.0,
        max_hours=4.0,
        stop_on_nan=True,
        stop_on_plateau=5,
        evaluations_since_best=2,
    )
    monitor.show_job(job)
    assert chips(monitor) == [
        ("Cost cap: $9.60 of $12.00", "near"),
        ("Time cap: 1 h of 4 h", ""),
        ("Stop on NaN: no NaN loss so far", ""),
        ("Plateau: 2 of 5 evaluations without improvement", ""),
    ]
    assert monitor.cards["cost"].text() == "$9.60"
    assert monitor.rules.edit_button.text() == "Edit rules…" and monitor.rules.edit_button.isVisible()
    assert not monitor.rules.reason.isVisible()


def test_small_caps_read_as_themselves(monitor):
    """A 72 s time cap and a half-cent cost cap: no "0 s of 1 min" or "$0.00 of $0.01"."""
    job = make_job(
        4,
        started_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30),
        current_cost=0.003,
        max_cost=0.005,
        max_hours=72 / 3600,
    )
    monitor.show_job(job)
    cost, time = chips(monitor)
    assert cost == ("Cost cap: $0.003 of $0.005", "")
    assert re.fullmatch(r"Time cap: 3\d s of 1 min 12 s", time[0]), time


def test_the_monitor_says_which_rule_stopped_the_job(monitor):
    job = make_job(
        2,
        status=JobStatus.CANCELLED,
        final_cost=12.01,
        max_cost=12.0,
        stop_reason="cost reached $12.01 of $12.00",
    )
    monitor.show_job(job)
    assert monitor.rules.reason.isVisible()
    assert monitor.rules.reason.text() == "Stopped: cost reached $12.01 of $12.00"
    assert chips(monitor) == [("Cost cap: $12.01 of $12.00", "fired")]
    assert not monitor.rules.edit_button.isVisible()  # over: nothing to edit


def test_a_job_without_rules_offers_to_add_them(monitor, qtbot):
    job = make_job(3, hourly_rate=0.0)
    monitor.show_job(job)
    assert chips(monitor) == [] and monitor.rules.none.isVisible()
    assert monitor.rules.edit_button.text() == "Add rules…"
    with qtbot.waitSignal(monitor.rules_edit_requested, timeout=1000) as asked:
        QTest.mouseClick(monitor.rules.edit_button, Qt.MouseButton.LeftButton)
    assert asked.args == [job.id]


def test_rules_are_edited_while_the_job_runs(qtbot, make_session):
    session = make_session()
    job = create_job(session.ws, dataset_id="sums", rules={"max_cost": 12, "stop_on_nan": True})
    dialog = RulesDialog(session, job)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.fields.max_cost.value() == 12 and dialog.fields.stop_on_nan.isChecked()
    type_into(dialog.fields.max_cost, "20")
    QTest.mouseClick(dialog.fields.stop_on_nan, Qt.MouseButton.LeftButton)
    type_into(dialog.fields.max_hours, "3")
    with qtbot.waitSignal(dialog.rules_saved, timeout=5000) as saved:
        dialog.ok_button.click()
    stored = get_job(session.ws, job_id=job.id).job
    assert (stored.max_cost, stored.stop_on_nan, stored.max_hours) == (20.0, False, 3.0)
    assert saved.args[0].max_cost == 20.0


def test_the_settings_dialog_saves_the_monthly_budget(qtbot, tmp_path, monkeypatch):
    monkeypatch.delenv("LORADESK_MONTHLY_BUDGET", raising=False)
    settings = load_settings({"home": str(tmp_path), "user": "alice"}, environ={})
    runner = Runner()
    dialog = SettingsDialog(settings, runner)
    qtbot.addWidget(dialog)
    assert dialog.monthly_budget.text() == "No budget"
    type_into(dialog.monthly_budget, "250")
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        dialog.ok_button.click()
    assert load_settings({"home": str(tmp_path)}, environ={}).monthly_budget == 250.0
    runner.shutdown()


def test_in_the_window_the_shortcut_edits_the_selected_jobs_rules(qtbot, home, dataset_file):
    ws = open_session(home, dataset_file)
    running = create_job(ws, dataset_id="sums", name="running", rules={"stop_on_plateau": 5})
    set_job_columns(ws, running.id, status="running", started_at=dt.datetime.now(dt.UTC))
    runner = Runner()
    session = Session(ws, runner, CoreEvents())
    widget = show_main_window(qtbot)
    with qtbot.waitSignal(widget.loaded, timeout=5000):
        widget.attach(session)
    rect = widget.table.visualRect(widget.proxy.index_of(running.id).siblingAtColumn(Column.NAME))
    qtbot.mouseClick(widget.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: widget.monitor.job is not None and widget.monitor.rules.isVisible(), timeout=5000)
    assert chips(widget.monitor) == [("Plateau: 0 of 5 evaluations without improvement", "")]

    QTest.keySequence(widget, "Ctrl+Shift+G")
    dialog = widget.findChild(RulesDialog)
    qtbot.waitUntil(lambda: dialog is not None and dialog.isVisible(), timeout=5000)
    type_into(dialog.fields.max_cost, "7.5")
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: len(chips(widget.monitor)) == 2, timeout=15_000)  # saved off the UI thread
    assert chips(widget.monitor)[0] == ("Cost cap: $0.00 of $7.50", "")
    assert get_job(ws, job_id=running.id).job.max_cost == 7.5
    widget.detach()
    qtbot.waitUntil(lambda: runner.in_flight == 0, timeout=5000)
    runner.shutdown()
    ws.close()
