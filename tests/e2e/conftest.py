"""End-to-end tests open windows too: Qt's garbage rule applies (tests/qt_fixtures.py)."""

from tests.qt_fixtures import _collect_after_each_test, _no_collection_off_the_main_thread

__all__ = ["_collect_after_each_test", "_no_collection_off_the_main_thread"]
