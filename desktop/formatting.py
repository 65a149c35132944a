"""How numbers, durations and times read on screen; the ETA of a job."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from core.records import Job

DASH = "—"


def utc(moment: datetime) -> datetime:
    """Timestamps are UTC; a naive one (SQLite) is read as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)


def elapsed_seconds(job: Job, at: datetime | None = None) -> float | None:
    if job.started_at is None:
        return None
    end = job.completed_at or at or now()
    return max(0.0, (utc(end) - utc(job.started_at)).total_seconds())


def eta_seconds(job: Job, at: datetime | None = None) -> float | None:
    """Time left, from the pace so far; None when there is no pace to go by yet."""
    if job.status.is_terminal or job.started_at is None:
        return None
    elapsed = elapsed_seconds(job, at)
    done = run_done(job)
    if not elapsed or done <= 0 or done >= 1:
        return None
    return elapsed * (1 - done) / done


def run_done(job: Job) -> float:
    """The share of this run's own steps done: a job continued from step N started at N, so its
    pace counts the steps after N only."""
    start = job.resume_from_step or 0
    if job.total_steps and job.total_steps > start and job.current_step > 0:
        return max(0.0, job.current_step - start) / (job.total_steps - start)
    return job.progress / 100.0 if not start else 0.0


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return DASH
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def money(amount: float | None) -> str:
    if amount is None:
        return DASH
    # Cents, and below a cent the four places that show it ("$0.0042"); an amount too small for
    # those reads "$0.00", never a "$0.0000" that looks exact.
    return f"${amount:,.2f}" if amount >= 0.01 or round(amount, 4) == 0 else f"${amount:.4f}"


def number(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.{max(1, digits - 1)}e}"
    return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:,.{max(0, digits - 3)}f}"


def learning_rate(value: float) -> str:
    """2e-4 rather than 0.0002, the way people write learning rates."""
    mantissa, _, exponent = f"{value:.2e}".partition("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def loss(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:.4f}"


def throughput(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    if value >= 10_000:
        return f"{value / 1000:,.1f}k tok/s"
    return f"{value:,.0f} tok/s"


def percent(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:.0f}%"


def timestamp(moment: datetime | None) -> str:
    if moment is None:
        return DASH
    local = utc(moment).astimezone()
    today = now().astimezone().date()
    return local.strftime("%H:%M") if local.date() == today else local.strftime("%Y-%m-%d %H:%M")


def metric(job: Job, name: str) -> float | None:
    """A number from the job's current metrics, None when missing or not a finite number."""
    value = job.current_metrics.get(name) if job.current_metrics else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def has_gpu(job: Job) -> bool:
    """False for a job that runs on the CPU (no GPU type, or `cpu`)."""
    return bool(job.gpu_type) and job.gpu_type != "cpu"


def gpu(job: Job) -> str:
    if not has_gpu(job):
        return "CPU"
    return f"{job.gpu_type} × {job.gpu_count}"


def setting(value: Any) -> str:
    """A job's setting as a person writes it: 0.0002, 3e-05, q_proj,v_proj; a dash for none."""
    if value is None:
        return DASH
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ",".join(setting(v) for v in value)
    return str(value)
