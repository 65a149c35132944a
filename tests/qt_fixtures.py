"""Fixtures for every suite that runs Qt (tests/desktop, tests/e2e): garbage collected on the
main thread only, as in the app (desktop/garbage.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from desktop.garbage import collect_due


@pytest.fixture(autouse=True, scope="session")
def _no_collection_off_the_main_thread() -> Iterator[None]:
    """Python's cyclic garbage, windows of finished tests among it, is never collected by
    whichever worker thread happens to allocate (Qt would destroy a widget there; it deadlocked
    the suite), only on the main thread after each test."""
    gc.disable()
    yield
    gc.enable()


@pytest.fixture(autouse=True)
def _collect_after_each_test() -> Iterator[None]:
    yield
    collect_due()
