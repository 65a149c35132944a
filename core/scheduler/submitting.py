"""The submit request of a job: what the cluster gets, from the first submit to a resubmit."""

from __future__ import annotations

from core.cluster.base import SubmitRequest
from core.datasets.catalog import check_dataset_path
from core.records import Job
from core.workspace import Workspace


def submit_request(ws: Workspace, job: Job, bucket: str | None, path: str) -> SubmitRequest:
    """The job under its own id (the cluster's idempotency key), with a fresh signed dataset URL,
    signed only for a file in the folder of the job's own dataset (StorageError otherwise)."""
    check_dataset_path(job.user_id, job.dataset_id, path)
    return SubmitRequest(
        job_id=job.id,
        dataset_url=ws.storage.signed_url(bucket, path),
        hyperparameters=job.hyperparameters,
        gpu_type=job.gpu_type,
        gpu_count=job.gpu_count,
        resume_from_job=job.parent_job_id if job.resume_from_step is not None else None,
        resume_from_step=job.resume_from_step,
    )
