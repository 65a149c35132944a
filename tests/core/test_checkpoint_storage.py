"""A run's checkpoints through S3 storage (moto's server on loopback): the trainer sends its latest
one through presigned URLs made at submit, the app reads its step, and a continued run fetches it."""

# ruff: noqa: F811 - the S3 fixtures are test_s3_storage's, taken as arguments

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from core.cluster.base import SubmitRequest
from core.cluster.ray import RayCluster
from core.config import Settings
from core.storage.s3 import S3Storage
from core.trainer.checkpoint_files import STATE_FILE, checkpoint_dir, latest_checkpoint
from core.trainer.checkpoint_transfer import CheckpointUploader, fetch_checkpoint
from core.trainer.transfer import TransferError
from tests.core.test_s3_storage import s3_env, s3_server, storage  # noqa: F401 - fixtures


def save_checkpoint(run: Path, step: int) -> Path:
    folder = checkpoint_dir(run, step)
    folder.mkdir(parents=True)
    (folder / "optimizer.pt").write_bytes(bytes(range(256)) * step)
    (folder / STATE_FILE).write_text(json.dumps({"global_step": step}), encoding="utf-8")
    return folder


def test_the_latest_checkpoint_goes_to_storage_and_a_continued_run_fetches_it(
    storage: S3Storage, tmp_path: Path
):
    run = tmp_path / "run"
    said: list[str] = []
    assert storage.checkpoint_step("job-1") is None
    uploader = CheckpointUploader(run, storage.checkpoint_upload_urls("job-1"), said.append, interval=0.05)
    uploader.start()
    save_checkpoint(run, 10)
    save_checkpoint(run, 20)
    assert uploader.finish() == 20
    assert storage.checkpoint_step("job-1") == 20
    assert "checkpoint at step 20 uploaded" in said
    ray = RayCluster("http://127.0.0.1:1", None, storage, Settings(tmp_path, "sqlite://", "erin"))
    assert asyncio.run(ray.latest_checkpoint("job-1")) == 20  # what the app offers to continue from

    continued = tmp_path / "continued"
    folder = fetch_checkpoint(storage.checkpoint_download_url("job-1"), continued)
    assert folder.name == "checkpoint-20"
    assert (folder / "optimizer.pt").read_bytes() == bytes(range(256)) * 20
    assert not list(continued.glob("*.tar"))  # the archive is not kept beside it
    assert latest_checkpoint(run) is not None  # the run's own are left as they were

    with pytest.raises(TransferError, match="the checkpoint URL was refused: HTTP 404"):
        fetch_checkpoint(storage.checkpoint_download_url("no-such-job"), tmp_path / "nothing")


def test_a_ray_job_is_given_checkpoint_urls_and_a_continued_one_its_parents(
    storage: S3Storage, tmp_path: Path
):
    settings = Settings(home=tmp_path, database_url="sqlite://", user="erin")
    cluster = RayCluster("http://127.0.0.1:1", None, storage, settings)
    fresh = cluster.submission(SubmitRequest("job-2", "https://data", {}, "A100-80GB", 1))
    spec = json.loads(fresh["entrypoint"].split("--spec-json ", 1)[1].strip("'"))
    assert set(spec["checkpoint_upload"]) == {"archive", "step"}
    assert "resume_checkpoint_url" not in spec

    continued = cluster.submission(SubmitRequest("job-3", "https://data", {}, "A100-80GB", 1, "job-2", 40))
    spec = json.loads(continued["entrypoint"].split("--spec-json ", 1)[1].strip("'"))
    assert "/checkpoints/job-2/checkpoint.tar" in spec["resume_checkpoint_url"]
    assert "/checkpoints/job-3/" in spec["checkpoint_upload"]["archive"]
