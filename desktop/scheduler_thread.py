"""The embedded scheduler, on a thread of its own with its own asyncio loop.

The scheduler already keeps database work off its loop, but the core's async services (cancel)
start with a short synchronous write; running them on this loop rather than the UI's keeps even
that off the UI thread, and they share the scheduler's cluster client, which belongs to this loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from core.scheduler import Scheduler
from core.workspace import Workspace

log = logging.getLogger(__name__)


class SchedulerThread:
    """Runs `Scheduler(ws).run_forever()` until `stop()`; pause, resume and wake from any thread."""

    def __init__(self, ws: Workspace, *, make: Callable[[Workspace], Scheduler] = Scheduler) -> None:
        self.ws = ws
        self._make = make
        self.scheduler: Scheduler | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loradesk-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(timeout=5)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            self.loop = loop
            self.scheduler = self._make(self.ws)
            task = loop.create_task(self.scheduler.run_forever())
            loop.call_soon(self._ready.set)
            loop.run_until_complete(task)
            loop.run_until_complete(self.ws.aclose())
        except Exception:
            log.exception("the embedded scheduler stopped with an error")
        finally:
            self._ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def paused(self) -> bool:
        return bool(self.scheduler and self.scheduler.paused)

    def pause(self) -> None:
        if self.scheduler is not None:
            self.scheduler.pause()

    def resume(self) -> None:
        if self.scheduler is not None:
            self.scheduler.resume()

    def wake(self) -> None:
        if self.scheduler is not None:
            self.scheduler.wake()

    def watch(self, job_id: str | None) -> None:
        """Have the scheduler poll this job every second (the job on screen; None: none)."""
        if self.scheduler is not None:
            self.scheduler.watch(job_id)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the cycle in progress, close the cluster client, and end the thread."""
        if self.scheduler is not None:
            self.scheduler.stop()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the scheduler did not stop within %.0f s", timeout)

    def running_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop for the core's coroutines, while it runs."""
        loop = self.loop
        return loop if loop is not None and loop.is_running() else None
