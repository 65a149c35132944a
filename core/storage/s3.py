"""The two buckets on S3-compatible object storage (`LORADESK_STORAGE_URL=s3://BUCKET[/PREFIX]`).

Loradesk's buckets become key prefixes in one S3 bucket: `PREFIX/lora-datasets/…`,
`PREFIX/training-files/…`, and the trained adapters under `PREFIX/adapters/<job id>/`. Cluster
nodes get presigned URLs (a GET for the dataset, PUTs for the adapter's files), so they need no
storage credentials of their own.

boto3 rather than obstore: it reads the standard AWS configuration SPEC §2 names (environment,
`~/.aws/config` and credentials, profiles, SSO, instance roles, `AWS_ENDPOINT_URL`) with no code
of ours, it is what every S3-compatible server (MinIO, R2, Ceph, moto) documents and tests
against, and presigning is a local computation in it. obstore is faster for bulk transfers, which
Loradesk does not do (one dataset upload per `datasets add`), and its credential chain covers the
environment but not profiles or SSO. boto3 is imported only when S3 storage is configured.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.storage.buckets import SIGNED_URL_TTL, StorageError, check_bucket, check_object_path

ADAPTERS = "adapters"
CHECKPOINTS = "checkpoints"
# A run's latest checkpoint: one archive, then a small record of its step (written second, so a
# step that can be read names an archive that was uploaded whole).
CHECKPOINT_ARCHIVE = "checkpoint.tar"
CHECKPOINT_RECORD = "checkpoint.json"
# Upload URLs must outlive the run they are made for; SigV4 allows 7 days at most.
UPLOAD_URL_TTL = 7 * 24 * 3600
S3_EXTRA_HINT = "S3 storage needs boto3: pip install 'loradesk[s3]'"
BUNDLE_S3_HINT = (
    "the installed app has no S3 support (boto3 is left out of the bundle); "
    "use Loradesk installed with pip install 'loradesk[s3]' for S3 storage"
)


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    etag: str  # changes when the object does


class S3Storage:
    """Storage on one S3 bucket under an optional prefix; safe to use from several threads."""

    def __init__(self, url: str, *, client: Any = None) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not url.startswith("s3://") or not bucket:
            raise StorageError(f"storage URL {url!r} is not s3://BUCKET[/PREFIX]")
        self.url = url
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client = client
        self._lock = threading.Lock()

    # -- the Storage interface ------------------------------------------------------------------

    def put(self, bucket: str, path: str, source: Path) -> None:
        key = self._key(bucket, path)
        self._call(
            f"upload {source.name} to {self._where(key)}", "upload_file", str(source), self.bucket, key
        )

    def remove(self, bucket: str, path: str) -> None:
        key = self._key(bucket, path)
        self._call(f"delete {self._where(key)}", "delete_object", Bucket=self.bucket, Key=key)

    def signed_url(self, bucket: str | None, path: str, expires_in: int = SIGNED_URL_TTL) -> str:
        """A presigned GET. Signing is local, so a missing object shows when the trainer reads it."""
        return self._presign("get_object", self._key(check_bucket(bucket), path), expires_in)

    def head(self, bucket: str | None, path: str, max_bytes: int) -> tuple[int, bytes]:
        key = self._key(check_bucket(bucket), path)
        answer = self._call(
            f"read {self._where(key)}",
            "get_object",
            Bucket=self.bucket,
            Key=key,
            Range=f"bytes=0-{max_bytes - 1}",
        )
        total = str(answer.get("ContentRange", "")).rpartition("/")[2]
        size = int(total) if total.isdigit() else int(answer.get("ContentLength", 0))
        return size, bytes(answer["Body"].read())

    # -- adapters -------------------------------------------------------------------------------

    def adapter_url(self, job_id: str) -> str:
        """Where a job's adapter is uploaded: the job's `artifact_url`."""
        return f"s3://{self.bucket}/{self._adapter_key(job_id, '')}"

    def adapter_upload_urls(
        self, job_id: str, file_names: tuple[str, ...], expires_in: int = UPLOAD_URL_TTL
    ) -> dict[str, str]:
        """A presigned PUT for each of the adapter's files."""
        return {
            name: self._presign("put_object", self._adapter_key(job_id, name), expires_in)
            for name in file_names
        }

    # -- checkpoints ----------------------------------------------------------------------------

    def checkpoint_upload_urls(self, job_id: str, expires_in: int = UPLOAD_URL_TTL) -> dict[str, str]:
        """Presigned PUTs for a run's latest checkpoint: `archive` and its `step` record."""
        return {
            "archive": self._presign(
                "put_object", self._checkpoint_key(job_id, CHECKPOINT_ARCHIVE), expires_in
            ),
            "step": self._presign("put_object", self._checkpoint_key(job_id, CHECKPOINT_RECORD), expires_in),
        }

    def checkpoint_download_url(self, job_id: str, expires_in: int = SIGNED_URL_TTL) -> str:
        """A presigned GET of a run's checkpoint archive, for the job that continues it."""
        return self._presign("get_object", self._checkpoint_key(job_id, CHECKPOINT_ARCHIVE), expires_in)

    def checkpoint_step(self, job_id: str) -> int | None:
        """The step of the checkpoint a run uploaded last; None when it uploaded none."""
        key = self._checkpoint_key(job_id, CHECKPOINT_RECORD)
        if key not in self.list_keys(key):
            return None
        try:
            step = json.loads(self.read_object(key)).get("step")
        except (ValueError, AttributeError):
            return None
        return step if isinstance(step, int) and not isinstance(step, bool) else None

    def read_object(self, key: str) -> bytes:
        """The bytes at `key` in this bucket (tests and the adapter's download)."""
        answer = self._call(f"read {self._where(key)}", "get_object", Bucket=self.bucket, Key=key)
        return bytes(answer["Body"].read())

    def list_keys(self, under: str) -> list[str]:
        return [item.key for item in self.list_objects(under)]

    def list_objects(self, under: str) -> list[StoredObject]:
        """Each object under a key prefix (an adapter: a handful)."""
        answer = self._call(f"list {self._where(under)}", "list_objects_v2", Bucket=self.bucket, Prefix=under)
        return [
            StoredObject(str(item["Key"]), int(item.get("Size", 0)), str(item.get("ETag", "")))
            for item in answer.get("Contents", [])
        ]

    def read_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The object at `key` a chunk at a time, so a download can show its progress."""
        answer = self._call(f"read {self._where(key)}", "get_object", Bucket=self.bucket, Key=key)
        body = answer["Body"]
        try:
            while chunk := body.read(chunk_size):
                yield chunk
        except Exception as exc:  # botocore's stream errors: one line for the user
            raise StorageError(f"cannot read {self._where(key)}: {_reason(exc)}") from None
        finally:
            body.close()

    # -- inside ---------------------------------------------------------------------------------

    def _key(self, bucket: str, path: str) -> str:
        check_object_path(path)
        return "/".join(filter(None, [self.prefix, check_bucket(bucket), path]))

    def _adapter_key(self, job_id: str, name: str) -> str:
        check_object_path(job_id)
        return "/".join(filter(None, [self.prefix, ADAPTERS, job_id])) + "/" + name

    def _checkpoint_key(self, job_id: str, name: str) -> str:
        check_object_path(job_id)
        return "/".join(filter(None, [self.prefix, CHECKPOINTS, job_id, name]))

    def _where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _presign(self, method: str, key: str, expires_in: int) -> str:
        params = {"Bucket": self.bucket, "Key": key}
        url: str = self._call(
            f"sign a URL for {self._where(key)}",
            "generate_presigned_url",
            method,
            Params=params,
            ExpiresIn=expires_in,
        )
        return url

    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    import boto3
                    from botocore.config import Config
                except ModuleNotFoundError:
                    frozen = getattr(sys, "frozen", False)
                    raise StorageError(BUNDLE_S3_HINT if frozen else S3_EXTRA_HINT) from None
                # Path-style addressing works on AWS and on every S3-compatible server (MinIO, moto,
                # an IP address as endpoint), which virtual-host style does not.
                config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
                self._client = boto3.session.Session().client("s3", config=config)
            return self._client

    def _call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._s3(), method)(*args, **kwargs)
        except StorageError:
            raise
        except Exception as exc:  # botocore's and boto3's many classes: one line for the user
            raise StorageError(f"cannot {what}: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        code, message = error.get("Code"), error.get("Message")
        if code or message:
            return ": ".join(str(part) for part in (code, message) if part)
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
