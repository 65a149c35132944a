"""Being told that the database changed, as soon as the database can tell.

`ChangeFeed.wait()` blocks until another connection may have committed a change, or the timeout
passes. On PostgreSQL it listens on the channel the writers notify (`core.db.changes`); on SQLite
it checks `PRAGMA data_version`, which moves when another connection commits, several times a
second (a cheap read of a number the file's header keeps). A wake-up is only a hint to look now:
whoever waits still asks the change queries, and still asks every second without one.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from core.db.changes import CHANNEL
from core.db.engine import Database

log = logging.getLogger(__name__)
SQLITE_CHECK_S = 0.05


class ChangeFeed:
    """A connection of its own that waits for changes; use it from one thread, close it from any."""

    def __init__(self, db: Database) -> None:
        self._is_sqlite = db.is_sqlite
        fairy: Any = db.engine.raw_connection()
        self._conn: Any = fairy.driver_connection  # sqlite3 or psycopg
        fairy.detach()  # ours for good: the pool must never hand a listening connection to others
        self._closed = threading.Event()
        if self._is_sqlite:
            self._version = self._data_version()
        else:
            from psycopg import sql

            self._conn.autocommit = True
            schema = self._conn.execute("SELECT current_schema()").fetchone()[0]
            self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL + schema)))

    def wait(self, timeout: float) -> bool:
        """True as soon as another connection may have committed a change; False after `timeout`."""
        if self._closed.is_set():
            return False
        if self._is_sqlite:
            return self._wait_sqlite(timeout)
        for _note in self._conn.notifies(timeout=timeout, stop_after=1):
            return True
        return False

    def _wait_sqlite(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self._closed.is_set():
            version = self._data_version()
            if version != self._version:
                self._version = version
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._closed.wait(min(SQLITE_CHECK_S, left))
        return False

    def _data_version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        self._closed.set()
        try:
            self._conn.close()
        except Exception:  # closing from another thread while it waits: the wait ends with an error
            log.debug("closing the change feed", exc_info=True)
