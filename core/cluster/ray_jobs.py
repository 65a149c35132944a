"""Ray's job records as the Jobs API answers them: one job (`GET /api/jobs/{id}`) and the job list
(`GET /api/jobs/`, every job the head keeps), decoded straight into typed records with msgspec.

Only the fields Loradesk reads are built; the rest of each entry (the entrypoint with its trainer
spec, runtime_env, metadata, driver_info) is skipped by the decoder, so a head that keeps
hundreds of jobs costs a list's bytes, not a list's worth of Python objects.
"""

from __future__ import annotations

from typing import Any

import msgspec

from core.cluster.bounds import MalformedAnswer

# Ray's job statuses → Loradesk's (SPEC §4b).
STATUSES = {
    "PENDING": "initializing",
    "RUNNING": "running",
    "SUCCEEDED": "completed",
    "FAILED": "failed",
    "STOPPED": "cancelled",
}
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


class RayJob(msgspec.Struct, frozen=True):
    """One entry of Ray's job list, or one job's details."""

    submission_id: str | None = None  # None for a job a driver started itself (not ours)
    status: str = ""  # Ray's; `known` says whether it is one of STATUSES
    message: str | None = None  # a failed job's: Ray's words and the tail of its log
    start_time: int | float | None = None  # milliseconds since the epoch
    end_time: int | float | None = None
    driver_node_id: str | None = None  # where its log is, once the job has a driver

    @property
    def known(self) -> bool:
        return self.status in STATUSES

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL

    @property
    def may_have_moved(self) -> bool:
        """Whether its log can hold lines not read yet: a running job's (Ray tells no log size,
        so it counts as grown) or an ended one's (its last lines and result). A pending job's
        trainer has not started: its log is not read."""
        return bool(self.driver_node_id) and self.status != "PENDING"


_ONE = msgspec.json.Decoder(RayJob)
_LIST = msgspec.json.Decoder(list[RayJob])


def one_job(body: bytes) -> RayJob:
    """The job of `GET /api/jobs/{id}`."""
    job: RayJob = _decoded(_ONE, body)
    return job


def job_list(body: bytes) -> dict[str, RayJob]:
    """The jobs of `GET /api/jobs/` submitted through the Jobs API, by submission id."""
    jobs: list[RayJob] = _decoded(_LIST, body)
    return {job.submission_id: job for job in jobs if job.submission_id}


def _decoded(decoder: msgspec.json.Decoder[Any], body: bytes) -> Any:
    """Decoded, or MalformedAnswer saying what was wrong (no traceback, no body echoed)."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise MalformedAnswer(f"not a Ray job record: {exc}") from None
    except msgspec.DecodeError:
        raise MalformedAnswer("not JSON") from None
    except RecursionError:  # nesting in a field skipped unread is still walked
        raise MalformedAnswer("JSON nested too deep") from None
