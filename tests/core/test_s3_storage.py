"""S3 storage against moto's standalone server on loopback, and the trainer's transfers through
presigned URLs made by it (the trainer holds no credentials)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from core.config import ConfigError, load_settings
from core.datasets.catalog import add_dataset
from core.scheduler.submitting import submit_request
from core.storage import open_storage
from core.storage.buckets import StorageError
from core.storage.s3 import S3Storage
from core.trainer.transfer import TransferError, download, upload, upload_adapter
from core.workspace import Workspace
from tests.s3_server import S3Server

SAMPLE = Path(__file__).resolve().parents[2] / "resources" / "sample-dataset.jsonl"
BUCKET = "loradesk-test"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.fixture
def storage(s3_env: S3Server) -> S3Storage:
    storage = S3Storage(f"s3://{BUCKET}/team-a")
    storage._s3().create_bucket(Bucket=BUCKET)  # a fresh bucket is made by whoever runs the server
    return storage


def test_storage_url_setting_picks_s3_and_refuses_other_schemes(tmp_path: Path):
    settings = load_settings({"home": str(tmp_path), "storage_url": f"s3://{BUCKET}/p"}, environ={})
    assert isinstance(open_storage(settings), S3Storage)
    env = load_settings({"home": str(tmp_path)}, environ={"LORADESK_STORAGE_URL": "s3://from-env"})
    assert env.storage_url == "s3://from-env"
    with pytest.raises(ConfigError, match="local folder or s3://"):
        load_settings({"home": str(tmp_path), "storage_url": "gs://bucket"}, environ={})
    with pytest.raises(ConfigError, match="names no bucket"):
        load_settings({"home": str(tmp_path), "storage_url": "s3:///prefix"}, environ={})


def test_dataset_added_to_s3_downloads_through_its_presigned_url(storage: S3Storage, tmp_path: Path):
    storage.put("lora-datasets", "erin/d1/sample.jsonl", SAMPLE)
    assert "team-a/lora-datasets/erin/d1/sample.jsonl" in storage.list_keys("team-a/")

    url = storage.signed_url(None, "erin/d1/sample.jsonl")
    assert url.startswith("http://127.0.0.1:") and "X-Amz-Expires=86400" in url  # 24 h

    fetched = download(url, tmp_path / "dataset.jsonl")
    assert fetched.read_bytes() == SAMPLE.read_bytes()
    storage.remove("lora-datasets", "erin/d1/sample.jsonl")
    assert storage.list_keys("team-a/lora-datasets/") == []


def test_adapter_uploads_through_presigned_puts(storage: S3Storage, tmp_path: Path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"r": 8}')
    (adapter / "adapter_model.safetensors").write_bytes(b"\x00weights" * 1000)
    urls = storage.adapter_upload_urls(
        "job-1", ("adapter_config.json", "adapter_model.safetensors", "README.md")
    )

    assert upload_adapter(adapter, urls) == ["adapter_config.json", "adapter_model.safetensors"]

    assert storage.adapter_url("job-1") == f"s3://{BUCKET}/team-a/adapters/job-1/"
    assert storage.read_object("team-a/adapters/job-1/adapter_model.safetensors") == b"\x00weights" * 1000
    assert storage.read_object("team-a/adapters/job-1/adapter_config.json") == b'{"r": 8}'


def test_adapter_without_weights_is_an_error(storage: S3Storage, tmp_path: Path):
    (tmp_path / "adapter_config.json").write_text("{}")
    urls = storage.adapter_upload_urls("job-2", ("adapter_config.json", "adapter_model.safetensors"))
    with pytest.raises(TransferError, match="no adapter weights"):
        upload_adapter(tmp_path, urls)


def test_missing_object_is_refused_with_s3s_reason(storage: S3Storage, tmp_path: Path):
    url = storage.signed_url("lora-datasets", "erin/gone/x.jsonl")
    with pytest.raises(TransferError, match=r"refused: HTTP 404: NoSuchKey"):
        download(url, tmp_path / "x.jsonl")
    assert not (tmp_path / "x.jsonl").exists() and not list(tmp_path.iterdir())  # nothing half-written


def test_unknown_bucket_is_one_clear_storage_error(s3_env: S3Server, tmp_path: Path):
    storage = S3Storage("s3://no-such-bucket-here")
    with pytest.raises(
        StorageError, match=r"cannot upload sample-dataset.jsonl to s3://no-such-bucket-here/"
    ):
        storage.put("lora-datasets", "erin/d/sample-dataset.jsonl", SAMPLE)


def test_workspace_on_s3_signs_dataset_urls_for_the_scheduler(storage: S3Storage, tmp_path: Path):
    settings = load_settings(
        {"home": str(tmp_path / "home"), "user": "erin", "storage_url": f"s3://{BUCKET}/team-a"}, environ={}
    )
    ws = Workspace.open(settings)
    try:
        dataset = add_dataset(ws, file=SAMPLE, name="sample")
        from core.jobs.service import create_job

        job = create_job(ws, dataset_id=dataset.id, gpu_type="cpu")
        request = submit_request(ws, job, dataset.storage_bucket, dataset.storage_path)
        fetched = download(request.dataset_url, tmp_path / "got.jsonl")
        assert fetched.read_bytes() == SAMPLE.read_bytes()
    finally:
        ws.close()


class _ExpiredUrlAnswer(BaseHTTPRequestHandler):
    """What S3 answers a presigned URL past its expiry (moto does not check expiry)."""

    def do_GET(self) -> None:
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
            b"<Message>Request has expired</Message><X-Amz-Expires>1</X-Amz-Expires></Error>"
        )
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_expired_url_is_refused_with_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ExpiredUrlAnswer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        url = S3Storage(f"s3://{BUCKET}").signed_url(None, "erin/d/x.jsonl", expires_in=1)
        time.sleep(1.5)  # a presigned URL's expiry is wall-clock time: let it pass
        with pytest.raises(TransferError) as refused:
            download(url, tmp_path / "x.jsonl")
    finally:
        server.shutdown()
    message = str(refused.value)
    assert message.startswith("the dataset URL was refused: HTTP 403: AccessDenied: Request has expired")
    assert "the URL expired at" in message and "submit the job again" in message
    assert "\n" not in message


def test_upload_to_an_unreachable_url_says_where(tmp_path: Path):
    source = tmp_path / "adapter_model.safetensors"
    source.write_bytes(b"x")
    from tests.ray_head import free_port

    with pytest.raises(TransferError, match=r"cannot upload adapter_model.safetensors to 127.0.0.1:\d+"):
        upload(source, f"http://127.0.0.1:{free_port()}/b/k?X-Amz-Signature=x")
