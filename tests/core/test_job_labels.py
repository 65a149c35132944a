"""Notes and tags: written through the job store, kept in order, refused when malformed."""

from __future__ import annotations

import pytest

from core.errors import InvalidRequestError, NotFoundError
from core.events import JobUpdated
from core.jobs.labels import parse_tags, set_notes, set_tags, tag_job
from core.jobs.service import find_job
from tests.core.helpers import queue_jobs


async def test_tags_are_added_once_in_order_and_removed(make_workspace, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    seen: list[object] = []
    ws.events.subscribe(seen.append)

    assert tag_job(ws, job_id=job.id, add=["baseline", " lr  sweep ", "baseline"]).tags == [
        "baseline",
        "lr sweep",
    ]
    assert tag_job(ws, job_id=job.id, add=["best", "lr sweep"]).tags == ["baseline", "lr sweep", "best"]
    assert tag_job(ws, job_id=job.id, remove=["lr sweep", "absent"]).tags == ["baseline", "best"]
    stored = find_job(ws, job_id=job.id)
    assert stored.tags == ["baseline", "best"] and stored.change_seq > job.change_seq
    assert [e.job.tags for e in seen if isinstance(e, JobUpdated)][-1] == ["baseline", "best"]
    assert set_tags(ws, job_id=job.id, tags=parse_tags("best, new one")).tags == ["best", "new one"]


async def test_notes_replace_and_bad_tags_are_refused(make_workspace, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    notes = "lr too high?\nsecond line"
    assert set_notes(ws, job_id=job.id, notes=notes).notes == notes
    assert find_job(ws, job_id=job.id).notes == "lr too high?\nsecond line"
    for bad, message in [("", "cannot be empty"), ("a,b", "comma"), ("x" * 65, "longer than 64")]:
        with pytest.raises(InvalidRequestError, match=message):
            tag_job(ws, job_id=job.id, add=[bad])
    assert find_job(ws, job_id=job.id).tags == []


async def test_another_users_job_is_not_found(make_workspace, dataset_file):
    alice = make_workspace()
    (job,) = queue_jobs(alice, dataset_file)
    bob = make_workspace(user="bob")
    with pytest.raises(NotFoundError):
        tag_job(bob, job_id=job.id, add=["mine"])
    with pytest.raises(NotFoundError):
        set_notes(bob, job_id=job.id, notes="mine")
    assert find_job(alice, job_id=job.id).tags == [] and find_job(alice, job_id=job.id).notes == ""
