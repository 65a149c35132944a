"""Cyclic garbage dies on the UI thread, never in a worker thread that happens to allocate."""

from __future__ import annotations

import gc
import threading

from desktop.garbage import UiThreadGarbageCollector


class Cycle:
    """Garbage only the cyclic collector frees; notes the thread that freed it."""

    freed_on: list[str] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        Cycle.freed_on.append(threading.current_thread().name)


def allocate_in_a_worker() -> list[list[int]]:
    """What a worker thread doing core work does: build a result of container objects (rows,
    say), ten times the youngest generation's threshold, so an automatic collection runs in it, and
    the count stays past the threshold whatever other threads of the test process free meanwhile."""
    result: list[list[int]] = []

    def build() -> None:
        result.extend([i] for i in range(10 * gc.get_threshold()[0]))

    worker = threading.Thread(target=build, name="worker")
    worker.start()
    worker.join()
    return result


def test_a_cycle_dropped_while_a_worker_allocates_is_freed_on_the_ui_thread(qtbot):
    gc.enable()  # as a fresh process starts (the test session keeps it off: tests/conftest.py)
    try:
        collector = UiThreadGarbageCollector(interval_ms=20)
        assert not gc.isenabled()
        Cycle.freed_on.clear()
        Cycle()  # dropped at once: garbage in a reference cycle
        rows = allocate_in_a_worker()
        assert Cycle.freed_on == []  # the worker's allocations collected nothing
        qtbot.waitUntil(lambda: Cycle.freed_on != [], timeout=15_000)
        assert Cycle.freed_on == [threading.main_thread().name]
        with qtbot.waitSignal(collector.destroyed):
            collector.deleteLater()
        assert gc.isenabled()  # given back as it was found
        del rows
    finally:
        gc.disable()


def test_without_it_the_worker_collects(qtbot):
    """The hazard itself, so the test above is known to tell: automatic collection runs in the
    worker thread that allocates."""
    gc.enable()
    try:
        Cycle.freed_on.clear()
        Cycle()
        allocate_in_a_worker()
        assert Cycle.freed_on == ["worker"]
    finally:
        gc.disable()
