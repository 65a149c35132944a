"""The desktop's one state, driven without a window: one input, idempotent by change number, and
the signals the widgets follow."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from core.jobs.metric_columns import JobMetrics, MetricColumns
from core.records import JobStatus, Notification
from desktop.app_state import AppState, Change
from desktop.updates import points_change
from tests.desktop.factories import make_job, make_notification, make_points, make_sample


class Heard:
    """Everything a state said, by signal name."""

    def __init__(self, state: AppState) -> None:
        self.said: dict[str, list[object]] = {}
        for name in (
            "jobs_reset",
            "jobs_changed",
            "jobs_deleted",
            "series_loaded",
            "points_added",
            "samples_added",
            "notifications_reset",
            "notifications_added",
        ):
            getattr(state, name).connect(lambda *args, name=name: self.said.setdefault(name, []).append(args))

    def __getitem__(self, name: str) -> list[object]:
        return self.said.get(name, [])


def note(n: int, job_id: str) -> Notification:
    return make_notification(n, id=f"note-{n}", job_id=job_id, change_seq=1)


def test_a_job_record_is_taken_once_and_never_replaced_by_an_older_one(qtbot):
    state = AppState()
    heard = Heard(state)
    first = replace(make_job(1), change_seq=5)
    state.apply(Change(jobs=[first], all_jobs=True))
    newer = replace(first, current_step=500, change_seq=9)
    state.apply(Change(jobs=[newer]))
    state.apply(Change(jobs=[newer]))  # the poll brings what the event brought
    state.apply(Change(jobs=[replace(first, current_step=450, change_seq=7)]))  # a late, older snapshot
    assert heard["jobs_changed"] == [([newer],)]
    assert state.job(first.id) == newer


def test_points_become_the_selected_jobs_series_once_whichever_route_brings_them(qtbot):
    state = AppState()
    heard = Heard(state)
    job = make_job(1)
    state.select([job.id])
    early = points_change(job.id, make_points(job.id, range(1, 21)))  # an event while the load runs
    state.apply(early)
    loaded = MetricColumns.from_points(make_points(job.id, range(1, 11)))
    state.apply(Change(series=JobMetrics(job=job, columns=loaded)))
    assert list(state.series.steps) == list(range(1, 21))  # the load read before the second ten
    # The same points again, from the database's poll as columns, then the event's records.
    polled = MetricColumns.from_points(make_points(job.id, range(15, 31)))
    state.apply(Change(points=[(job.id, polled)]))
    state.apply(points_change(job.id, make_points(job.id, range(21, 31))))
    state.apply(points_change("another-job", make_points("another-job", range(1, 5))))
    assert list(state.series.steps) == list(range(1, 31))
    assert heard["points_added"] == [(job.id, 10)]
    assert np.isfinite(state.series.column("training_loss")).all()


def test_another_selection_starts_an_empty_series_and_a_late_load_is_dropped(qtbot):
    state = AppState()
    first, second = make_job(1), make_job(2)
    state.select([first.id])
    state.select([second.id])
    late = MetricColumns.from_points(make_points(first.id, range(1, 11)))
    state.apply(Change(series=JobMetrics(job=first, columns=late)))
    assert len(state.series) == 0 and not state.series_complete
    state.select([first.id, second.id])  # compared: no one job's series
    assert state.series_job is None


def test_a_deleted_job_goes_with_its_notifications_and_says_if_it_was_on_screen(qtbot):
    state = AppState()
    heard = Heard(state)
    shown, other = make_job(1), make_job(2)
    state.apply(Change(jobs=[shown, other], all_jobs=True))
    state.apply(Change(notifications=[note(1, shown.id), note(2, other.id)], all_notifications=True))
    state.select([shown.id])
    state.apply(Change(deleted=[shown.id, other.id], elsewhere=True))
    state.apply(Change(deleted=[shown.id], elsewhere=True))  # the tombstone seen again: nothing more
    ((deleted,),) = heard["jobs_deleted"]
    assert deleted.job_ids == (shown.id, other.id) and deleted.elsewhere
    assert [job.id for job in deleted.shown] == [shown.id]
    assert state.jobs == {} and state.notifications == {}


def test_jobs_missing_from_a_full_listing_were_deleted_but_newer_ones_stay(qtbot):
    state = AppState()
    heard = Heard(state)
    kept, gone, newer = (replace(make_job(n), change_seq=n) for n in (1, 2, 9))
    state.apply(Change(jobs=[kept, gone, newer], all_jobs=True))
    state.apply(Change(jobs=[kept], listed_up_to=5))  # as of change 5: `newer` was stamped after it
    ((deleted,),) = heard["jobs_deleted"]
    assert deleted.job_ids == (gone.id,)
    assert set(state.jobs) == {kept.id, newer.id}


def test_a_notification_is_announced_once(qtbot):
    state = AppState()
    heard = Heard(state)
    job = make_job(1)
    state.apply(Change(notifications=[], all_notifications=True))
    state.apply(Change(notifications=[note(1, job.id)]))
    state.apply(Change(notifications=[note(1, job.id)]))  # the poll after the event
    state.apply(Change(notifications=[replace(note(1, job.id), read=True, change_seq=2)]))  # read elsewhere
    assert [[n.id for n in notes] for (notes,) in heard["notifications_added"]] == [["note-1"]]
    assert state.notifications["note-1"].read


def test_the_eta_reads_the_states_own_step_rates(qtbot):
    now = [1000.0]
    state = AppState(clock=lambda: now[0])
    job = make_job(1, status=JobStatus.RUNNING, current_step=100, total_steps=1100, progress=9.0)
    job = replace(job, started_at=job.created_at)
    state.apply(Change(jobs=[job], all_jobs=True))
    for step in (200, 300):
        now[0] += 5
        job = replace(job, current_step=step, updated_at=job.updated_at.replace(microsecond=step))
        state.apply(Change(jobs=[job]))
    assert state.seconds_left(job) == 800 / 20  # 200 steps in 10 s: 20 steps/s, 800 to go


def test_the_selected_jobs_sample_answers_are_taken_once_whichever_route_brings_them(qtbot):
    state = AppState()
    heard = Heard(state)
    job, other = make_job(1), make_job(2)
    state.select([job.id])
    first = [make_sample(job.id, 10, 0), make_sample(job.id, 10, 1)]
    state.apply(Change(samples=first))  # the read when the job was selected
    later = make_sample(job.id, 20, 0)
    state.apply(Change(samples=[later]))  # this process's scheduler's event
    state.apply(Change(samples=[*first, later]))  # a read that overlapped both
    state.apply(Change(samples=[make_sample(other.id, 30, 0)]))  # the scheduler publishes every job's
    assert heard["samples_added"] == [(job.id, first), (job.id, [later])]
    assert state.last_sample_step == 20
    assert sorted(state.samples) == [(10, 0), (10, 1), (20, 0)]


def test_another_selection_starts_without_samples_and_several_keep_none(qtbot):
    state = AppState()
    heard = Heard(state)
    job, other = make_job(1), make_job(2)
    state.select([job.id])
    state.apply(Change(samples=[make_sample(job.id, 10)]))
    state.select([other.id])
    assert state.samples == {} and state.last_sample_step is None
    state.apply(Change(samples=[make_sample(job.id, 20)]))  # a late answer of the job left behind
    state.select([job.id, other.id])  # compared: the compare view reads its own
    state.apply(Change(samples=[make_sample(other.id, 10)]))
    assert state.samples == {}
    assert [job_id for job_id, _samples in heard["samples_added"]] == [job.id]
