"""Python's cyclic garbage collected on the UI thread only (as qutebrowser's GarbageCollector does).

Left automatic, a collection runs in whichever thread happens to allocate at the time: in this app
often a worker thread doing core work. When the garbage holds a Qt widget (a closed dialog, a view
whose slots close over itself), Qt then destroys that widget off the UI thread, which it forbids;
seen here as a deadlock between Qt's locks and Python's GIL. So automatic collection is turned off
and a timer on the UI thread collects each generation when Python itself would have (its
thresholds), at most `INTERVAL_MS` late.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500


class UiThreadGarbageCollector(QObject):
    """Turns automatic collection off for as long as it lives; create it on the UI thread."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        was_enabled = gc.isenabled()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(collect_due)
        self._timer.start(interval_ms)
        if was_enabled:
            self.destroyed.connect(lambda *_: gc.enable())


def collect_due() -> int:
    """Collect the oldest generation whose allocation count passed its threshold (and so the
    younger ones), as Python's automatic collection would; returns how many objects were freed."""
    thresholds, counts = gc.get_threshold(), gc.get_count()
    due = -1
    for generation in range(3):
        if counts[generation] <= thresholds[generation]:
            break
        due = generation
    return gc.collect(due) if due >= 0 else 0
