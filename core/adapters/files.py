"""A job's adapter as a folder on this machine: where it is, fetched from S3 storage first when
a cluster put it there (Ray jobs), and which base model it belongs to.

A fetched adapter is kept under `$LORADESK_HOME/adapters/<job id>/` with the listing it came from,
so trying or exporting it again downloads nothing unless the stored files changed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from core.config import Settings
from core.errors import InvalidRequestError, LoradeskError
from core.formats.hyperparameters import TINY_MODEL
from core.records import Job

ADAPTERS_FOLDER = "adapters"
LISTING_FILE = ".listing.json"
# (bytes done, bytes in all, what is happening): the caller shows it as a bar or a line.
Progress = Callable[[int, int, str], None]


def no_progress(done: int, total: int, stage: str) -> None:
    pass


def adapter_problem(job: Job) -> str | None:
    """Why this job's adapter cannot be tried or exported, in words; None when it can."""
    if not job.artifact_url:
        return (
            "this job has no adapter yet: it appears when the run ends, or is cancelled after training began"
        )
    scheme = urlsplit(job.artifact_url).scheme
    if scheme not in ("file", "s3"):
        where = job.artifact_url
        return f"the adapter is at {where}, which Loradesk cannot fetch (a local folder or s3:// only)"
    return None


def base_model_of(job: Job) -> str:
    """The base model the adapter was trained on, as the trainer understood the job's settings."""
    value = job.hyperparameters.get("base_model")
    return value.strip() if isinstance(value, str) and value.strip() else TINY_MODEL


def local_adapter(settings: Settings, job: Job, progress: Progress = no_progress) -> Path:
    """The adapter's folder on this machine, downloaded first when it is on S3."""
    problem = adapter_problem(job)
    if problem:
        raise InvalidRequestError(problem)
    assert job.artifact_url is not None
    parts = urlsplit(job.artifact_url)
    if parts.scheme == "file":
        folder = Path(url2pathname(unquote(parts.path)))
        if not (folder / "adapter_config.json").is_file():
            raise LoradeskError(f"the adapter folder {folder} is gone or incomplete")
        return folder
    return _download(settings.home / ADAPTERS_FOLDER / job.id, job.artifact_url, progress)


def _download(target: Path, url: str, progress: Progress) -> Path:
    from core.storage.s3 import S3Storage  # boto3: only when an adapter is on S3

    parts = urlsplit(url)
    storage = S3Storage(f"s3://{parts.netloc}")
    prefix = parts.path.lstrip("/")
    prefix = prefix if prefix.endswith("/") else prefix + "/"
    objects = {item.key[len(prefix) :]: item for item in storage.list_objects(prefix)}
    objects = {name: item for name, item in objects.items() if name and "/" not in name}
    if "adapter_config.json" not in objects:
        raise LoradeskError(f"no adapter at {url}: its files are missing from storage")
    listing = {name: item.etag for name, item in objects.items()}
    if _listing(target) == listing:
        return target  # fetched before, and nothing changed since
    total = sum(item.size for item in objects.values())
    partial = target.with_name(f".{target.name}.part")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    done = 0
    progress(0, total, "downloading the adapter")
    try:
        for name, item in sorted(objects.items()):
            with (partial / name).open("wb") as out:
                for chunk in storage.read_chunks(item.key):
                    out.write(chunk)
                    done += len(chunk)
                    progress(done, total, f"downloading {name}")
        (partial / LISTING_FILE).write_text(json.dumps(listing), encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        partial.replace(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


def _listing(folder: Path) -> dict[str, str] | None:
    try:
        listing = json.loads((folder / LISTING_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return listing if isinstance(listing, dict) else None
