"""Local storage: the two buckets as folders under `$LORADESK_HOME/storage/` (or a folder the settings name).

Its signed URLs are `file://` URLs carrying an expiry and an HMAC signature, so the trainer (another
process) can check a URL before reading it, the way an object store checks its own signed URLs.
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
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from core.storage.buckets import SIGNED_URL_TTL, StorageError, check_bucket, check_object_path

if TYPE_CHECKING:
    from core.config import Settings


def local_storage_root(settings: Settings) -> Path:
    """The folder of local storage; meaningless when the storage is S3."""
    if settings.storage_url and not settings.storage_url.startswith("s3://"):
        return Path(settings.storage_url).expanduser()
    return settings.home / "storage"


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
