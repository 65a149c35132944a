"""The row context menu, clone and retry, delete, notes and tags, the adapter and the Log tab,
driven as a person drives them: right-clicks, menu entries, clicks, typing; then what the
screen, the clipboard and the database say."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QPoint, Qt, QUrl, Slot
from PySide6.QtGui import QContextMenuEvent, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox
from sqlalchemy import insert

from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.db.models import CostRecordRow, MetricPointRow, NotificationRow, new_id, utcnow
from core.jobs.service import create_job, find_job, list_jobs
from core.records import Job
from core.workspace import Workspace
from desktop.jobs_model import Column
from desktop.main_window import MainWindow
from desktop.session import Session
from tests.core.helpers import count, set_job_columns


@pytest.fixture
def workspace(home: Path):
    ws = Workspace.open(load_settings({"home": str(home), "user": "alice", "cluster": "local"}))
    yield ws
    ws.close()


def make_jobs(ws: Workspace, dataset_file: Path) -> dict[str, Job]:
    """A finished run with points, a cost record and notifications; a running one; a failed one."""
    dataset = add_dataset(ws, file=dataset_file, name="sums")
    hp = {"epochs": 2, "lora_rank": 16, "learning_rate": 1e-3, "batch_size": 4}
    names = ("finished", "running", "broken")
    jobs = {
        n: create_job(ws, dataset_id=dataset.id, name=n, hyperparameters=hp, gpu_type="cpu") for n in names
    }
    start = utcnow() - timedelta(hours=2)
    set_job_columns(
        ws,
        jobs["finished"].id,
        status="completed",
        total_epochs=2,
        started_at=start,
        completed_at=start + timedelta(minutes=30),
        final_cost=0.0,
        artifact_url=(ws.settings.home / "jobs" / jobs["finished"].id / "adapter").as_uri(),
    )
    set_job_columns(ws, jobs["running"].id, status="running", started_at=start)
    set_job_columns(ws, jobs["broken"].id, status="failed", error_message="CUDA OOM")
    done = jobs["finished"].id
    with ws.db.write() as session:
        session.execute(
            insert(MetricPointRow), [{"job_id": done, "step": s, "training_loss": 1.0} for s in (1, 2)]
        )
        session.execute(
            insert(CostRecordRow).values(
                id=new_id(), job_id=done, user_id=ws.user, amount=0.0, billing_period="2026-01", details={}
            )
        )
        session.execute(
            insert(NotificationRow).values(
                id=new_id(), user_id=ws.user, job_id=done, type="job_completed", title="done", message="done"
            )
        )
    return {name: find_job(ws, job_id=job.id) for name, job in jobs.items()}


def attach(qtbot, widget: MainWindow, session: Session) -> None:
    with qtbot.waitSignal(widget.loaded, timeout=5000):
        widget.attach(session)


def right_click(qtbot, widget: MainWindow, job_id: str) -> QMenu:
    """A right-click on the job's row, as the windowing system delivers it: the press (which
    selects the row), then the context-menu event."""
    index = widget.proxy.index_of(job_id).siblingAtColumn(Column.NAME)
    position = widget.table.visualRect(index).center()
    viewport = widget.table.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.RightButton, pos=position)
    qtbot.mouseRelease(viewport, Qt.MouseButton.RightButton, pos=position)
    event = QContextMenuEvent(
        QContextMenuEvent.Reason.Mouse,
        position,
        viewport.mapToGlobal(position),
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(viewport, event)
    menu = widget.job_actions.menu
    assert menu is not None
    qtbot.waitUntil(menu.isVisible)
    return menu


def click_tab(qtbot, widget: MainWindow, text: str) -> None:
    bar = widget.monitor.tabs.tabBar()
    (index,) = [i for i in range(bar.count()) if bar.tabText(i) == text]
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    assert widget.monitor.tabs.currentIndex() == index


def entries(menu: QMenu) -> dict[str, bool]:
    return {a.text(): a.isEnabled() for a in menu.actions() if not a.isSeparator()}


def choose(menu: QMenu, text: str) -> None:
    (action,) = [a for a in menu.actions() if a.text() == text]
    action.trigger()
    menu.close()


def test_the_row_menu_offers_what_the_job_allows(window, workspace, dataset_file, qtbot):
    widget, session = window
    jobs = make_jobs(workspace, dataset_file)
    attach(qtbot, widget, session)

    finished = entries(right_click(qtbot, widget, jobs["finished"].id))
    assert list(finished) == [
        "Cancel job…",
        "Clone…",
        "Retry…",
        "Compare with selected",
        "Open adapter folder",
        "Copy adapter path",
        "Try adapter",
        "Export adapter…",
        "Copy job id",
        "Delete…",
    ]
    assert not finished["Cancel job…"] and finished["Delete…"] and finished["Open adapter folder"]
    assert finished["Try adapter"] and finished["Export adapter…"]
    assert not finished["Retry…"] and finished["Clone…"]  # a completed run is cloned, not retried
    widget.job_actions.menu.close()
    broken = entries(right_click(qtbot, widget, jobs["broken"].id))
    assert broken["Retry…"] and broken["Clone…"]  # a failed one is retried
    widget.job_actions.menu.close()

    menu = right_click(qtbot, widget, jobs["running"].id)
    running = entries(menu)
    assert running["Cancel job…"] and running["Clone…"]
    assert not running["Retry…"] and not running["Delete…"] and not running["Open adapter folder"]
    assert not running["Try adapter"] and not running["Export adapter…"]  # no adapter yet
    choose(menu, "Copy job id")
    assert QGuiApplication.clipboard().text() == jobs["running"].id

    choose(right_click(qtbot, widget, jobs["running"].id), "Cancel job…")  # asks first, in the monitor
    qtbot.waitUntil(lambda: widget.monitor._cancel_box is not None and widget.monitor._cancel_box.isVisible())
    assert widget.table.selected_job_id() == jobs["running"].id
    widget.monitor._cancel_box.button(QMessageBox.StandardButton.No).click()


def test_clone_opens_the_dialog_with_the_jobs_settings_and_creates_the_changed_job(
    window, workspace, dataset_file, qtbot
):
    widget, session = window
    jobs = make_jobs(workspace, dataset_file)
    attach(qtbot, widget, session)

    choose(right_click(qtbot, widget, jobs["running"].id), "Clone…")
    dialog = widget.job_actions.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.windowTitle() == "Clone “running”"
    qtbot.waitUntil(lambda: dialog.dataset_combo.currentData() == jobs["running"].dataset_id, timeout=5000)
    assert (dialog.epochs.value(), dialog.rank.value(), dialog.alpha.value(), dialog.batch_size.value()) == (
        2,
        16,
        32,
        4,
    )
    assert dialog.learning_rate.text() == "0.001" and dialog.base_model.text() == "tiny"
    assert dialog.gpu_type.currentData() == "cpu" and dialog.gpu_count.value() == 1
    assert dialog.name_edit.text() == ""  # a clone is named afresh
    # The one finished run of this dataset took 30 min for 2 epochs: 2 epochs take 0.5 h.
    qtbot.waitUntil(lambda: "from 1 finished run" in dialog.hours_hint.text(), timeout=5000)
    assert dialog.hours.value() == pytest.approx(0.5, abs=0.01)
    assert dialog.hours_hint.text() == "estimated from 1 finished run of this dataset (15 min per epoch)"

    dialog.rank.setValue(32)  # one change
    with qtbot.waitSignal(dialog.job_created, timeout=5000) as created:
        dialog.ok_button.click()
    clone = find_job(workspace, job_id=created.args[0].id)
    original = jobs["running"]
    assert clone.dataset_id == original.dataset_id and clone.gpu_type == original.gpu_type
    assert clone.hyperparameters == {**original.hyperparameters, "lora_rank": 32, "lora_alpha": 64}
    assert widget.table.selected_job_id() == clone.id  # the new job is shown


def test_retry_keeps_the_name_and_new_job_starts_from_the_selection(window, workspace, dataset_file, qtbot):
    widget, session = window
    jobs = make_jobs(workspace, dataset_file)
    attach(qtbot, widget, session)

    with qtbot.waitSignal(widget.detail_shown, timeout=5000):
        widget.select_job(jobs["broken"].id)
    assert widget.monitor.clone_button.text() == "Retry…"
    qtbot.mouseClick(widget.monitor.clone_button, Qt.MouseButton.LeftButton)
    dialog = widget.job_actions.dialog
    assert dialog.windowTitle() == "Retry “broken”" and dialog.name_edit.text() == "broken"
    assert dialog.ok_button.text() == "Retry job"
    dialog.reject()

    dialog = widget.toolbar.new_job()  # Ctrl+N with a job selected starts from it too
    assert dialog is not None and dialog.isVisible()
    assert dialog.windowTitle() == "New training job" and dialog.rank.value() == 16
    dialog.reject()


def test_delete_asks_then_takes_the_job_and_its_rows_from_the_database(
    window, workspace, dataset_file, qtbot
):
    widget, session = window
    jobs = make_jobs(workspace, dataset_file)
    done = jobs["finished"].id
    attach(qtbot, widget, session)
    assert widget.panel.notifications()  # its notification is listed

    choose(right_click(qtbot, widget, done), "Delete…")
    box = widget.job_actions.delete_box
    assert box is not None and box.text() == "Delete “finished”?"
    box.button(QMessageBox.StandardButton.No).click()  # "Keep": nothing happens
    assert widget.model.job(done) is not None and find_job(workspace, job_id=done)

    choose(right_click(qtbot, widget, done), "Delete…")
    widget.job_actions.delete_box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: widget.model.job(done) is None, timeout=5000)
    assert "Deleted “finished”" in widget.banner.text()
    assert [job.id for job in list_jobs(workspace)] and done not in {job.id for job in list_jobs(workspace)}
    for model in (MetricPointRow, CostRecordRow, NotificationRow):
        assert count(workspace, model, job_id=done) == 0
    assert widget.panel.notifications() == []

    widget.job_actions.delete(jobs["running"].id)  # the menu's entry is off; the action refuses too
    assert "only completed, failed or cancelled jobs can be deleted" in widget.banner.text()
    assert widget.model.job(jobs["running"].id) is not None


def test_tags_typed_in_the_monitor_are_found_by_the_search_box(window, workspace, dataset_file, qtbot):
    widget, session = window
    jobs = make_jobs(workspace, dataset_file)
    attach(qtbot, widget, session)
    with qtbot.waitSignal(widget.detail_shown, timeout=5000):
        widget.select_job(jobs["broken"].id)

    click_tab(qtbot, widget, "Notes")
    tabs = widget.monitor.tabs
    editor = widget.monitor.notes_editor
    assert tabs.currentWidget() is editor and not editor.save_button.isEnabled()
    qtbot.keyClicks(editor.tags_edit, "#oom, batch too big")  # typed as searched: stored bare
    qtbot.keyClicks(editor.notes_edit, "halve the batch next time")
    assert editor.state.text() == "Unsaved changes"
    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: editor.state.text() == "Saved", timeout=5000)
    stored = find_job(workspace, job_id=jobs["broken"].id)
    assert stored.tags == ["oom", "batch too big"] and stored.notes == "halve the batch next time"
    assert "#oom" in widget.monitor.subtitle.text()

    widget.toolbar.focus_search()
    qtbot.keyClicks(widget.search, "#oom")
    qtbot.waitUntil(lambda: widget.proxy.rowCount() == 1)
    assert widget.proxy.job_at(0).id == jobs["broken"].id
    widget.search.clear()
    qtbot.keyClicks(widget.search, "halve the batch")  # notes are searched too
    qtbot.waitUntil(lambda: widget.proxy.rowCount() == 1)


class _Opened(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_the_adapter_can_be_opened_and_copied_and_a_partial_one_says_so(
    window, workspace, dataset_file, qtbot
):
    widget, session = window
    jobs = make_jobs(workspace, dataset_file)
    set_job_columns(workspace, jobs["finished"].id, artifact_partial=True)
    attach(qtbot, widget, session)
    with qtbot.waitSignal(widget.detail_shown, timeout=5000):
        widget.select_job(jobs["finished"].id)
    folder = workspace.settings.home / "jobs" / jobs["finished"].id / "adapter"
    button = widget.monitor.adapter_button
    assert button.isVisible() and button.text() == "Adapter (partial)"
    assert str(folder) in button.toolTip() and "cancelled" in button.toolTip()

    opened = _Opened()  # the file manager, as Qt hands it file URLs
    QDesktopServices.setUrlHandler("file", opened, "open")
    try:
        next(a for a in widget.monitor.adapter_menu.actions() if a.text() == "Open folder").trigger()
        choose(right_click(qtbot, widget, jobs["finished"].id), "Copy adapter path")
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [url.toLocalFile() for url in opened.urls] == [str(folder)]
    assert QGuiApplication.clipboard().text() == str(folder)

    with qtbot.waitSignal(widget.detail_shown, timeout=5000):
        widget.select_job(jobs["running"].id)
    assert not widget.monitor.adapter_button.isVisible()  # no adapter yet


def test_the_log_tab_shows_new_lines_as_the_trainers_file_grows(window, workspace, dataset_file, qtbot):
    widget, session = window
    jobs = make_jobs(workspace, dataset_file)
    job = jobs["running"]
    set_job_columns(workspace, job.id, external_job_id=job.id)  # the local backend's folder name
    folder = workspace.settings.home / "jobs" / job.id
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps({"job_id": job.id}))
    (folder / "stdout.log").write_text("loradesk-trainer: training 18 pairs\n")
    attach(qtbot, widget, session)
    with qtbot.waitSignal(widget.detail_shown, timeout=5000):
        widget.select_job(job.id)

    click_tab(qtbot, widget, "Log")
    log = widget.monitor.log_view
    qtbot.waitUntil(lambda: log.lines() == ["loradesk-trainer: training 18 pairs"], timeout=5000)
    with (folder / "stdout.log").open("a") as out:
        out.write("step 1 loss 2.51\nstep 2 loss 2.13\n")
    (folder / "stderr.log").write_text("warning: slow disk\n")
    qtbot.waitUntil(lambda: len(log.lines()) == 4, timeout=5000)
    assert log.lines()[1:] == ["step 1 loss 2.51", "step 2 loss 2.13", "warning: slow disk"]

    qtbot.keyClicks(log.find_edit, "loss 2.13")
    qtbot.keyClick(log.find_edit, Qt.Key.Key_Return)
    assert log.text.textCursor().selectedText() == "loss 2.13"
    qtbot.mouseClick(log.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == "loss 2.13"
    log.text.moveCursor(log.text.textCursor().MoveOperation.Start)  # nothing selected: all of it
    log.copy()
    assert QGuiApplication.clipboard().text().splitlines() == log.lines()

    log.find_edit.clear()
    qtbot.keyClicks(log.find_edit, "no such line")
    qtbot.mouseClick(log.find_button, Qt.MouseButton.LeftButton)
    assert log.state.text() == "“no such line” not found"


def test_a_job_that_has_not_started_says_its_log_comes_later(window, workspace, dataset_file, qtbot):
    widget, session = window
    dataset = add_dataset(workspace, file=dataset_file, name="sums")
    job = create_job(workspace, dataset_id=dataset.id, name="waiting")
    attach(qtbot, widget, session)
    with qtbot.waitSignal(widget.detail_shown, timeout=5000):
        widget.select_job(job.id)
    widget.monitor.tabs.setCurrentWidget(widget.monitor.log_view)
    log = widget.monitor.log_view
    qtbot.waitUntil(lambda: "has not reached the cluster yet" in log.state.text(), timeout=5000)
    assert log.lines() == []


def test_compare_with_selected_adds_the_right_clicked_job_to_the_selection(
    window, workspace, dataset_file, qtbot
):
    widget, session = window
    jobs = make_jobs(workspace, dataset_file)
    attach(qtbot, widget, session)
    widget.table.select_jobs([jobs["finished"].id, jobs["broken"].id])

    menu = right_click(qtbot, widget, jobs["running"].id)
    assert entries(menu)["Compare with selected"]
    choose(menu, "Compare with selected")
    assert set(widget.table.selected_job_ids()) == {job.id for job in jobs.values()}
    qtbot.waitUntil(lambda: widget.details.currentWidget() is widget.compare)
    assert set(widget.compare.job_ids) == {job.id for job in jobs.values()}

    widget.table.select_job(jobs["running"].id)  # one job selected: nothing to compare with
    assert not entries(right_click(qtbot, widget, jobs["running"].id))["Compare with selected"]


def test_after_a_delete_the_next_row_is_selected(window, workspace, dataset_file, qtbot):
    widget, session = window
    jobs = make_jobs(workspace, dataset_file)
    attach(qtbot, widget, session)
    order = [widget.proxy.job_at(row).id for row in range(widget.proxy.rowCount())]
    done = jobs["finished"].id
    below = order[order.index(done) + 1] if order.index(done) + 1 < len(order) else order[-2]

    choose(right_click(qtbot, widget, done), "Delete…")
    widget.job_actions.delete_box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: widget.model.job(done) is None, timeout=5000)
    assert widget.table.selected_job_id() == below
    qtbot.waitUntil(lambda: widget.monitor.job is not None and widget.monitor.job.id == below, timeout=5000)


def test_the_setting_columns_menu_stays_open_while_ticking(window, workspace, dataset_file, qtbot):
    widget, session = window
    make_jobs(workspace, dataset_file)
    attach(qtbot, widget, session)
    menu = widget.table.show_column_chooser(QPoint(20, 5))
    qtbot.waitUntil(menu.isVisible)
    for name in ("lora_rank", "epochs"):
        action = next(a for a in menu.actions() if a.text() == name)
        point = menu.actionGeometry(action).center()
        qtbot.mouseMove(menu, point)
        qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
        assert menu.isVisible() and action.isChecked()
    assert widget.model.setting_columns == ["lora_rank", "epochs"]
    menu.close()
