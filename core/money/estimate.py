"""What a new job is expected to cost: one estimate for the new-job dialog and `jobs submit`.

The run time is the median wall time per epoch of the user's last twenty completed runs of the
same dataset, times the epochs asked for; with no such run it is a stated guess of
`DEFAULT_RUN_HOURS`. The cost is that time at the job's hourly rate (all its GPUs), no more
than its stop rules allow.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from core.db import job_store
from core.money.budget import job_estimate
from core.money.stop_rules import hours_text, money
from core.workspace import Workspace

# The run time assumed with no finished run of the dataset (the dialog's starting value).
DEFAULT_RUN_HOURS = 1.0


@dataclass(frozen=True, slots=True)
class RunTimeEstimate:
    """Expected hours of a run: the median hours per epoch of `runs` finished runs × epochs."""

    hours: float
    runs: int
    hours_per_epoch: float

    def describe(self) -> str:
        runs = "1 finished run" if self.runs == 1 else f"{self.runs} finished runs"
        return f"from {runs} of this dataset ({_duration(self.hours_per_epoch)} per epoch)"


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """A new job's expected cost, with what it rests on."""

    amount: float
    hourly: float  # US$ per hour for all the job's GPUs
    hours: float  # the expected run time
    basis: str  # where the run time comes from, in words
    capped: bool  # the stop rules bound it below the run time's cost

    def describe(self) -> str:
        """ "$0.32 (4 min at $4.50/h, from 3 finished runs of this dataset (1 min per epoch))"."""
        within = "; within the stop rules" if self.capped else ""
        return (
            f"{money(self.amount)} ({hours_text(self.hours)} at {money(self.hourly)}/h, {self.basis}{within})"
        )


def price(
    hourly: float,
    hours: float,
    *,
    basis: str,
    max_cost: float | None = None,
    max_hours: float | None = None,
) -> CostEstimate:
    """The cost of `hours` at `hourly`, no more than the caps allow."""
    amount = job_estimate(hourly, expected_hours=hours, max_cost=max_cost, max_hours=max_hours) or 0.0
    return CostEstimate(amount, hourly, hours, basis, amount < hourly * hours - 1e-12)


def guessed_basis(hours: float | None = DEFAULT_RUN_HOURS) -> str:
    """Where a run time with no past run comes from; without `hours`, for a field showing it."""
    guess = "a guess" if hours is None else f"a guess of {hours_text(hours)}"
    return f"{guess}: no finished run of this dataset yet"


def estimate_run_time(ws: Workspace, *, dataset_id: str, epochs: int) -> RunTimeEstimate | None:
    """Hours a run of `epochs` epochs on this dataset may take, from the user's completed runs
    on it (wall time from start to end per epoch, the median of the last twenty); None when
    there are none."""
    with ws.db.read() as session:
        runs = job_store.finished_runs(session, user_id=ws.user, dataset_id=dataset_id)
    per_epoch = [
        (job.completed_at - job.started_at).total_seconds() / 3600 / max(1, job.total_epochs)
        for job in runs
        if job.completed_at is not None and job.started_at is not None and job.completed_at > job.started_at
    ]
    if not per_epoch:
        return None
    median = statistics.median(per_epoch)
    return RunTimeEstimate(hours=median * max(1, epochs), runs=len(per_epoch), hours_per_epoch=median)


def estimate_job_cost(
    ws: Workspace,
    *,
    dataset_id: str,
    epochs: int,
    hourly: float,
    max_cost: float | None = None,
    max_hours: float | None = None,
) -> CostEstimate:
    """The estimate of a job on this dataset: its past runs' time, else the stated guess."""
    found = estimate_run_time(ws, dataset_id=dataset_id, epochs=epochs)
    if found is None:
        return price(hourly, DEFAULT_RUN_HOURS, basis=guessed_basis(), max_cost=max_cost, max_hours=max_hours)
    return price(hourly, found.hours, basis=found.describe(), max_cost=max_cost, max_hours=max_hours)


def _duration(hours: float) -> str:
    seconds = hours * 3600
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{hours:.1f} h"
