"""The scheduler: the seed's processQueuedJobs() and updateRunningJobs() as an asyncio component.

A cycle is claim → commit → call the cluster → record, in that order, so no HTTP call ever runs
inside a database transaction. Database work runs in worker threads; cluster calls run
concurrently on the event loop. One job's failure is logged and never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.orm import Session

from core.cluster.base import (
    ClusterAuthError,
    ClusterBackend,
    ClusterBusyError,
    ClusterConflictError,
    ClusterJobNotFoundError,
    ClusterMalformedError,
    ClusterRejectedError,
    ClusterTransientError,
    StatusReport,
    SubmitResult,
    point_step,
)
from core.db.changes import change_stamp
from core.db.clock import database_time
from core.db.engine import cluster_id_taken, error_line, is_data_error
from core.db.job_store import ClaimedJob, claim_active, claim_queued, job_holding_cluster_id, renew_claims
from core.db.metric_chunks import Recorded, pack_recorded
from core.db.migrate import HEAD_REVISION, current_revision
from core.db.models import utcnow
from core.errors import LoradeskError
from core.events import Event, SchedulerStopped, WorkAvailable
from core.records import JobStatus
from core.scheduler import transitions as t
from core.scheduler.cancelling import carry_out_cancel, pending_cancels
from core.scheduler.cluster_ids import ClusterIdCheck, ForeignClusterJobError
from core.scheduler.guardrails import apply_guardrails, carry_out_stops, check_budget_warnings
from core.scheduler.metric_points import store_metric_points
from core.scheduler.publish import publish
from core.scheduler.sample_recording import store_samples
from core.scheduler.submitting import submit_request
from core.scheduler.watch import WatchedJob
from core.storage.buckets import StorageError
from core.workspace import Workspace

log = logging.getLogger(__name__)
T = TypeVar("T")

# A claim lives this long unless its holder renews it; the heartbeat renews the claims of work in
# hand every third of it. So work held by a dead scheduler resumes within LEASE plus one poll
# interval (SPEC §8: under 30 s), and a slow cycle never loses its claims.
LEASE = timedelta(seconds=15)
# Jobs claimed at a time follow what one scheduler carries through the cluster at once: the
# backend's cap on requests in flight (LORADESK_MAX_IN_FLIGHT, lowered while the cluster is
# loaded), or with the batch status endpoint this many jobs (two of its requests). A cycle claims
# round after round until its work is done, so live schedulers share a long queue and a dead one
# strands one round, not the queue.
BATCH_CLAIM = 1000
# Metric points a scheduler holds in answers not yet recorded, across every poll in flight: a
# hundred jobs answering 10,000 points each at once would otherwise hold a million (some 500 MB).
# An answer past it keeps its first points in step order; the rest come with the next poll.
POINTS_IN_HAND = 100_000
# Seconds the work in flight gets to finish once the scheduler is told to stop; then it is cut
# (its claims lapse and another scheduler takes the jobs up), so SIGTERM ends it within 5 s.
STOP_GRACE = 2.0


class SchemaMovedError(LoradeskError):
    """The database's schema is newer than this build's: the scheduler must not go on."""


@dataclass
class CycleReport:
    """What one cycle did, for logs, tests and benchmarks."""

    submitted: int = 0
    polled: int = 0
    finished: int = 0
    cancelled: int = 0
    errors: int = 0


class Scheduler:
    def __init__(
        self,
        ws: Workspace,
        *,
        all_users: bool = False,
        batch_size: int | None = None,
        lease: timedelta = LEASE,
        max_submit_attempts: int | None = None,
        backoff_base: float = 5.0,
        backoff_cap: float = 300.0,
    ) -> None:
        self.ws = ws
        self.user_id = None if all_users else ws.user
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.batch_size = batch_size  # None: the claim follows the backend (`claim_size`)
        self.lease = lease
        self.max_submit_attempts = max_submit_attempts or ws.settings.max_submit_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.paused = False
        self._stopping = False
        self.stopped_because: str | None = None  # why it stopped by itself, if it did
        self._in_hand: set[str] = set()  # ids of the jobs claimed and not yet recorded
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stop_asked: asyncio.Event | None = None
        self._stop_started: float | None = None  # loop time the stop's grace began
        self._late: set[asyncio.Task[None]] = set()  # polls that outlived their round
        self._points_left = POINTS_IN_HAND  # of the points in hand (answers not yet recorded)
        self._watched = WatchedJob()
        # A scheduler of all users trusts no cluster id a person wrote (core.scheduler.cluster_ids).
        self._cluster_ids = ClusterIdCheck(ws, verify=all_users and not ws.db.is_sqlite)
        self._unsubscribe = ws.events.subscribe(self._on_event)

    # --- running ---------------------------------------------------------------------------

    async def run_forever(self) -> None:
        """Run a cycle every poll interval (or at once when woken) until `stop()`."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stop_asked = asyncio.Event()
        if self._stopping:  # stopped before it started
            self._stop_asked.set()
        log.info(
            "scheduler %s started (%s)", self.owner, "all users" if self.user_id is None else self.user_id
        )
        watching = asyncio.create_task(self._watched.run(self.poll_watched, lambda: self._stopping))
        while not self._stopping:
            self._wake.clear()
            if not self.paused:
                await self._finish(asyncio.create_task(self._cycle()))
            try:
                await asyncio.wait_for(self._wake.wait(), self.ws.settings.poll_interval)
            except TimeoutError:
                pass
        await self._finish(watching)
        await self._cut_late_polls()
        self._unsubscribe()
        log.info("scheduler %s stopped", self.owner)

    async def _cycle(self) -> None:
        try:
            await self.run_once()
        except SchemaMovedError as exc:  # its rules are no longer the database's: stop
            log.error("%s", exc)
            self.stopped_because = str(exc)
            self.ws.events.publish(SchedulerStopped(str(exc)))
            self.stop()
            return
        except Exception as exc:  # the loop must survive anything one cycle meets
            # e.g. the database is down: one line each cycle, the traceback only with -v
            log.error("scheduler cycle failed, retried next interval: %s", error_line(exc))
            log.debug("cycle failure", exc_info=True)
        await self._keep_warm()

    async def _finish(self, work: asyncio.Task[None]) -> None:
        """Wait for `work`; once a stop is asked, give it STOP_GRACE seconds, then cancel it
        (a request to a cluster that drips its answer would otherwise hold the stop for its
        whole deadline)."""
        assert self._stop_asked is not None
        stop = asyncio.create_task(self._stop_asked.wait())
        try:
            await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not work.done():
            await asyncio.wait({work}, timeout=self._grace_left())
        if not work.done():
            log.warning("stopping: work still in flight after %.0f s is cut short", STOP_GRACE)
            work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work

    def _grace_left(self) -> float:
        """Seconds left of the one STOP_GRACE that all work in flight shares from the stop on."""
        now = asyncio.get_running_loop().time()
        if self._stop_started is None:
            self._stop_started = now
        return max(0.0, self._stop_started + STOP_GRACE - now)

    async def _cut_late_polls(self) -> None:
        """The polls that outlived their rounds get what is left of the grace; then they are cut."""
        late = set(self._late)
        if late:
            await asyncio.wait(late, timeout=self._grace_left())
        cut = [task for task in late if not task.done()]
        if cut:
            log.warning("stopping: %d polls still in flight after %.0f s are cut short", len(cut), STOP_GRACE)
        for task in cut:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    def stop(self) -> None:
        """Stop after the work in hand (at most STOP_GRACE seconds more); safe from any thread."""
        self._stopping = True
        loop, asked = self._loop, self._stop_asked
        if loop is not None and asked is not None and not loop.is_closed():
            loop.call_soon_threadsafe(asked.set)
        self.wake()
        self._watched.wake()

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self.wake()

    def wake(self) -> None:
        """Run a cycle now; safe to call from any thread."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    def watch(self, job_id: str | None) -> None:
        """Poll this job every second between cycles (None: no job); safe to call from any thread.

        The desktop calls it with the job on screen, so its charts move every second (SPEC §2)."""
        self._watched.set(job_id)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, WorkAvailable):
            self.wake()

    async def _check_schema(self) -> None:
        """Stop working on a database whose schema moved past this build's (an upgrade by a
        newer Loradesk): this build would not know the new columns' rules, e.g. new stop rules."""
        revision = await self._read(lambda s: current_revision(s.connection()))
        if revision is not None and revision != HEAD_REVISION:
            raise SchemaMovedError(
                f"the database is now at schema revision {revision}, which this Loradesk "
                f"({HEAD_REVISION}) does not know; the scheduler stopped: upgrade Loradesk"
            )

    async def _keep_warm(self) -> None:
        """Let a backend that can (local) get ready for the next job while this scheduler runs."""
        try:
            keep_warm = getattr(self.ws.backend(), "keep_warm", None)
            if callable(keep_warm):
                await keep_warm()
        except Exception as exc:  # a warm-up is an optimisation: never worth a failed cycle
            log.warning("could not prepare the backend for the next job: %s", error_line(exc))

    async def run_once(self) -> CycleReport:
        report = CycleReport()
        await self._check_schema()
        async with self._heartbeating():
            await self.process_cancels(report)
            await self.process_queued(report)
            await self.update_active(report)
            await self._budget_warnings()
            if report.finished and hasattr(self.ws.backend(), "free_slots"):
                await self.process_queued(report)  # a finished job freed a slot: fill it now
        return report

    @contextlib.asynccontextmanager
    async def _heartbeating(self) -> AsyncIterator[None]:
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            yield
        finally:
            heartbeat.cancel()

    async def _heartbeat(self) -> None:
        """Renew the claims of the work in hand while the cycle runs (only those: a claim left
        behind by a failed record must still expire)."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            held = list(self._in_hand)
            if not held:
                continue
            try:
                await self._write(
                    lambda s, held=held: renew_claims(  # type: ignore[misc]
                        s, held, owner=self.owner, lease=self.lease, now=utcnow()
                    )
                )
            except Exception as exc:  # the database is away: the claims may lapse, nothing else
                log.warning("could not renew claims: %s", error_line(exc))

    async def _in_hand_while(self, claimed: Sequence[ClaimedJob], work: Awaitable[T]) -> T:
        ids = {c.job.id for c in claimed}
        self._in_hand |= ids
        try:
            return await work
        finally:
            self._in_hand -= ids

    # --- queued jobs -----------------------------------------------------------------------

    async def process_queued(self, report: CycleReport) -> None:
        """Submit due queued jobs, a round of `claim_size()` at a time, until none is left or the
        cluster says it has no room."""
        while not self._stopping:
            limit = self.claim_size()
            free = getattr(self.ws.backend(), "free_slots", None)
            if callable(free):
                limit = min(limit, await free())
            if limit <= 0:
                return
            claimed = await self._write(
                lambda s, limit=limit: claim_queued(  # type: ignore[misc]
                    s, owner=self.owner, user_id=self.user_id, limit=limit, lease=self.lease, now=utcnow()
                )
            )
            if not claimed:
                return
            outcomes = await self._in_hand_while(claimed, self._submit_and_record(claimed, report))
            if len(claimed) < limit or any(
                isinstance(o, ClusterBusyError | ClusterAuthError) for o in outcomes
            ):
                return

    async def _submit_and_record(
        self, claimed: Sequence[ClaimedJob], report: CycleReport
    ) -> Sequence[object]:
        outcomes = await asyncio.gather(*(self._submit(c) for c in claimed), return_exceptions=True)
        changes = await self._record_each(claimed, outcomes, self._record_submit, report)
        report.submitted += sum(1 for c in changes if c.job is not None and c.job.external_job_id)
        return outcomes

    async def _submit(self, claimed: ClaimedJob) -> SubmitResult:
        assert claimed.dataset_path is not None
        request = submit_request(self.ws, claimed.job, claimed.dataset_bucket, claimed.dataset_path)
        return await self.ws.backend().submit(request)

    def _record_submit(self, s: Session, claimed: ClaimedJob, outcome: object) -> t.Change:
        now = utcnow()
        if isinstance(outcome, SubmitResult):
            change = t.record_submitted(
                s,
                claimed,
                outcome.external_job_id,
                outcome.status,
                owner=self.owner,
                now=now,
                vouched=self._cluster_ids.vouches(s),
            )
            self._log_change(claimed, change, f"submitted as {outcome.external_job_id}")
            return change
        if isinstance(outcome, StorageError | ClusterRejectedError):
            change = t.finish_job(
                s, claimed.job, JobStatus.FAILED, now=now, owner=self.owner, error_message=str(outcome)
            )
        elif isinstance(outcome, ClusterAuthError):
            t.release_claim(s, claimed, owner=self.owner, now=now, submit_refused=True)
            return t.record_auth_failure(s, claimed.job.user_id, self.ws.backend().name, str(outcome))
        elif isinstance(outcome, ClusterBusyError):
            return t.release_claim(s, claimed, owner=self.owner, now=now, submit_refused=True)
        elif isinstance(outcome, ClusterTransientError):
            change = t.record_submit_retry(
                s,
                claimed,
                str(outcome),
                owner=self.owner,
                now=now,
                max_attempts=self.max_submit_attempts,
                backoff=self._backoff(claimed.submit_attempts),
            )
        else:
            raise outcome if isinstance(outcome, BaseException) else TypeError(outcome)
        self._log_change(claimed, change, str(outcome))
        return change

    def _backoff(self, attempts: int) -> timedelta:
        """How long a job waits before its next try after `attempts` failed ones (a submit the
        cluster could not take, or answers that broke the contract): doubling, capped."""
        return timedelta(seconds=min(self.backoff_base * 2**attempts, self.backoff_cap))

    # --- active jobs -----------------------------------------------------------------------

    async def update_active(self, report: CycleReport) -> None:
        """Poll every active job once, a round of `claim_size()` at a time: a claim marks the job
        polled in this cycle, so the rounds move on and other schedulers take rounds too.

        The rounds overlap: once a round's answers are in, the next round is claimed, then
        polled while the answers are written, so the cluster and the database work at the same
        time. (The claim goes before the record starts: on SQLite a record holds the one write
        lock.) Records run one round at a time, in order."""
        cycle_start = await self._read(database_time)  # polled_at marks are the database's time
        claimed, limit = await self._claim_round(cycle_start)
        answered, outcomes = await self._poll(claimed, report)
        while claimed:
            try:
                more = len(claimed) == limit and not self._stopping
                following, limit = await self._claim_round(cycle_start) if more else ([], 0)
            except BaseException:
                self._in_hand -= {c.job.id for c in answered}  # unrecorded: let its claims lapse
                self._give_back_points(outcomes)
                raise
            recording = asyncio.create_task(self._record_round(answered, outcomes, report))
            try:
                next_answered, outcomes = await self._poll(following, report)
            finally:
                await recording
            claimed, answered = following, next_answered

    async def _claim_round(self, cycle_start: datetime) -> tuple[list[ClaimedJob], int]:
        """Claim the next round of active jobs not yet polled in this cycle, with the size asked;
        they are in hand until `_record_round` has written their answers."""
        limit = self.claim_size()
        claimed = await self._write(
            lambda s: claim_active(
                s,
                owner=self.owner,
                user_id=self.user_id,
                limit=limit,
                lease=self.lease,
                now=utcnow(),
                not_polled_since=cycle_start,
            )
        )
        self._in_hand |= {c.job.id for c in claimed}
        return claimed, limit

    def claim_size(self) -> int:
        """Jobs to claim in the next round: `batch_size` if given, else what the backend carries
        at once now (its in-flight cap; BATCH_CLAIM over the batch endpoint)."""
        if self.batch_size is not None:
            return self.batch_size
        backend = self.ws.backend()
        if getattr(backend, "batches", None):
            return BATCH_CLAIM
        cap = getattr(backend, "in_flight_cap", None)
        return cap if isinstance(cap, int) else self.ws.settings.max_in_flight

    async def _record_round(
        self, claimed: Sequence[ClaimedJob], outcomes: Sequence[object], report: CycleReport
    ) -> None:
        try:
            await self._record_polls(claimed, outcomes, report)
        finally:
            self._in_hand -= {c.job.id for c in claimed}

    async def poll_watched(self, job_id: str | None = None) -> CycleReport:
        """Poll the watched job (or `job_id`) once, as a cycle would: a short claim on that job,
        the cluster's answer, guarded records. A job another scheduler (or this one's cycle) holds
        is skipped; a job that ended is no longer watched."""
        report = CycleReport()
        job_id = job_id or self._watched.job_id
        if job_id is None or self.paused:
            return report
        claimed = await self._write(
            lambda s: claim_active(
                s,
                owner=self.owner,
                user_id=self.user_id,
                limit=1,
                lease=self.lease,
                now=utcnow(),
                job_id=job_id,
            )
        )
        if claimed:
            async with self._heartbeating():
                await self._in_hand_while(claimed, self._poll_and_record(claimed, report))
        if report.finished:
            self._watched.drop(job_id)
            self.wake()  # its end may free a slot for a queued job
        return report

    async def _poll_and_record(self, claimed: Sequence[ClaimedJob], report: CycleReport) -> None:
        answered, outcomes = await self._poll(claimed, report)
        await self._record_polls(answered, outcomes, report)

    async def _poll(
        self, claimed: Sequence[ClaimedJob], report: CycleReport
    ) -> tuple[list[ClaimedJob], list[object]]:
        """Poll the jobs concurrently: the ones that answered within a poll interval, with their
        outcomes. A slower answer (up to the backend's deadline) is recorded on its own when it
        comes (`_poll_late`), so one slow job never holds up the others' poll interval."""
        if not claimed:
            return [], []
        backend = self.ws.backend()
        polls = self._polls(backend, claimed)
        await asyncio.wait(polls, timeout=max(self.ws.settings.poll_interval, 1.0))
        report.polled += len(claimed)
        answered, outcomes = [], []
        for item, poll in zip(claimed, polls, strict=True):
            if poll.done():
                answered.append(item)
                outcomes.append(poll.result())
            else:
                self._poll_late(item, poll)
        return answered, outcomes

    def _polls(self, backend: ClusterBackend, claimed: Sequence[ClaimedJob]) -> list[asyncio.Future[object]]:
        """A future per job for its poll's outcome: one request each, or, with a backend that
        asks many at once (`statuses`: the batch endpoint of SPEC §4), shares of one poll."""
        statuses = getattr(backend, "statuses", None)
        # A cluster known to lack the batch endpoint is polled job by job here, so that one slow
        # answer holds up only its own job.
        if not callable(statuses) or getattr(backend, "batches", None) is False:
            return [asyncio.ensure_future(self._status_of(backend, c)) for c in claimed]
        together = asyncio.ensure_future(self._statuses_of(statuses, claimed))

        async def share(index: int) -> object:
            # Shielded: a share cut short (its job recorded late, or a stop) leaves the others'.
            return (await asyncio.shield(together))[index]

        return [asyncio.ensure_future(share(index)) for index in range(len(claimed))]

    async def _statuses_of(
        self, statuses: Callable[..., Awaitable[list[object]]], claimed: Sequence[ClaimedJob]
    ) -> list[object]:
        """`_status_of` for many jobs, asked of the cluster together."""
        checks = [self._cluster_ids.check(c.job, c.checked_external_job_id) for c in claimed]
        outcomes: list[object] = list(await asyncio.gather(*checks, return_exceptions=True))
        asked = [i for i, outcome in enumerate(outcomes) if not isinstance(outcome, BaseException)]
        try:
            answers = await statuses(
                [(claimed[i].job.external_job_id or "", claimed[i].last_metric_step) for i in asked]
            )
        except Exception as exc:
            answers = [exc] * len(asked)
        for i, answer in zip(asked, answers, strict=True):
            outcomes[i] = self._judged(answer) if isinstance(answer, StatusReport) else answer
        return outcomes

    async def _status_of(self, backend: ClusterBackend, claimed: ClaimedJob) -> object:
        """The job's status answer, or the exception it met; an answer that breaks the contract
        (a status it does not name, a negative step) is a malformed one, whatever the backend.
        Asked only once the cluster id is known to be the job's own (core.scheduler.cluster_ids)."""
        try:
            await self._cluster_ids.check(claimed.job, claimed.checked_external_job_id)
            answer = await backend.status(claimed.job.external_job_id or "", claimed.last_metric_step)
        except Exception as exc:
            return exc
        return self._judged(answer)

    def _judged(self, answer: StatusReport) -> object:
        """The answer to record (its points taken into hand), or the malformed answer it is."""
        breach = t.contract_breach(answer)
        if breach is not None:
            return ClusterMalformedError(f"malformed answer from the cluster: {breach}")
        return self._take_points(answer)

    def _take_points(self, answer: StatusReport) -> StatusReport:
        """The answer with as many of its points as POINTS_IN_HAND has room for, the first in
        step order; they are in hand until recorded (`_give_back_points`)."""
        history = answer.metrics_history
        if not history:
            return answer
        room = max(self._points_left, 0)
        if len(history) > room:
            history = sorted(history, key=point_step)[:room]
            answer = dataclasses.replace(answer, metrics_history=history, more_points=True)
        self._points_left -= len(history)
        return answer

    def _give_back_points(self, outcomes: Sequence[object]) -> None:
        self._points_left += sum(
            len(o.metrics_history or ()) for o in outcomes if isinstance(o, StatusReport)
        )

    def _poll_late(self, claimed: ClaimedJob, poll: asyncio.Future[object]) -> None:
        """Record a poll that outlived its round when its answer comes; its claim stays in hand
        (and renewed) until then."""

        async def record() -> None:
            try:
                async with self._heartbeating():
                    outcome = await poll
                    await self._record_polls([claimed], [outcome], CycleReport())
            except Exception as exc:
                log.error("job %s: could not record a late answer: %s", claimed.job.id, error_line(exc))
            finally:
                self._in_hand.discard(claimed.job.id)
                if not poll.done():
                    poll.cancel()

        late = asyncio.create_task(record())
        self._late.add(late)
        late.add_done_callback(self._late.discard)

    async def _record_polls(
        self, claimed: Sequence[ClaimedJob], outcomes: Sequence[object], report: CycleReport
    ) -> None:
        try:
            await self._record_answers(claimed, outcomes, report)
        finally:
            self._give_back_points(outcomes)

    async def _record_answers(
        self, claimed: Sequence[ClaimedJob], outcomes: Sequence[object], report: CycleReport
    ) -> None:
        changes = await self._record_each(
            claimed, outcomes, self._record_poll, report, record_all=self._record_round_of_polls
        )
        stops = [c.job for c in changes if c.stopped and c.job is not None]
        if stops:  # a guardrail fired: this scheduler holds those jobs and cancels them now
            report.cancelled += await carry_out_stops(self.ws, stops, owner=self.owner)
        report.finished += sum(1 for c in changes if c.job is not None and c.job.status.is_terminal)

    def _record_round_of_polls(
        self, s: Session, claimed: Sequence[ClaimedJob], outcomes: Sequence[object]
    ) -> list[t.Change]:
        """A round's answers at once: the status answers through the set-based record
        (`transitions.record_statuses`), the rest (errors, not found) one by one."""
        now = utcnow()
        answers = [(c, o) for c, o in zip(claimed, outcomes, strict=True) if isinstance(o, StatusReport)]
        recorded = iter(t.record_statuses(s, answers, owner=self.owner, now=now))
        changes = []
        for item, outcome in zip(claimed, outcomes, strict=True):
            if isinstance(outcome, StatusReport):
                change = apply_guardrails(s, next(recorded), owner=self.owner, lease=self.lease, now=now)
                self._log_change(item, change, change.job.error_message if change.job else None)
            else:
                change = self._record_poll(s, item, outcome)
            changes.append(change)
        return changes

    def _record_poll(self, s: Session, claimed: ClaimedJob, outcome: object) -> t.Change:
        now = utcnow()
        if isinstance(outcome, StatusReport):
            change = t.record_status(s, claimed, outcome, owner=self.owner, now=now)
            change = apply_guardrails(s, change, owner=self.owner, lease=self.lease, now=now)
        elif isinstance(outcome, ClusterJobNotFoundError):
            change = t.record_not_found(s, claimed, owner=self.owner, now=now)
        elif isinstance(outcome, ForeignClusterJobError):
            # The row named another's cluster job: the job fails, and lets go of that id.
            change = t.finish_job(
                s,
                claimed.job,
                JobStatus.FAILED,
                now=now,
                owner=self.owner,
                error_message=str(outcome),
                values={"external_job_id": None},
            )
        elif isinstance(outcome, ClusterAuthError):
            t.release_claim(s, claimed, owner=self.owner, now=now)
            return t.record_auth_failure(s, claimed.job.user_id, self.ws.backend().name, str(outcome))
        elif isinstance(outcome, ClusterMalformedError):
            change = t.record_malformed(
                s,
                claimed,
                str(outcome),
                owner=self.owner,
                now=now,
                max_attempts=self.max_submit_attempts,
                backoff=self._backoff(claimed.malformed_answers),
            )
        elif isinstance(outcome, ClusterTransientError):
            log.debug("job %s: poll failed (%s); unchanged", claimed.job.id, outcome)
            change = t.release_claim(s, claimed, owner=self.owner, now=now)
            # the clock's rules (cost, time) hold while the cluster is away
            return apply_guardrails(s, change, job=claimed.job, owner=self.owner, lease=self.lease, now=now)
        else:
            raise outcome if isinstance(outcome, BaseException) else TypeError(outcome)
        self._log_change(claimed, change, change.job.error_message if change.job else None)
        return change

    async def _budget_warnings(self) -> None:
        """The month's 80 % and 100 % budget warnings of this scheduler's person (a scheduler of
        all users knows no one's budget: each person's app gives theirs)."""
        budget = self.ws.settings.monthly_budget
        if budget is None or self.user_id is None:
            return
        try:
            await asyncio.to_thread(
                check_budget_warnings, self.ws, user_id=self.user_id, budget=budget, now=utcnow()
            )
        except Exception as exc:  # a warning is not worth the rest of the cycle
            log.error("could not check the monthly budget: %s", error_line(exc))

    # --- cancels ---------------------------------------------------------------------------

    async def process_cancels(self, report: CycleReport) -> None:
        pending = await self._read(lambda s: pending_cancels(s, user_id=self.user_id))
        # A submit another scheduler has in hand is its to finish: it records the answer, and
        # the next cycle cancels the job it names on the cluster. So is a guardrail's stop: the
        # scheduler that recorded it holds the job while it cancels it (once, not once each).
        todo = [
            job
            for job, held in pending
            if not held or (job.external_job_id is not None and job.stop_reason is None)
        ]
        results = await asyncio.gather(
            *(carry_out_cancel(self.ws, job, held=False, check=self._cluster_ids) for job in todo),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                report.errors += 1
                log.error("cancel failed: %s", error_line(result))
            elif result.job.status is JobStatus.CANCELLED:
                report.cancelled += 1

    # --- plumbing --------------------------------------------------------------------------

    async def _record_each(
        self,
        claimed: Sequence[ClaimedJob],
        outcomes: Sequence[object],
        record: Callable[[Session, ClaimedJob, object], t.Change],
        report: CycleReport,
        record_all: Callable[[Session, Sequence[ClaimedJob], Sequence[object]], list[t.Change]] | None = None,
    ) -> list[t.Change]:
        """Record every job's outcome in one transaction (with `record_all` if given, else `record`
        job by job). If that fails, the batch is redone with `record` and a savepoint per job, so
        the failure costs that job alone."""

        def all_at_once(session: Session) -> list[t.Change]:
            with session.begin_nested():
                if record_all is not None:
                    changes = record_all(session, claimed, outcomes)
                else:
                    pairs = zip(claimed, outcomes, strict=True)
                    changes = [record(session, item, outcome) for item, outcome in pairs]
                store_metric_points(session, [point for change in changes for point in change.points])
                store_samples(session, [sample for change in changes for sample in change.samples])
                pack_recorded(session, _recorded(claimed, changes))
                return changes

        unrecordable: list[str] = []  # cluster jobs whose Loradesk job failed for want of a record
        taken: list[str] = []  # cluster ids a job's own submit got and another row holds

        def one_by_one(session: Session) -> list[t.Change]:
            changes = []
            for item, outcome in zip(claimed, outcomes, strict=True):
                try:
                    with session.begin_nested():
                        change = record(session, item, outcome)
                        store_metric_points(session, change.points)
                        store_samples(session, change.samples)
                        pack_recorded(session, _recorded([item], [change]))
                        changes.append(change)
                except Exception as exc:
                    report.errors += 1
                    taken_id = getattr(outcome, "external_job_id", None)
                    if taken_id and cluster_id_taken(exc):
                        # The cluster named this job's own cluster job, and another row claims
                        # it: never cancelled or failed for that; resubmitted (the same answer)
                        # once a scheduler of all users has checked the other row.
                        log.warning("job %s: its cluster id %s is held by another job", item.job.id, taken_id)
                        taken.append(taken_id)
                        with session.begin_nested():  # given back, its submit mark kept
                            changes.append(t.release_claim(session, item, owner=self.owner, now=utcnow()))
                        continue
                    if not is_data_error(exc):
                        log.error(
                            "job %s: could not record the cluster's answer, retried: %s",
                            item.job.id,
                            error_line(exc),
                        )
                        log.debug("record failure", exc_info=True)
                        continue
                    failed = self._fail_unrecordable(session, item, exc)
                    changes.append(failed)
                    external_id = getattr(outcome, "external_job_id", None) or item.job.external_job_id
                    if failed.job is not None and external_id:
                        unrecordable.append(external_id)
            return changes

        def work(session: Session) -> list[t.Change]:
            # The cycle's change number first, outside the savepoints (which may roll back) and
            # before any job row is locked (core.db.changes).
            change_stamp(session)
            try:
                return all_at_once(session)
            except Exception:
                return one_by_one(session)

        changes = await self._write(work)
        publish(self.ws, changes)
        unrecordable += [c.stop_on_cluster for c in changes if c.stop_on_cluster]
        await self._stop_on_cluster(unrecordable)
        if taken and self._cluster_ids.verify:
            await self._free_cluster_ids(taken)
        return changes

    async def _free_cluster_ids(self, external_ids: Sequence[str]) -> None:
        """Check the rows holding cluster ids that a job's own submit just got: a row whose id is
        not its own lets go of it (and fails, if it was not over), so the owner's job records it
        at its next submit."""
        for external_id in external_ids:
            holder = await self._read(lambda s, e=external_id: job_holding_cluster_id(s, e))  # type: ignore[misc]
            if holder is None:
                continue
            try:
                await self._cluster_ids.check(holder)
            except ForeignClusterJobError as exc:
                reason = str(exc)
                log.warning("job %s: %s", holder.id, reason)
                change = await self._write(lambda s, j=holder, r=reason: t.let_go_of_cluster_id(s, j, r))  # type: ignore[misc]
                publish(self.ws, [change])
            except Exception as exc:  # the cluster is away: the next conflict asks again
                log.warning("cluster id %s: cannot check its job now: %s", external_id, error_line(exc))

    def _fail_unrecordable(self, session: Session, item: ClaimedJob, exc: BaseException) -> t.Change:
        """A record the database refuses every time (a value out of range, say) fails the job with
        the database's reason, instead of the job being claimed and retried forever."""
        reason = f"could not store the cluster's answer: {error_line(exc)}"
        try:
            with session.begin_nested():
                change = t.finish_job(
                    session, item.job, JobStatus.FAILED, now=utcnow(), owner=self.owner, error_message=reason
                )
        except Exception as again:
            log.error("job %s: could not record its failure either: %s", item.job.id, error_line(again))
            return t.Change()
        self._log_change(item, change, reason)
        return change

    async def _stop_on_cluster(self, external_ids: Sequence[str]) -> None:
        """Cancel the cluster jobs of jobs failed here, so none runs on unwatched and unbilled."""
        backend = self.ws.backend()
        results = await asyncio.gather(*(backend.cancel(e) for e in external_ids), return_exceptions=True)
        for external_id, result in zip(external_ids, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(
                result, ClusterConflictError | ClusterJobNotFoundError
            ):
                log.error("cluster job %s: could not be cancelled: %s", external_id, result)

    async def _write(self, action: Callable[[Session], T]) -> T:
        def run() -> T:
            with self.ws.db.write() as session:
                return action(session)

        return await asyncio.to_thread(run)

    async def _read(self, action: Callable[[Session], T]) -> T:
        def run() -> T:
            with self.ws.db.read() as session:
                return action(session)

        return await asyncio.to_thread(run)

    def _log_change(self, claimed: ClaimedJob, change: t.Change, detail: str | None) -> None:
        before, after = claimed.job.status, change.job.status if change.job else None
        if after is not None and after != before:
            suffix = f" ({detail})" if detail else ""
            log.info(
                "job %s %r: %s → %s%s", claimed.job.id, claimed.job.name, before.value, after.value, suffix
            )


def _recorded(claimed: Sequence[ClaimedJob], changes: Sequence[t.Change]) -> list[Recorded]:
    """What each job's recording did to its points, for moving them into chunks (core.db.metric_chunks)."""
    return [
        Recorded(
            job_id=change.job.id,
            last_step_before=item.last_metric_step,
            last_step=change.points[-1].step if change.points else item.last_metric_step,
            ended=change.job.status.is_terminal,
        )
        for item, change in zip(claimed, changes, strict=True)
        if change.job is not None and (change.points or change.job.status.is_terminal)
    ]
