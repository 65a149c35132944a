"""A guard against a reference-count bug of PySide6 6.12.0 on Python 3.11.

There the bindings hand back `None` (from every void method: `update()`, `setText()`,
`processEvents()`…) and `True` (from `SignalInstance.emit()`) without taking a reference, so the
app slowly takes references away from those singletons until the interpreter frees one and aborts
("none_dealloc: deallocating None"). Python 3.12 made them immortal, and PySide6 6.11 does not have
the bug (the project should pin PySide6-Essentials != 6.12.0 while it runs on 3.11). Where the bug
shows, we give the singletons a cushion of references no session can use up: they are static
objects that are never freed, so the extra count costs nothing.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

CUSHION = 1 << 48
SINGLETONS = (None, True, False, Ellipsis, NotImplemented)


class _Probe(QObject):
    ping = Signal()


def bindings_drop_references() -> bool:
    """True when calling into the bindings lowers the reference count of None or True (the bug)."""
    probe = _Probe()
    before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(16):
        probe.ping.emit()
        probe.setObjectName("probe")
    after = sys.getrefcount(None), sys.getrefcount(True)
    return after[0] < before[0] or after[1] < before[1]


def guard_singleton_refcounts() -> bool:
    """Apply the cushion where needed (once); returns whether it was needed."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    if not bindings_drop_references():
        return False
    for singleton in SINGLETONS:
        if sys.getrefcount(singleton) < CUSHION:
            ctypes.c_ssize_t.from_address(id(singleton)).value += CUSHION
    return True
