"""How many requests the `http` backend keeps in flight: a cap that fits the cluster.

The cap starts at `LORADESK_MAX_IN_FLIGHT` and follows the cluster the way TCP's congestion
window follows a network (additive increase, multiplicative decrease): a 429, or answers slowing
to more than `SLOWER` times the best the cluster has given, halve it; each window of answers
(as many as the cap) that saw neither adds one back, up to the setting. A change is logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

log = logging.getLogger(__name__)

# Two windows in a row whose mean latency is past this many times the best window's, and by more
# than NOTICEABLE seconds (a few milliseconds more on a fast link is noise), are a cluster falling
# behind. One such window is not: the time of an answer includes this process's own event loop,
# which a round of recording can hold up for a moment.
SLOWER = 3.0
NOTICEABLE = 0.1
# The best window's latency drifts up this much a window, so that a cluster that became slower
# for good is measured against its new pace, not its best hour.
_DRIFT = 1.02


class InFlightCap:
    """An async context manager like a semaphore whose size moves between 1 and `ceiling`.

    `answered` is told each answer's HTTP status and, for answers whose time says something
    about the cluster's load (per-job status polls), how long it took."""

    def __init__(self, ceiling: int) -> None:
        if ceiling < 1:
            raise ValueError("the in-flight cap must be at least 1")
        self.ceiling = ceiling
        self.limit = ceiling
        self._active = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._answers = 0  # in the window under way
        self._latencies: list[float] = []
        self._window_busy = False
        self._best: float | None = None
        self._slow_windows = 0  # in a row
        # Counts the decreases. Requests sent before a decrease answer after it: only those sent
        # since the last one may cause the next (one halving a round trip, as TCP does).
        self._era = 0

    async def __aenter__(self) -> int:
        """Wait for a turn; returns the era the request is sent in, for `answered`."""
        if self._active >= self.limit or self._waiting:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._active -= 1  # handed a turn it will not take: give it on
                    self._wake()
                elif waiter in self._waiting:
                    self._waiting.remove(waiter)
                raise
        else:
            self._active += 1
        return self._era

    async def __aexit__(self, *exc_info: object) -> None:
        self._active -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiting and self._active < self.limit:
            waiter = self._waiting.popleft()
            if not waiter.done():
                self._active += 1
                waiter.set_result(None)

    def answered(self, status: int, latency: float | None = None, era: int | None = None) -> None:
        """An answer's HTTP status, its time if it tells the cluster's load, and the era its
        request was sent in (None: the present one)."""
        if status == 429 and (era is None or era == self._era):
            self._decrease("the cluster answered 429 Too Many Requests")
            self._window_busy = True
        if latency is not None:
            self._latencies.append(latency)
        self._answers += 1
        if self._answers < self.limit:
            return
        busy, latencies = self._window_busy, self._latencies
        self._answers, self._latencies, self._window_busy = 0, [], False
        if latencies:
            mean, best = sum(latencies) / len(latencies), self._best
            self._best = mean if best is None else min(best * _DRIFT, mean)
            slow = best is not None and mean > SLOWER * best and mean - best > NOTICEABLE
            self._slow_windows = self._slow_windows + 1 if slow else 0
            if slow and self._slow_windows >= 2:
                self._slow_windows = 0
                self._decrease(f"answers slowed to {mean * 1000:.0f} ms from {(best or 0) * 1000:.0f} ms")
                return
            if slow:
                return  # no growth while it is slow
        if not busy and self.limit < self.ceiling:
            self._set(self.limit + 1, "the cluster keeps up")

    def _decrease(self, why: str) -> None:
        """Halve the cap; a new window starts (the old one's answers judged the old cap)."""
        self._answers, self._latencies, self._window_busy = 0, [], False
        if self.limit > 1:
            self._era += 1
            self._set(max(1, self.limit // 2), why)

    def _set(self, limit: int, why: str) -> None:
        before, self.limit = self.limit, limit
        # Halvings are news; of the steps back up, every sixteenth and the last.
        level = logging.INFO if limit < before or limit == self.ceiling or limit % 16 == 0 else logging.DEBUG
        log.log(level, "requests in flight to the cluster: %d → %d (%s)", before, limit, why)
        self._wake()
