"""A deletion is a change like any other: another workspace's change query reports it once, in
the order of the change numbers, and a reader older than the kept tombstones gets the full list."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.db.models import ChangeCounterRow, DeletedJobRow, utcnow
from core.jobs import service as jobs_service
from core.jobs.tombstones import KEEP
from tests.core.helpers import count, queue_jobs, set_job_columns


def tombstone_number(ws, job_id: str) -> int:
    with ws.db.read() as session:
        return session.scalar(select(DeletedJobRow.change_seq).where(DeletedJobRow.job_id == job_id))


async def test_a_deletion_reaches_the_other_workspace_once_between_the_changes_around_it(
    make_workspace, dataset_file
):
    viewer, deleter = make_workspace(), make_workspace()  # two app instances on one database
    gone, before, after = queue_jobs(deleter, dataset_file, count=3)
    set_job_columns(deleter, gone.id, status="completed")
    mark = jobs_service.jobs_changed_since(viewer, since=None).latest

    first = await jobs_service.cancel_job(deleter, job_id=before.id)
    jobs_service.delete_job(deleter, job_id=gone.id)
    last = await jobs_service.cancel_job(deleter, job_id=after.id)

    changes = jobs_service.jobs_changed_since(viewer, since=mark)
    assert [j.id for j in changes.jobs] == [before.id, after.id]
    assert changes.deleted == [gone.id]
    assert not changes.complete
    # ordered with the others: stamped after the change before it, before the change after it
    assert first.change_seq < tombstone_number(deleter, gone.id) < last.change_seq
    assert jobs_service.jobs_changed_since(viewer, since=first.change_seq).deleted == [gone.id]
    assert jobs_service.jobs_changed_since(viewer, since=last.change_seq).deleted == []
    # reported once: the next question, from the number this answer gave, brings nothing
    again = jobs_service.jobs_changed_since(viewer, since=changes.latest)
    assert (again.jobs, again.deleted) == ([], [])


async def test_someone_elses_deletions_are_not_reported(make_workspace, dataset_file):
    alice, bob = make_workspace(), make_workspace(user="bob")
    mark = jobs_service.jobs_changed_since(bob, since=None).latest
    (job,) = queue_jobs(alice, dataset_file)
    set_job_columns(alice, job.id, status="failed")
    jobs_service.delete_job(alice, job_id=job.id)
    assert jobs_service.jobs_changed_since(bob, since=mark).deleted == []
    assert jobs_service.jobs_changed_since(alice, since=mark).deleted == [job.id]


async def test_a_reader_older_than_the_kept_tombstones_gets_every_job(
    make_workspace, dataset_file, monkeypatch
):
    viewer, deleter = make_workspace(), make_workspace()
    old, recent, kept = queue_jobs(deleter, dataset_file, count=3)
    for job in (old, recent):
        set_job_columns(deleter, job.id, status="cancelled")
    asleep = jobs_service.jobs_changed_since(viewer, since=None).latest  # then the laptop sleeps
    jobs_service.delete_job(deleter, job_id=old.id)
    old_number = tombstone_number(deleter, old.id)
    awake = jobs_service.jobs_changed_since(viewer, since=old_number).latest

    later = utcnow() + KEEP + timedelta(days=1)
    monkeypatch.setattr("core.jobs.service.utcnow", lambda: later)
    jobs_service.delete_job(deleter, job_id=recent.id)  # prunes the week-old tombstone

    assert count(deleter, DeletedJobRow) == 1
    with deleter.db.read() as session:
        assert session.scalar(select(ChangeCounterRow.tombstones_pruned_through)) == old_number
    behind = jobs_service.jobs_changed_since(viewer, since=asleep)
    assert behind.complete
    assert [j.id for j in behind.jobs] == [kept.id]  # the full list: `old` is missing from it
    assert behind.deleted == [recent.id]
    current = jobs_service.jobs_changed_since(viewer, since=awake)  # looked after the pruned one
    assert (current.jobs, current.deleted, current.complete) == ([], [recent.id], False)
