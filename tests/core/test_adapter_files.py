"""A job's adapter as a folder here: a local run's own folder, or downloaded from S3 storage (moto's
server on loopback) with progress, once, and again only when the stored files change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.adapters.files import local_adapter
from core.config import load_settings
from core.errors import LoradeskError
from core.storage.s3 import S3Storage
from tests.adapters import job_with_adapter
from tests.s3_server import S3Server

BUCKET = "loradesk-adapters"
FILES = {
    "adapter_config.json": b'{"peft_type": "LORA"}',
    "adapter_model.safetensors": bytes(range(256)) * 9000,
}


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def storage(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Storage:
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    storage = S3Storage(f"s3://{BUCKET}/team")
    storage._s3().create_bucket(Bucket=BUCKET)
    return storage


def put_adapter(storage: S3Storage, job_id: str, files: dict[str, bytes]) -> str:
    url = storage.adapter_url(job_id)
    for name, body in files.items():
        storage._s3().put_object(Bucket=BUCKET, Key=f"team/adapters/{job_id}/{name}", Body=body)
    return url


def test_an_adapter_on_s3_is_downloaded_with_progress_once(storage: S3Storage, home: Path):
    settings = load_settings({"home": str(home), "user": "dana"})
    url = put_adapter(storage, "job-a", FILES)
    job = job_with_adapter(home, None, artifact_url=url)
    seen: list[tuple[int, int]] = []

    folder = local_adapter(settings, job, lambda done, total, stage: seen.append((done, total)))

    assert {name: (folder / name).read_bytes() for name in FILES} == FILES
    total = sum(len(body) for body in FILES.values())
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert len(seen) > 2  # the big file's chunks each move the bar
    seen.clear()
    assert local_adapter(settings, job, lambda *a: seen.append(a[:2])) == folder
    assert seen == []  # nothing changed in storage: nothing fetched

    put_adapter(storage, "job-a", {"adapter_model.safetensors": b"retrained"})
    local_adapter(settings, job, lambda *a: seen.append(a[:2]))
    assert (folder / "adapter_model.safetensors").read_bytes() == b"retrained"


def test_an_adapter_missing_from_s3_or_from_disk_is_one_clear_error(storage: S3Storage, home: Path):
    settings = load_settings({"home": str(home), "user": "dana"})
    gone = job_with_adapter(home, None, artifact_url=storage.adapter_url("never-uploaded"))
    with pytest.raises(LoradeskError, match=r"no adapter at s3://.*never-uploaded/: its files are missing"):
        local_adapter(settings, gone)
    moved = job_with_adapter(home, home / "moved-away")
    with pytest.raises(LoradeskError, match="moved-away is gone or incomplete"):
        local_adapter(settings, moved)
    assert not (home / "adapters").exists() or not any((home / "adapters").iterdir())
