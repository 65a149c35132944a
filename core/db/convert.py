"""Rows → frozen records. The only place that knows both shapes."""

from __future__ import annotations

from typing import Any

from core.db.models import CostRecordRow, DatasetRow, MetricPointRow
from core.records import (
    CostRecord,
    Dataset,
    Job,
    JobStatus,
    MetricPoint,
    Notification,
    NotificationType,
)


def to_dataset(row: DatasetRow) -> Dataset:
    return Dataset(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        storage_bucket=row.storage_bucket,
        storage_path=row.storage_path,
        training_ready=row.training_ready,
        total_pairs=row.total_pairs,
        created_at=row.created_at,
    )


def to_job(row: Any) -> Job:
    """A Job from a JobRow or any row with the same attribute names (e.g. a RETURNING row)."""
    return Job(
        id=row.id,
        user_id=row.user_id,
        dataset_id=row.dataset_id,
        name=row.name,
        status=JobStatus(row.status),
        progress=row.progress,
        current_epoch=row.current_epoch,
        total_epochs=row.total_epochs,
        current_step=row.current_step,
        total_steps=row.total_steps,
        current_metrics=dict(row.current_metrics or {}),
        hyperparameters=dict(row.hyperparameters or {}),
        gpu_type=row.gpu_type,
        gpu_count=row.gpu_count,
        hourly_rate=row.hourly_rate,
        current_cost=row.current_cost,
        final_cost=row.final_cost,
        external_job_id=row.external_job_id,
        created_at=row.created_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        updated_at=row.updated_at,
        error_message=row.error_message,
        artifact_url=row.artifact_url,
        cancel_requested_at=row.cancel_requested_at,
    )


def to_metric_point(row: MetricPointRow) -> MetricPoint:
    return MetricPoint(
        job_id=row.job_id,
        step=row.step,
        epoch=row.epoch,
        training_loss=row.training_loss,
        validation_loss=row.validation_loss,
        learning_rate=row.learning_rate,
        throughput=row.throughput,
        gpu_utilization=row.gpu_utilization,
        gpu_memory_used=row.gpu_memory_used,
        recorded_at=row.recorded_at,
    )


def to_cost_record(row: CostRecordRow) -> CostRecord:
    return CostRecord(
        job_id=row.job_id,
        user_id=row.user_id,
        cost_type=row.cost_type,
        amount=row.amount,
        billing_period=row.billing_period,
        details=dict(row.details or {}),
        created_at=row.created_at,
    )


def to_notification(row: Any) -> Notification:
    return Notification(
        id=row.id,
        user_id=row.user_id,
        job_id=row.job_id,
        type=NotificationType(row.type),
        title=row.title,
        message=row.message,
        priority=row.priority,
        read=bool(row.read),
        created_at=row.created_at,
    )
