"""Turning committed changes into events for whoever listens (the desktop, tests, logs)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from core.events import JobUpdated, MetricsAppended, NotificationCreated, SamplesAppended

if TYPE_CHECKING:
    from core.scheduler.transitions import Change
    from core.workspace import Workspace

log = logging.getLogger(__name__)


def publish(ws: Workspace, changes: Iterable[Change]) -> None:
    """Publish what committed transactions wrote; call only after the commit."""
    for change in changes:
        if change.points and change.job is not None:
            ws.events.publish(MetricsAppended(change.job.id, tuple(change.points)))
        if change.samples and change.job is not None:
            ws.events.publish(SamplesAppended(change.job.id, tuple(change.samples)))
        if change.job is not None:
            ws.events.publish(JobUpdated(change.job))
        for note in change.notifications:
            ws.events.publish(NotificationCreated(note))
