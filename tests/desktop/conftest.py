"""Desktop tests run offscreen under pytest-qt; records are built here, no database needed."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from tests.qt_fixtures import _collect_after_each_test, _no_collection_off_the_main_thread


@pytest.fixture(autouse=True)
def _theme(qapp):
    from desktop import theme

    theme.install(qapp, dark=False)
    yield


@pytest.fixture(autouse=True)
def _view_state(tmp_path):
    """The remembered view (chart smoothing) goes to a fresh store per test, never the user's,
    and each test starts a fresh session's view."""
    from PySide6.QtCore import QSettings

    from desktop import view_state

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    view_state.forget_session()
    yield


@pytest.fixture
def window(qtbot, workspace):
    """A shown main window and a session over the test module's `workspace`, not yet attached.

    Each module that uses it says which workspace: its own `workspace` fixture."""
    from desktop.core_events import CoreEvents
    from desktop.operations import Runner
    from desktop.session import Session
    from tests.desktop.windows import show_main_window

    runner = Runner()
    session = Session(workspace, runner, CoreEvents())
    widget = show_main_window(qtbot)
    yield widget, session
    widget.detach()
    # queries still in flight would hold the tables the database fixture is about to drop
    qtbot.waitUntil(lambda: runner.in_flight == 0, timeout=5000)
    session.close()
    runner.shutdown()


@pytest.fixture
def monitor(qtbot):
    """The job monitor alone, shown."""
    from tests.desktop.windows import show_monitor

    return show_monitor(qtbot)


__all__ = ["_collect_after_each_test", "_no_collection_off_the_main_thread"]
