"""Typed events the scheduler and services publish after a change is committed.

The desktop subscribes through one small adapter that turns them into Qt signals; the core never
knows who listens. Handlers run on the publishing thread and must be quick.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from core.records import Dataset, Job, MetricPoint, Notification, Sample

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobUpdated:
    job: Job


@dataclass(frozen=True, slots=True)
class MetricsAppended:
    job_id: str
    points: tuple[MetricPoint, ...]


@dataclass(frozen=True, slots=True)
class SamplesAppended:
    """New sample answers of a job (possibly some already known: apply them by their key)."""

    job_id: str
    samples: tuple[Sample, ...]


@dataclass(frozen=True, slots=True)
class NotificationCreated:
    notification: Notification


@dataclass(frozen=True, slots=True)
class JobDeleted:
    """A job was deleted with its points, cost records and notifications."""

    job_id: str


@dataclass(frozen=True, slots=True)
class DatasetAdded:
    dataset: Dataset


class EventBus:
    """Fan-out of events to subscribers; safe to publish from any thread."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        self._lock = threading.Lock()

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        """Add a handler; returns a function that removes it again."""
        with self._lock:
            self._handlers.append(handler)

        def unsubscribe() -> None:
            with self._lock:
                if handler in self._handlers:
                    self._handlers.remove(handler)

        return unsubscribe

    def publish(self, event: Event) -> None:
        with self._lock:
            handlers = list(self._handlers)
        for handler in handlers:
            try:
                handler(event)
            except Exception:  # a broken listener must not break the scheduler
                log.exception("event handler %r failed on %s", handler, type(event).__name__)


@dataclass(frozen=True, slots=True)
class WorkAvailable:
    """A job was queued or a cancel requested here: a scheduler should run a cycle now."""


@dataclass(frozen=True, slots=True)
class SchedulerStopped:
    """The scheduler stopped by itself; `reason` says why, in words for a person (the database
    moved to a schema this build does not know, say)."""

    reason: str


Event = (
    JobUpdated
    | JobDeleted
    | MetricsAppended
    | SamplesAppended
    | NotificationCreated
    | DatasetAdded
    | WorkAvailable
    | SchedulerStopped
)
Handler = Callable[[Event], None]
