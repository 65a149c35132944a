"""Dataset storage: the seed's two buckets behind a small interface, and a local backend.

`open_storage` picks the storage of the settings: local folders (the default), or S3-compatible
object storage (`core.s3_storage`) when `LORADESK_STORAGE_URL` is `s3://…`.

The local backend keeps `<bucket>/<path>` under `$LORADESK_HOME/storage/`. Its signed URLs are
`file://` URLs carrying an expiry and an HMAC signature, so the trainer (another process) can check
a URL before reading it, the way an object store checks its own signed URLs.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from core.errors import LoradeskError
from core.records import BUCKETS, DEFAULT_BUCKET

if TYPE_CHECKING:
    from core.config import Settings

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


def open_storage(settings: Settings) -> Storage:
    """The storage `settings.storage_url` names: S3, a folder, or `home`/storage by default."""
    if settings.storage_url.startswith("s3://"):
        from core.s3_storage import S3Storage

        return S3Storage(settings.storage_url)
    return LocalStorage(local_storage_root(settings))


def local_storage_root(settings: Settings) -> Path:
    """The folder of local storage; meaningless when the storage is S3."""
    if settings.storage_url and not settings.storage_url.startswith("s3://"):
        return Path(settings.storage_url).expanduser()
    return settings.home / "storage"


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


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._signing_key: bytes | None = None

    def object_file(self, bucket: str | None, path: str) -> Path:
        bucket_dir = (self.root / check_bucket(bucket)).resolve()
        target = (bucket_dir / check_object_path(path)).resolve()
        if not target.is_relative_to(bucket_dir):  # a symlink pointing out of the bucket
            raise StorageError(f"storage path {path!r} leaves its bucket")
        return target

    def put(self, bucket: str, path: str, source: Path) -> None:
        """Copy `source` in; a copy that fails (a full disk, say) leaves neither the partial file
        nor the folders made for it, and says why in one line."""
        target = self.object_file(bucket, path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # A short temporary name: "<name>.part" overflows NAME_MAX when the name has 255 bytes.
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".put-", suffix=".part")
            os.close(fd)
            tmp = Path(tmp_name)
            try:
                shutil.copyfile(source, tmp)
                tmp.replace(target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        except BaseException as exc:
            self.remove(bucket, path)  # the folders made for it, now empty
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageError(
                    f"no space left on the disk of {self.root}: {source.name} was not stored"
                ) from None
            if isinstance(exc, OSError):
                reason = exc.strerror or exc
                raise StorageError(f"could not store {source.name} in {self.root}: {reason}") from None
            raise

    def remove(self, bucket: str, path: str) -> None:
        """Delete a stored file and the folders it leaves empty; a missing file is fine."""
        target = self.object_file(bucket, path)
        target.unlink(missing_ok=True)
        bucket_dir = (self.root / check_bucket(bucket)).resolve()
        for folder in target.parents:
            if folder == bucket_dir or not folder.is_relative_to(bucket_dir):
                break
            try:
                folder.rmdir()
            except OSError:  # not empty: another dataset's files live there
                break

    def signed_url(self, bucket: str | None, path: str, expires_in: int = SIGNED_URL_TTL) -> str:
        target = self.object_file(bucket, path)
        if not target.is_file():
            raise StorageError(f"dataset file {check_bucket(bucket)}/{path} is missing from storage")
        expires = int(time.time()) + expires_in
        query = urlencode({"expires": expires, "signature": self._sign(target, expires)})
        return f"{target.as_uri()}?{query}"

    def head(self, bucket: str | None, path: str, max_bytes: int) -> tuple[int, bytes]:
        target = self.object_file(bucket, path)
        try:
            with target.open("rb") as handle:
                return target.stat().st_size, handle.read(max_bytes)
        except FileNotFoundError:
            raise StorageError(
                f"dataset file {check_bucket(bucket)}/{path} is missing from storage"
            ) from None

    def open_signed_url(self, url: str) -> Path:
        """The file a signed URL names, after checking its signature and expiry."""
        return verify_signed_url(url, self._key())

    def _sign(self, target: Path, expires: int) -> str:
        return _signature(self._key(), target, expires)

    def _key(self) -> bytes:
        """This storage's signing key, made on first use; readable by its owner only."""
        if self._signing_key is None:
            key_file = self.root / ".signing-key"
            if not key_file.exists():
                self.root.mkdir(parents=True, exist_ok=True)
                tmp = self.root / f".signing-key.{secrets.token_hex(4)}"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(secrets.token_hex(32))
                try:  # link is atomic: racing processes all end up reading the one winner's key
                    os.link(tmp, key_file)
                except FileExistsError:
                    pass
                finally:
                    tmp.unlink()
            self._signing_key = key_file.read_text().strip().encode()
        return self._signing_key


def verify_signed_url(url: str, key: bytes) -> Path:
    parts = urlsplit(url)
    if parts.scheme != "file":
        raise StorageError(f"not a local storage URL: {url}")
    query = parse_qs(parts.query)
    try:
        expires = int(query["expires"][0])
        signature = query["signature"][0]
    except (KeyError, ValueError, IndexError):
        raise StorageError("the dataset URL is not signed") from None
    target = Path(unquote(parts.path))
    if not hmac.compare_digest(signature, _signature(key, target, expires)):
        raise StorageError("the dataset URL's signature does not match")
    if expires < time.time():
        raise StorageError("the dataset URL has expired")
    return target


def file_url_path(url: str) -> Path:
    """The local path of a `file://` URL, ignoring its query (for readers that trust the URL)."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        raise StorageError(f"not a file URL: {url}")
    return Path(unquote(parts.path))


def _signature(key: bytes, target: Path, expires: int) -> str:
    message = f"{quote(str(target))}\n{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
