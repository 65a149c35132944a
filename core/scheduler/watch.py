"""The watched job: the one a user has on screen, polled every second between cycles (SPEC §2).

The scheduler's cycle runs every poll interval (5 s by default) over all active jobs; a person
watching one job's charts expects them to move every second. `WatchedJob` holds which job that is
(set from any thread, e.g. the UI's) and runs the one-second loop that asks the scheduler to poll
it. The poll itself goes through the scheduler's claim and guarded records, so the watch never
records a point or a notification that the cycle, or another scheduler, also records.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable

from core.db.engine import error_line

log = logging.getLogger(__name__)

WATCH_INTERVAL = 1.0  # seconds between polls of the watched job (SPEC §2)


class WatchedJob:
    """Which job to poll every second, and the loop that does it."""

    def __init__(self, interval: float = WATCH_INTERVAL) -> None:
        self.interval = interval
        self._job_id: str | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None

    @property
    def job_id(self) -> str | None:
        with self._lock:
            return self._job_id

    def set(self, job_id: str | None) -> None:
        """Watch this job from now on (None: none); safe from any thread. A new job is polled at
        once, so the monitor catches up without waiting for the next tick."""
        with self._lock:
            if job_id == self._job_id:
                return
            self._job_id = job_id
            loop, changed = self._loop, self._changed
        if loop is not None and changed is not None and not loop.is_closed():
            loop.call_soon_threadsafe(changed.set)

    def drop(self, job_id: str) -> None:
        """Stop watching `job_id` (it ended), unless the user has moved on to another job."""
        with self._lock:
            if self._job_id == job_id:
                self._job_id = None

    async def run(self, poll: Callable[[str], Awaitable[object]], stopping: Callable[[], bool]) -> None:
        """Call `poll(job_id)` every `interval` seconds while a job is watched, until `stopping()`."""
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()
        with self._lock:
            self._loop, self._changed = loop, changed
        while not stopping():
            changed.clear()
            started = loop.time()
            job_id = self.job_id
            if job_id is not None:
                try:
                    await poll(job_id)
                except Exception as exc:  # the next second tries again
                    log.error("polling the watched job %s failed: %s", job_id, error_line(exc))
                    log.debug("watch poll failure", exc_info=True)
            # Ticks keep their rhythm however long a poll took; a new selection cuts the wait short.
            remaining = self.interval - (loop.time() - started)
            if remaining > 0:
                try:
                    await asyncio.wait_for(changed.wait(), remaining)
                except TimeoutError:
                    pass

    def wake(self) -> None:
        """End the current wait (used to stop the loop promptly)."""
        with self._lock:
            loop, changed = self._loop, self._changed
        if loop is not None and changed is not None and not loop.is_closed():
            loop.call_soon_threadsafe(changed.set)
