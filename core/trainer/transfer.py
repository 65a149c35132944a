"""Moving files over HTTP for a trainer on another machine: the dataset (and a parent's
checkpoint) in, the adapter (and checkpoints) out.

Both ends are presigned URLs made by the app (core.storage.s3), so the trainer holds no storage
credentials. Standard library only, like the rest of the trainer's plumbing.
"""

from __future__ import annotations

import re
import shutil
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from core.trainer.spec import TrainerError

_TIMEOUT = 60.0  # seconds without a byte before a transfer is given up
_MAX_DETAIL = 200


class TransferError(TrainerError):
    """A download or upload failed; the message says which URL's host and why, in one line."""


def download(url: str, target: Path, *, what: str = "the dataset") -> Path:
    """Fetch `url` (`what` it holds, for messages) into `target`, whole or not at all."""
    partial = target.with_name(f".{target.name}.part")
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as answer, partial.open("wb") as out:
            shutil.copyfileobj(answer, out, 1 << 20)
    except urllib.error.HTTPError as exc:
        partial.unlink(missing_ok=True)
        raise TransferError(f"{what} URL was refused: {_http_reason(exc)}{_expiry_note(url)}") from None
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise TransferError(f"cannot download {what} from {_host(url)}: {_os_reason(exc)}") from None
    partial.replace(target)
    return target


def upload(source: Path, url: str) -> None:
    """PUT the file to a presigned URL."""
    size = source.stat().st_size
    with source.open("rb") as body:
        request = urllib.request.Request(
            url,
            data=body,
            method="PUT",
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT) as answer:
                answer.read()
        except urllib.error.HTTPError as exc:
            raise TransferError(f"uploading {source.name} was refused: {_http_reason(exc)}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise TransferError(f"cannot upload {source.name} to {_host(url)}: {_os_reason(exc)}") from None


def upload_adapter(adapter_dir: Path, urls: dict[str, str]) -> list[str]:
    """Upload each adapter file that has a URL; the names uploaded. A folder without the
    adapter's weights is an error: the run would look finished with nothing to show for it."""
    uploaded = []
    for name, url in urls.items():
        source = adapter_dir / name
        if source.is_file():
            upload(source, url)
            uploaded.append(name)
    if not any(name.endswith(".safetensors") or name.endswith(".bin") for name in uploaded):
        raise TransferError(f"no adapter weights in {adapter_dir} to upload")
    return uploaded


def _http_reason(exc: urllib.error.HTTPError) -> str:
    """HTTP 403 with S3's own words (`Request has expired`, `AccessDenied`, `NoSuchKey`)."""
    try:
        body = exc.read(4096).decode("utf-8", "replace")
    except OSError:
        body = ""
    code = _xml_field(body, "Code")
    message = _xml_field(body, "Message")
    detail = ": ".join(part for part in (code, message) if part) or " ".join(body.split())
    detail = detail[:_MAX_DETAIL]
    return f"HTTP {exc.code}{': ' + detail if detail else ''}"


def _expiry_note(url: str) -> str:
    """When a presigned URL's own expiry has passed, say so: it is the usual reason for a 403."""
    query = parse_qs(urlsplit(url).query)
    try:
        signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = signed + timedelta(seconds=int(query["X-Amz-Expires"][0]))
    except (KeyError, IndexError, ValueError):
        return ""
    if expires > datetime.now(UTC):
        return ""
    return f"; the URL expired at {expires:%Y-%m-%d %H:%M:%S} UTC (submit the job again for a fresh one)"


def _xml_field(body: str, name: str) -> str:
    found = re.search(rf"<{name}>(.*?)</{name}>", body, re.S)
    return " ".join(found.group(1).split()) if found else ""


def _os_reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return " ".join(str(reason).split()) or type(exc).__name__


def _host(url: str) -> str:
    return urlsplit(url).netloc or url
