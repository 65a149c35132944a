"""Plain-text tables for a terminal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from core.datasets.catalog import DatasetDetail
from core.jobs.freshness import polled
from core.jobs.resume import lineage
from core.jobs.summary import RunSummary
from core.money import stop_rules as guardrails
from core.money.stop_rules import has_rules
from core.records import Dataset, Job, JobDetail, Notification
from core.safe_text import printable


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns lined up; every cell shown with its control characters escaped (core.safe_text)."""
    cells = [
        [str(c) for c in headers],
        *[["" if c is None else printable(str(c)) for c in row] for row in rows],
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def money(amount: float) -> str:
    """US$ the same way in every table: $1,234.50, $0.00."""
    return f"${amount:,.2f}"


def setting(value: object) -> str:
    """A hyperparameter as a person writes it: 0.0002, 3e-05, q_proj,v_proj."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ",".join(setting(v) for v in value)
    return str(value)


def when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else ""


def print_datasets(rows: Sequence[Dataset]) -> None:
    print(
        table(
            ["ID", "NAME", "BUCKET", "PAIRS", "CREATED"],
            [(d.id, d.name, d.bucket, d.total_pairs, when(d.created_at)) for d in rows],
        )
    )


def print_dataset_detail(detail: DatasetDetail) -> None:
    dataset = detail.dataset
    fields = [
        ("id", dataset.id),
        ("name", dataset.name),
        ("pairs", f"{dataset.total_pairs:,}"),
        ("size", detail.size_text),
        ("stored", f"{dataset.bucket}/{dataset.storage_path}"),
        ("created", when(dataset.created_at)),
        ("jobs", f"{len(detail.jobs)}" + ("" if detail.jobs else " (it can be deleted)")),
    ]
    print(table(["FIELD", "VALUE"], fields))
    if detail.first_rows:
        print()
        print(
            table(["#", "FIRST ROWS"], [(i + 1, _row_text(row)) for i, row in enumerate(detail.first_rows)])
        )
    if detail.jobs:
        print()
        print(
            table(
                ["JOB", "NAME", "STATUS", "CREATED"],
                [(j.id, j.name, _status(j), when(j.created_at)) for j in detail.jobs],
            )
        )


def _row_text(row: dict[str, object], width: int = 100) -> str:
    """A pair as "prompt → completion", a conversation as its turns, cut to one line."""
    if "messages" in row and isinstance(row["messages"], list):
        text = " | ".join(
            f"{m.get('role')}: {m.get('content')}" for m in row["messages"] if isinstance(m, dict)
        )
    else:
        text = f"{row.get('prompt')} → {row.get('completion')}"
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _status(job: Job) -> str:
    return "cancelling" if job.is_cancelling else job.status.value


def _loss(job: Job) -> str:
    loss = job.current_metrics.get("training_loss")
    return f"{loss:.4f}" if isinstance(loss, int | float) else ""


def print_jobs(rows: Sequence[Job]) -> None:
    now = datetime.now(UTC)
    print(
        table(
            ["ID", "NAME", "STATUS", "PROGRESS", "LOSS", "GPU", "COST", "CREATED", "POLLED"],
            [
                (
                    j.id,
                    j.name,
                    _status(j),
                    f"{j.progress:.0f}%",
                    _loss(j),
                    f"{j.gpu_count}× {j.gpu_type}",
                    money(j.cost),
                    when(j.created_at),
                    polled(j, now).removeprefix("polled "),
                )
                for j in rows
            ],
        )
    )


def print_job_detail(detail: JobDetail, summary: RunSummary | None = None) -> None:
    job = detail.job
    fields = [
        ("id", job.id),
        ("name", job.name),
        ("status", _status(job)),
        (
            "progress",
            f"{job.progress:.1f}% (step {job.current_step}/{job.total_steps or '?'}, "
            f"epoch {job.current_epoch}/{job.total_epochs})"
            + (f"; {polled(job, datetime.now(UTC))}" if polled(job, datetime.now(UTC)) else ""),
        ),
        ("training loss", _loss(job)),
        ("gpu", f"{job.gpu_count}× {job.gpu_type} at {money(job.hourly_rate)}/h per GPU"),
        ("cost", money(job.cost) + (" (final)" if job.final_cost is not None else " so far")),
        ("cluster job", job.external_job_id),
        ("parent", lineage(job)),
        ("created", when(job.created_at)),
        ("started", when(job.started_at)),
        ("completed", when(job.completed_at)),
        ("error", job.error_message),
        ("stop rules", rules_text(job) if has_rules(job) else None),
        ("stopped" if job.status.is_terminal else "stopping", job.stop_reason),
        (
            "artifact",
            f"{job.artifact_url} (partial: the run was cancelled)"
            if job.artifact_partial and job.artifact_url
            else job.artifact_url,
        ),
        ("tags", ", ".join(job.tags)),
        ("notes", job.notes),
        ("metric points", len(detail.metrics)),
    ]
    print(table(["FIELD", "VALUE"], [(k, v) for k, v in fields if v not in (None, "")]))
    if job.hyperparameters:
        print()
        print(table(["HYPERPARAMETER", "VALUE"], [(k, setting(v)) for k, v in job.hyperparameters.items()]))
    if summary is not None:
        print()
        print(table(["SUMMARY", "VALUE"], summary_rows(summary)))
    if detail.notifications:
        print()
        print_notifications(detail.notifications)


def summary_rows(summary: RunSummary) -> list[tuple[str, str]]:
    """The summary as (label, text) rows; a figure the run has not reported reads "—"."""
    best = "—"
    if summary.best_validation_loss is not None:
        best = f"{summary.best_validation_loss:.4f} at step {summary.best_validation_step:,}"
    final = "—"
    if summary.final_training_loss is not None:
        final = f"{summary.final_training_loss:.4f} at step {summary.final_training_step:,}"
    throughput = "—" if summary.mean_throughput is None else f"{summary.mean_throughput:,.0f} tokens/s"
    tokens = "—" if summary.tokens_processed is None else f"{summary.tokens_processed:,} (estimated)"
    dataset = "—"
    if summary.dataset_name is not None:
        dataset = f"{summary.dataset_name} ({summary.dataset_pairs:,} pairs)"
    return [
        ("best validation loss", best),
        ("final training loss", final),
        ("mean throughput", throughput),
        ("tokens processed", tokens),
        ("wall time", duration(summary.wall_time_seconds)),
        ("cost", money(summary.cost) + (" (final)" if summary.cost_final else " so far")),
        ("base model", summary.base_model or "the cluster's default"),
        ("dataset", dataset),
    ]


def duration(seconds: float | None) -> str:
    """1h 05m, 4m 10s, 12s; "—" for a job that never started."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def rules_text(job: Job) -> str:
    """The job's guardrails and how close it is to each, or that it has none."""
    return guardrails.summary(job, datetime.now(UTC)) or "no stop rules"


def print_notifications(rows: Sequence[Notification]) -> None:
    print(
        table(
            ["", "WHEN", "TYPE", "TITLE", "MESSAGE"],
            [("" if n.read else "●", when(n.created_at), n.type.value, n.title, n.message) for n in rows],
        )
    )
