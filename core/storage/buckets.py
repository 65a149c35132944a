"""Storage's shared terms: the two buckets' interface, its error, and the path checks every backend makes."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Protocol

from core.errors import LoradeskError
from core.records import BUCKETS, DEFAULT_BUCKET

SIGNED_URL_TTL = 24 * 3600


class StorageError(LoradeskError):
    """A file cannot be stored, found or signed; the message says which and why."""


class Storage(Protocol):
    def put(self, bucket: str, path: str, source: Path) -> None: ...

    def remove(self, bucket: str, path: str) -> None: ...

    def signed_url(self, bucket: str | None, path: str, expires_in: int = SIGNED_URL_TTL) -> str: ...

    def head(self, bucket: str | None, path: str, max_bytes: int) -> tuple[int, bytes]:
        """The stored file's size and its first `max_bytes` bytes (a dataset's preview)."""
        ...


def check_bucket(bucket: str | None) -> str:
    bucket = bucket or DEFAULT_BUCKET
    if bucket not in BUCKETS:
        raise StorageError(f"unknown bucket {bucket!r}; use one of {', '.join(BUCKETS)}")
    return bucket


def check_object_path(path: str) -> PurePosixPath:
    """Refuse paths that could escape their bucket."""
    pure = PurePosixPath(path)
    raw_parts = path.split("/")
    if not path or pure.is_absolute() or "\\" in path or any(p in ("..", ".", "") for p in raw_parts):
        raise StorageError(f"storage path {path!r} is not a plain relative path inside a bucket")
    return pure
