"""Desktop tests run offscreen under pytest-qt; records are built here, no database needed."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


@pytest.fixture(autouse=True)
def _theme(qapp):
    from desktop import theme

    theme.install(qapp, dark=False)
    yield


@pytest.fixture(autouse=True)
def _view_state(tmp_path):
    """The remembered view (chart smoothing) goes to a fresh store per test, never the user's."""
    from PySide6.QtCore import QSettings

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    yield
