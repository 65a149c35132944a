"""The six tables of SPEC §3 as SQLAlchemy 2 typed models, and the change feed's two.

Column names are fixed by the spec; the scheduler's bookkeeping columns (claims, attempts,
cancel requests) sit beside them on `training_jobs`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON}


class DatasetRow(Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255))
    storage_bucket: Mapped[str | None] = mapped_column(String(64))
    storage_path: Mapped[str] = mapped_column(Text)
    training_ready: Mapped[bool] = mapped_column(Boolean, default=True)
    total_pairs: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobRow(Base):
    __tablename__ = "training_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(255))
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    current_epoch: Mapped[int] = mapped_column(Integer, default=0)
    total_epochs: Mapped[int] = mapped_column(Integer, default=1)
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int | None] = mapped_column(Integer)
    current_metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    gpu_type: Mapped[str] = mapped_column(String(64))
    gpu_count: Mapped[int] = mapped_column(Integer, default=1)
    hourly_rate: Mapped[float] = mapped_column(Float, default=0.0)
    current_cost: Mapped[float] = mapped_column(Float, default=0.0)
    final_cost: Mapped[float | None] = mapped_column(Float)
    # Unique across all users: a cluster id belongs to one job only (team mode, SPEC §3).
    external_job_id: Mapped[str | None] = mapped_column(String(255))
    # The cluster id a scheduler of the team verified is this job's own; in team mode only the
    # roles that work on every row may write it (core.db.team_guards).
    checked_external_job_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    error_message: Mapped[str | None] = mapped_column(Text)
    artifact_url: Mapped[str | None] = mapped_column(Text)
    # What a cancelled run had learned when it stopped, rather than a finished adapter.
    artifact_partial: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    # The job this one was retried from or continues, and the checkpoint step it starts from.
    parent_job_id: Mapped[str | None] = mapped_column(String(36))
    resume_from_step: Mapped[int | None] = mapped_column(Integer)

    # Scheduler bookkeeping. A claim is an owner plus an expiry: a scheduler that dies loses its
    # claims when they expire and another picks the work up.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claim_expires_at: Mapped[datetime | None] = mapped_column()
    submit_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    not_found_polls: Mapped[int] = mapped_column(Integer, default=0)
    # Status answers in a row that broke the contract (SPEC §4): the job fails at the attempt limit.
    malformed_answers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_metric_step: Mapped[int | None] = mapped_column(Integer)
    progress_notified: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested_at: Mapped[datetime | None] = mapped_column()
    # Set by the claim before a submit: from then on the job may exist on the cluster even while
    # external_job_id is NULL, so it is never again cancelled without asking the cluster.
    submit_sent_at: Mapped[datetime | None] = mapped_column()
    # Set by the claim before a status poll: a cycle claims only jobs not yet polled in it.
    polled_at: Mapped[datetime | None] = mapped_column()
    # The change number of the transaction that last changed what a viewer sees (core.db.changes).
    change_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    # Guardrails (core.money.stop_rules): the person's stop rules, why a rule stopped the job, and what
    # the scheduler tracks to judge them (best validation loss, NaN, warnings given).
    max_cost: Mapped[float | None] = mapped_column(Float)
    max_hours: Mapped[float | None] = mapped_column(Float)
    stop_on_nan: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    stop_on_plateau: Mapped[int | None] = mapped_column(Integer)
    stop_reason: Mapped[str | None] = mapped_column(Text)
    best_validation_loss: Mapped[float | None] = mapped_column(Float)
    evaluations_since_best: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    nan_loss_step: Mapped[int | None] = mapped_column(Integer)
    guardrail_warnings: Mapped[list[str] | None] = mapped_column(JSON, default=list)

    __table_args__ = (
        Index("ix_training_jobs_user_status", "user_id", "status"),
        Index("ix_training_jobs_status_claim", "status", "claim_expires_at"),
        Index("ix_training_jobs_updated_at", "updated_at"),
        Index("ix_training_jobs_status_polled", "status", "polled_at"),
        Index("ix_training_jobs_user_change", "user_id", "change_seq"),
        Index("ix_training_jobs_cancel_requested", "cancel_requested_at"),
        Index("ix_training_jobs_parent", "parent_job_id"),
        Index("uq_training_jobs_external_job_id", "external_job_id", unique=True),
    )


class MetricPointRow(Base):
    __tablename__ = "metrics_points"

    # 64-bit: a team of long runs passes 2**31 points (SQLite's INTEGER PRIMARY KEY is 64-bit).
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    job_id: Mapped[str] = mapped_column(ForeignKey("training_jobs.id", ondelete="CASCADE"))
    epoch: Mapped[int | None] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer)
    training_loss: Mapped[float | None] = mapped_column(Float)
    validation_loss: Mapped[float | None] = mapped_column(Float)
    learning_rate: Mapped[float | None] = mapped_column(Float)
    throughput: Mapped[float | None] = mapped_column(Float)
    gpu_utilization: Mapped[float | None] = mapped_column(Float)
    gpu_memory_used: Mapped[float | None] = mapped_column(Float)
    grad_norm: Mapped[float | None] = mapped_column(Float)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("job_id", "step", name="uq_metrics_points_job_step"),)


class MetricChunkRow(Base):
    """The points of one job from `first_step` to `last_step` as compressed columns
    (core.db.metric_chunks): a finished run's points, and the finished part of a running one."""

    __tablename__ = "metric_chunks"

    job_id: Mapped[str] = mapped_column(ForeignKey("training_jobs.id", ondelete="CASCADE"), primary_key=True)
    first_step: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_step: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class SampleRow(Base):
    """One answer the trainer generated for one of the run's sample prompts at an evaluation."""

    __tablename__ = "samples"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    job_id: Mapped[str] = mapped_column(ForeignKey("training_jobs.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    prompt_index: Mapped[int] = mapped_column(Integer)
    prompt: Mapped[str] = mapped_column(Text)
    expected: Mapped[str | None] = mapped_column(Text)
    output: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("job_id", "step", "prompt_index", name="uq_samples_job_step_prompt"),)


class CostRecordRow(Base):
    __tablename__ = "cost_records"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    job_id: Mapped[str] = mapped_column(ForeignKey("training_jobs.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    cost_type: Mapped[str] = mapped_column(String(32), default="compute")
    amount: Mapped[float] = mapped_column(Float)
    billing_period: Mapped[str] = mapped_column(String(7))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # At most one record of each type per job: the database itself refuses a second one.
    __table_args__ = (UniqueConstraint("job_id", "cost_type", name="uq_cost_records_job_type"),)


class NotificationRow(Base):
    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(255))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("training_jobs.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    read: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set for notifications that may exist once per job (terminal ones, progress milestones);
    # the unique index makes "one job_completed per job" hold across racing schedulers. It is
    # per user, so in team mode no one can take (and so silence) a colleague's key.
    dedupe_key: Mapped[str | None] = mapped_column(String(128))
    change_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __table_args__ = (
        Index("ix_notifications_user_created", "user_id", "created_at"),
        Index("uq_notifications_user_dedupe", "user_id", "dedupe_key", unique=True),
        Index("ix_notifications_user_change", "user_id", "change_seq"),
        Index("ix_notifications_job_id", "job_id"),
    )


class ChangeCounterRow(Base):
    """One row whose value numbers the changes, in commit order (core.db.changes)."""

    __tablename__ = "change_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger)
    # The newest change number whose deletions are no longer all kept (core.jobs.tombstones): a
    # reader that last looked before it is given the full list instead.
    tombstones_pruned_through: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class DeletedJobRow(Base):
    """A deleted job's tombstone: the change query's record that the job is gone (core.jobs.tombstones)."""

    __tablename__ = "deleted_jobs"

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255))
    change_seq: Mapped[int] = mapped_column(BigInteger)
    deleted_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_deleted_jobs_user_change", "user_id", "change_seq"),)
