"""The Try tab and Export… on a real trained tiny adapter, driven as a person drives them: the
row menu, typing a prompt, Enter, Stop, the tab's ×; then what the panes, the dialog, the
clipboard and the process table say."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QTabBar

from core.config import load_settings
from core.workspace import Workspace
from desktop.main_window import MainWindow
from tests.adapters import job_with_adapter, trained_adapter  # noqa: F401
from tests.desktop.test_job_actions import attach, choose, right_click

pytestmark = pytest.mark.trainer
LOADED = 180_000  # ms: importing torch and loading the model on a busy two-core machine


@pytest.fixture
def workspace(home: Path):
    settings = {"home": str(home), "user": "dana", "cluster": "local", "trainer_python": sys.executable}
    ws = Workspace.open(load_settings(settings))
    yield ws
    ws.close()


def tab_titles(widget: MainWindow) -> list[str]:
    bar = widget.monitor.tabs.tabBar()
    return [bar.tabText(i) for i in range(bar.count())]


def gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_try_streams_both_answers_stops_and_closing_the_tab_ends_the_playground(
    window,
    workspace,
    home: Path,
    qtbot,
    trained_adapter: Path,  # noqa: F811
):
    widget, session = window
    job = job_with_adapter(home, trained_adapter)
    attach(qtbot, widget, session)

    choose(right_click(qtbot, widget, job.id), "Try adapter")
    assert tab_titles(widget)[-1] == "Try"
    view = widget.monitor.try_tabs.view
    assert view is not None and widget.monitor.tabs.currentWidget() is view
    qtbot.waitUntil(view.send_button.isEnabled, timeout=LOADED)
    assert "loaded on the CPU" in view.status.text()
    pid = view.connection.pid
    assert pid is not None and not gone(pid)

    view.temperature.selectAll()
    qtbot.keyClicks(view.temperature, "0")  # greedy: the untrained base model never stops
    view.max_tokens.selectAll()
    qtbot.keyClicks(view.max_tokens, "4096")
    qtbot.mouseClick(view.prompt, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(view.prompt, "Spell 512 in words.")
    qtbot.keyClick(view.prompt, Qt.Key.Key_Return)
    assert view.prompt.toPlainText() == "Spell 512 in words."  # Enter sent it, added no line
    qtbot.waitUntil(
        lambda: bool(view.base_pane.text.toPlainText() and view.adapter_pane.text.toPlainText()),
        timeout=30_000,
    )
    assert view.stop_button.isEnabled()
    qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "stopped" in view.base_pane.footer.text(), timeout=30_000)
    qtbot.waitUntil(lambda: bool(view.adapter_pane.footer.text()), timeout=30_000)
    assert not view.stop_button.isEnabled()
    assert int(view.base_pane.footer.text().split()[0]) < 4096

    bar = widget.monitor.tabs.tabBar()
    close = bar.tabButton(bar.count() - 1, QTabBar.ButtonPosition.RightSide)
    qtbot.mouseClick(close, Qt.MouseButton.LeftButton)
    assert "Try" not in tab_titles(widget)
    qtbot.waitUntil(lambda: gone(pid), timeout=15_000)


def test_export_merges_with_progress_and_gives_a_snippet_to_copy(
    window,
    workspace,
    home: Path,
    tmp_path: Path,
    qtbot,
    trained_adapter: Path,  # noqa: F811
):
    widget, session = window
    job = job_with_adapter(home, trained_adapter)
    attach(qtbot, widget, session)

    choose(right_click(qtbot, widget, job.id), "Export adapter…")
    dialog = widget.job_actions.export_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.folder_edit.clear()
    qtbot.keyClicks(dialog.folder_edit, str(tmp_path / "merged"))
    qtbot.mouseClick(dialog.merged_choice, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.ok_button.text() == "Exporting…"
    qtbot.waitUntil(lambda: dialog.ok_button.text() == "Close", timeout=LOADED)

    assert dialog.stage.text().startswith(f"Merged model exported to {tmp_path / 'merged'}")
    assert dialog.progress.value() == 1000
    assert (tmp_path / "merged" / "model.safetensors").is_file()
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    copied = QGuiApplication.clipboard().text()
    assert copied == dialog.snippet.toPlainText()
    assert f"AutoModelForCausalLM.from_pretrained('{tmp_path / 'merged'}')" in copied

    # A second export to the same folder is refused in the dialog, and nothing is lost.
    dialog.close()
    choose(right_click(qtbot, widget, job.id), "Export adapter…")
    again = widget.job_actions.export_dialog
    again.folder_edit.clear()
    qtbot.keyClicks(again.folder_edit, str(tmp_path / "merged"))
    qtbot.mouseClick(again.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(again.error.isVisible, timeout=10_000)
    assert "already exists and is not an empty folder" in again.error.text()
    assert (tmp_path / "merged" / "model.safetensors").is_file()
