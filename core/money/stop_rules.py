"""Guardrails: a job's stop rules, judged from its record alone.

Four rules, each off until the person sets it: a cost cap (US$), a time cap (hours since the job
started), stop on a NaN or infinite loss, and stop after N evaluations without a better validation
loss (a plateau). Everything here is arithmetic on a `Job` and a clock, so the scheduler that
enforces the rules, the CLI that prints them and the monitor that shows how close a job is to each
read the same figures and the same words.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.errors import InvalidRequestError
from core.records import Job, MetricPoint

# A warning comes once at this share of a cost or time cap, before the cap stops the job.
WARN_AT = 0.8
RULE_COLUMNS = ("max_cost", "max_hours", "stop_on_nan", "stop_on_plateau")
PLATEAU_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True)
class RuleState:
    """One rule of a job as it stands: what it is, how close the job is, whether it fires."""

    rule: str  # "cost", "hours", "nan" or "plateau"
    label: str  # the rule in a person's words: "Cost cap"
    figure: str  # how close: "$9.60 of $12.00", "2 of 5 evaluations without improvement"
    fraction: float | None  # of the way to firing (None: a yes/no rule)
    fired: bool
    reason: str  # what a stop by this rule says: "cost reached $12.00 of $12.00"


def check_rules(values: Mapping[str, Any]) -> dict[str, Any]:
    """Rule columns from loose values (absent: unchanged; None: off), or InvalidRequestError
    naming the first value no rule could use."""
    checked: dict[str, Any] = {}
    for name in ("max_cost", "max_hours"):
        if name in values and values[name] is not None:
            number = _number(values[name], name)
            if not (math.isfinite(number) and number > 0):
                what = "cost cap (max cost)" if name == "max_cost" else "time cap (max hours)"
                raise InvalidRequestError(f"the {what} must be a positive number, not {values[name]!r}")
            checked[name] = number
        elif name in values:
            checked[name] = None
    if "stop_on_nan" in values:
        checked["stop_on_nan"] = bool(values["stop_on_nan"])
    if "stop_on_plateau" in values:
        plateau = values["stop_on_plateau"]
        usable = isinstance(plateau, int) and not isinstance(plateau, bool) and 1 <= plateau <= PLATEAU_LIMIT
        if plateau is not None and not usable:
            raise InvalidRequestError(
                f"stop on plateau takes a number of evaluations from 1 to {PLATEAU_LIMIT:,}, not {plateau!r}"
            )
        checked["stop_on_plateau"] = plateau
    return checked


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise InvalidRequestError(f"{name.replace('_', ' ')} must be a number, not {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidRequestError(f"{name.replace('_', ' ')} must be a number, not {value!r}") from None


def has_rules(job: Job) -> bool:
    return any((job.max_cost, job.max_hours, job.stop_on_nan, job.stop_on_plateau))


# -- figures ---------------------------------------------------------------------------------------


def hours_run(job: Job, now: datetime) -> float:
    """Hours since the job started, up to its end (0 before it starts)."""
    if job.started_at is None:
        return 0.0
    end = job.completed_at or now
    return max((end - job.started_at).total_seconds(), 0.0) / 3600


def cost_now(job: Job, now: datetime) -> float:
    """What the job has cost by `now`: its final cost once over, else the rate × hours, which
    moves on between polls (and while the cluster cannot be reached)."""
    if job.final_cost is not None:
        return job.final_cost
    return max(job.current_cost, job.hourly_rate * job.gpu_count * hours_run(job, now))


def money(amount: float, *, cents_of: float | None = None) -> str:
    """$1,234.50. With `cents_of`, as many decimals as that amount needs to read as itself (a
    cap of $0.005 and the cost against it: "$0.003 of $0.005", not "$0.00 of $0.01")."""
    decimals = 2
    while cents_of is not None and decimals < 6 and round(cents_of, decimals) != round(cents_of, 6):
        decimals += 1
    return f"${amount:,.{decimals}f}"


def hours_text(hours: float) -> str:
    """2 h 30 min, 45 min, 1 min 12 s, 20 s: the units that suit the size."""
    seconds = round(hours * 3600)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    whole, minutes = divmod(round(hours * 60), 60)
    if not whole:
        return f"{minutes} min"
    return f"{whole} h {minutes:02d} min" if minutes else f"{whole} h"


def rule_states(job: Job, now: datetime, *, clock_cost: bool = True) -> list[RuleState]:
    """Each rule the job has, in a fixed order: cost, time, NaN, plateau. The scheduler judges the
    cost by the clock (`cost_now`); a display passes `clock_cost=False` to show the cost as last
    recorded, the figure its cost card and the table show beside it."""
    states = []
    if job.max_cost:
        cost = cost_now(job, now) if clock_cost else job.cost
        figure = f"{money(cost, cents_of=job.max_cost)} of {money(job.max_cost, cents_of=job.max_cost)}"
        states.append(
            RuleState(
                "cost",
                "Cost cap",
                figure,
                cost / job.max_cost,
                cost >= job.max_cost,
                f"cost reached {figure}",
            )
        )
    if job.max_hours:
        hours = hours_run(job, now)
        figure = f"{hours_text(hours)} of {hours_text(job.max_hours)}"
        states.append(
            RuleState(
                "hours",
                "Time cap",
                figure,
                hours / job.max_hours,
                hours >= job.max_hours,
                f"run time reached {figure}",
            )
        )
    if job.stop_on_nan:
        step = job.nan_loss_step
        figure = "no NaN loss so far" if step is None else f"NaN loss at step {step:,}"
        states.append(
            RuleState(
                "nan", "Stop on NaN", figure, None, step is not None, f"the loss was NaN at step {step}"
            )
        )
    if job.stop_on_plateau:
        n, limit = job.evaluations_since_best, job.stop_on_plateau
        figure = f"{n} of {limit} evaluation{'s' if limit != 1 else ''} without improvement"
        best = (
            ""
            if job.best_validation_loss is None
            else f" (best validation loss {job.best_validation_loss:.4g})"
        )
        states.append(
            RuleState(
                "plateau",
                "Plateau",
                figure,
                n / limit,
                n >= limit,
                f"{n} evaluations without a better validation loss{best}",
            )
        )
    return states


def firing(job: Job, now: datetime) -> RuleState | None:
    """The rule that stops the job now, if any (a NaN first: the run is broken, not just long)."""
    fired = [s for s in rule_states(job, now) if s.fired]
    order = ("nan", "plateau", "cost", "hours")
    return min(fired, key=lambda s: order.index(s.rule)) if fired else None


def warning_key(state: RuleState, job: Job) -> str:
    """Names the warning with the cap it was given for: a new cap may warn again."""
    cap = job.max_cost if state.rule == "cost" else job.max_hours
    return f"{state.rule}:{cap:g}"


def is_near(state: RuleState) -> bool:
    """At 80 % or more of a cap (with room for float rounding: $9.60 of $12.00 is 80 %)."""
    return state.fraction is not None and state.fraction >= WARN_AT - 1e-9


def warnings_due(job: Job, now: datetime) -> list[tuple[str, RuleState]]:
    """The 80 % warnings of cost and time caps reached and not yet given."""
    return [
        (warning_key(s, job), s)
        for s in rule_states(job, now)
        if s.rule in ("cost", "hours")
        and is_near(s)
        and not s.fired
        and warning_key(s, job) not in job.guardrail_warnings
    ]


def summary(job: Job, now: datetime) -> str:
    """The rules on one line, for `jobs show`: "Cost cap: $9.60 of $12.00 · Stop on NaN: …"."""
    return " · ".join(f"{s.label}: {s.figure}" for s in rule_states(job, now, clock_cost=False))


# -- what a poll teaches ---------------------------------------------------------------------------


def track_evaluations(job: Job, points: Iterable[MetricPoint], nan_step: int | None) -> dict[str, Any]:
    """The bookkeeping columns after new points: the best validation loss, the evaluations since
    it (an evaluation is a point with a validation loss; a better one is strictly lower), and the
    first step whose loss was NaN or infinite."""
    best, since = job.best_validation_loss, job.evaluations_since_best
    for point in points:
        loss = point.validation_loss
        if loss is None:
            continue
        if best is None or loss < best:
            best, since = loss, 0
        else:
            since += 1
    return {
        "best_validation_loss": best,
        "evaluations_since_best": since,
        "nan_loss_step": job.nan_loss_step if job.nan_loss_step is not None else nan_step,
    }
