"""The Qt (PySide6) desktop app; talks to `core` only through its services and events."""
