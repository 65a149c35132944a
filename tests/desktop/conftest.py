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
