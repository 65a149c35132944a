"""Time left for a running job, from the pace of its last minute rather than since its start.

The pace since `started_at` counts the start-up (queueing on the cluster, loading the model, the
first compiled step) as if it were training, so an early ETA came out far too long. Here every change
of a job the app receives is a sample (when it was seen, the step it was at); the rate is the steps
per second across the samples of the last minute, once two samples with training under way are a
few seconds apart (the warm-up). Until then the ETA is unknown, unless the job is far enough along
that its start-up no longer matters.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

from core.records import TERMINAL_STATUSES, Job
from desktop import formatting as fmt

WINDOW_SECONDS = 60.0  # the pace of the last minute
WARMUP_SECONDS = 3.0  # the samples must span this long before their pace is trusted
PACE_FALLBACK_DONE = 0.2  # without samples, the pace since the start is good enough from 20 % done


class StepRates:
    """Samples of each active job's step over time; `rate` is the recent steps per second."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._samples: dict[str, deque[tuple[float, int]]] = {}

    def observe(self, jobs: Iterable[Job]) -> None:
        """Take the changed snapshots of jobs (the table's updates, not a full reload)."""
        now = self.clock()
        samples_of = self._samples
        for job in jobs:
            step = job.current_step
            if job.status in TERMINAL_STATUSES:
                samples_of.pop(job.id, None)
            elif step > 0:  # before the first step, the time passing is start-up
                samples = samples_of.get(job.id)
                if samples is None:
                    samples_of[job.id] = deque([(now, step)])
                elif step != samples[-1][1]:
                    self._add(samples, now, step)

    @staticmethod
    def _add(samples: deque[tuple[float, int]], now: float, step: int) -> None:
        if step < samples[-1][1]:
            samples.clear()  # restarted from an earlier step (a resubmitted job)
        samples.append((now, step))
        while len(samples) > 2 and samples[1][0] < now - WINDOW_SECONDS:
            samples.popleft()

    def rate(self, job_id: str) -> tuple[float, float, int] | None:
        """(steps per second, time of the newest sample, its step), or None while warming up."""
        samples = self._samples.get(job_id)
        if not samples or len(samples) < 2:
            return None
        (t0, s0), (t1, s1) = samples[0], samples[-1]
        if t1 - t0 < WARMUP_SECONDS or s1 <= s0:
            return None
        return (s1 - s0) / (t1 - t0), t1, s1

    def seconds_left(self, job: Job) -> float | None:
        """The job's ETA in seconds; None when it is not running or there is no pace to go by."""
        if job.status.is_terminal or job.started_at is None:
            return None
        recent = self.rate(job.id) if job.total_steps else None
        if recent is not None and job.total_steps:
            steps_per_second, seen_at, step = recent
            left = (job.total_steps - step) / steps_per_second - (self.clock() - seen_at)
            return max(0.0, left)
        return seconds_left_from_start(job)


def seconds_left_from_start(job: Job) -> float | None:
    """The ETA from the pace since the start, once the job is far enough along that its start-up
    no longer matters (before that, None): what a job without recent samples shows."""
    if fmt.run_done(job) < PACE_FALLBACK_DONE:
        return None
    return fmt.eta_seconds(job)
