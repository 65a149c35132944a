"""The Qt (PySide6) desktop app; talks to `core` only through its services and events."""

from desktop.qt_compat import guard_singleton_refcounts

guard_singleton_refcounts()
