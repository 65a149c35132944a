"""A cluster job is the job's own before a scheduler polls it, cancels it or takes its adapter.

`local` and `ray` name a job's cluster job by the job's id (its folder; Ray's submission id), so
any other cluster id is refused without a call. An `http` cluster chooses its own ids. A person's
app trusts those its person's rows hold: its token is its person's, so it reaches nothing the
person could not reach by hand. A scheduler of all users on PostgreSQL holds a token that reaches
everyone's cluster jobs, so it trusts only a cluster id a scheduler of the team has verified
(`checked_external_job_id`, which no person may write: core.db.team_guards). It verifies one
through the cluster's idempotent submit: the same job id answers with the job's own cluster job
(SPEC §4), once per job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

from core.cluster.base import ClusterError
from core.db import job_store
from core.db.models import DatasetRow
from core.records import Job
from core.scheduler.submitting import submit_request
from core.storage.buckets import StorageError
from core.workspace import Workspace

NAMED_BY_JOB_ID = ("local", "ray")
_UNREAD = object()
T = TypeVar("T")


class ForeignClusterJobError(ClusterError):
    """The job's cluster id names a cluster job that is not the job's: nothing of it is read."""


class ClusterIdCheck:
    """`verify`: check http cluster ids through the cluster (a scheduler of all users)."""

    def __init__(self, ws: Workspace, *, verify: bool) -> None:
        self.ws = ws
        self.verify = verify
        self._may_vouch: bool | None = None  # asked of the database on the first need

    def vouches(self, session: Session) -> bool:
        """Whether this scheduler records the cluster ids it is given as checked: a scheduler of
        all users on a connection that works on every row (as the trigger asks)."""
        if not self.verify:
            return False
        if self._may_vouch is None:
            self._may_vouch = job_store.may_vouch_for_cluster_ids(session)
        return self._may_vouch

    async def check(self, job: Job, checked: str | object | None = _UNREAD) -> None:
        """Return if the job's cluster id is its own; else ForeignClusterJobError. `checked`: the
        job's `checked_external_job_id`, read here when not given."""
        external = job.external_job_id
        backend = self.ws.backend()
        if external is None:
            return
        if backend.name in NAMED_BY_JOB_ID:
            if external != job.id:
                raise ForeignClusterJobError(
                    f"its cluster id {external!r} is not this job's ({backend.name} names it {job.id}); "
                    "nothing of that cluster job was read or cancelled"
                )
            return
        if not self.verify:
            return
        if self._may_vouch is None:
            self._may_vouch = await asyncio.to_thread(self._read, job_store.may_vouch_for_cluster_ids)
        if not self._may_vouch:  # a person's own role, all users or not, reaches only their rows
            return
        if checked is _UNREAD:
            checked = await asyncio.to_thread(self._read, lambda s: job_store.checked_cluster_id(s, job.id))
        if checked == external:
            return
        try:
            bucket, path = await asyncio.to_thread(self._dataset_location, job.dataset_id)
            request = submit_request(self.ws, job, bucket, path)
        except StorageError as exc:
            raise ForeignClusterJobError(
                f"its cluster id {external!r} cannot be checked ({exc}); nothing of it was read or cancelled"
            ) from None
        answer = await backend.submit(request)
        if answer.external_job_id != external:
            try:  # the job's own cluster job, which the row did not name: not left running unwatched
                await backend.cancel(answer.external_job_id)
            except ClusterError:
                pass
            raise ForeignClusterJobError(
                f"its cluster id {external!r} is not this job's: the cluster knows this job as "
                f"{answer.external_job_id!r}; nothing of {external!r} was read or cancelled"
            )
        await asyncio.to_thread(self._write, lambda s: job_store.mark_cluster_id_checked(s, job.id, external))

    def _read(self, action: Callable[[Session], T]) -> T:
        with self.ws.db.read() as session:
            return action(session)

    def _write(self, action: Callable[[Session], T]) -> T:
        with self.ws.db.write() as session:
            return action(session)

    def _dataset_location(self, dataset_id: str) -> tuple[str | None, str]:
        with self.ws.db.read() as session:
            row = session.get(DatasetRow, dataset_id)
            if row is None:
                raise StorageError(f"the dataset {dataset_id} of this job is gone")
            return row.storage_bucket, row.storage_path
