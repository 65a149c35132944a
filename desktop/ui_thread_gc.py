"""Python's cycle collector runs on the UI thread only.

Left automatic, a collection runs on whichever thread happens to allocate, often one of the
Runner's workers (a compare view loads twenty jobs at once); a Qt object caught in a cycle is then
destroyed on that thread, and Qt deadlocked with the UI thread freeing another (seen in the tests:
two QMenus, one freed by a collection on a worker). pyqtgraph's remedy, done here: no automatic
collection; a UI-thread timer collects each generation once it passes its usual threshold.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 1000


def collect_on_ui_thread(parent: QObject) -> QTimer:
    """Turn off automatic collection; collect from a timer owned by `parent` (on the UI thread)."""
    thresholds = gc.get_threshold()
    gc.disable()

    def collect() -> None:
        counts = gc.get_count()
        for generation in (2, 1, 0):  # the oldest generation due also collects the younger ones
            if counts[generation] > thresholds[generation]:
                gc.collect(generation)
                return

    timer = QTimer(parent, interval=INTERVAL_MS, timeout=collect)
    timer.start()
    return timer
