"""The adapter: events published on any thread arrive as Qt signals on the UI thread, batched."""

from __future__ import annotations

import threading

from PySide6.QtCore import QThread

from core.events import EventBus, JobUpdated, MetricsAppended, NotificationCreated
from desktop.core_events import CoreEvents
from tests.desktop.factories import bump, make_job, make_notification, make_points


def test_events_from_a_worker_thread_arrive_on_the_ui_thread(qtbot):
    bus, events = EventBus(), CoreEvents()
    events.attach(bus)
    threads = []
    events.metrics_appended.connect(lambda *_: threads.append(QThread.currentThread()))
    points = tuple(make_points("job-1", range(1, 4)))
    worker = threading.Thread(target=lambda: bus.publish(MetricsAppended("job-1", points)))
    with qtbot.waitSignal(events.metrics_appended) as signal:
        worker.start()
    worker.join()
    assert signal.args == ["job-1", points]
    assert threads == [events.thread()]


def test_job_updates_are_batched_latest_first_in_order(qtbot):
    bus, events = EventBus(), CoreEvents()
    events.attach(bus)
    a, b = make_job(1), make_job(2)
    batches = []
    events.jobs_updated.connect(batches.append)
    note = make_notification(1)
    with qtbot.waitSignal(events.notification_created):
        bus.publish(JobUpdated(a))
        bus.publish(JobUpdated(b))
        bus.publish(JobUpdated(bump(a, progress=50.0)))
        bus.publish(NotificationCreated(note))
    assert len(batches) == 1
    assert [job.id for job in batches[0]] == [b.id, a.id]
    assert batches[0][1].progress == 50.0


def test_detach_stops_listening(qtbot):
    bus, events = EventBus(), CoreEvents()
    events.attach(bus)
    events.detach()
    with qtbot.assertNotEmitted(events.jobs_updated, wait=50):
        bus.publish(JobUpdated(make_job(1)))
