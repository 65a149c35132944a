"""Datasets: validate a JSON Lines file of training examples, store it in a bucket, record it."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from core.db import job_store
from core.db.convert import to_dataset
from core.db.models import DatasetRow, new_id, utcnow
from core.errors import InvalidRequestError, NotFoundError
from core.events import DatasetAdded
from core.formats.dataset_file import read_examples
from core.id_prefix import resolve_dataset_id
from core.names import check_name, fit_name
from core.records import Dataset, Job
from core.storage.buckets import StorageError, check_bucket
from core.workspace import Workspace

log = logging.getLogger(__name__)


def count_pairs(file: Path) -> int:
    """Validate a dataset file and return how many examples (pairs or conversations) it holds."""
    return sum(1 for _ in read_examples(file))


def add_dataset(ws: Workspace, *, file: Path, name: str | None = None, bucket: str | None = None) -> Dataset:
    """Validate `file`, copy it into its bucket and record it for the current user.

    The name (given, or the file's) must be new among the user's datasets: `--dataset NAME`
    and the dialogs pick datasets by name. Nothing is copied before every check has passed.
    """
    bucket = check_bucket(bucket)
    file = Path(file).expanduser()
    name = check_name(name, what="dataset") if name is not None else fit_name(file.stem, fallback="dataset")
    with ws.db.read() as session:
        _check_new_name(session, ws.user, name)
    total_pairs = count_pairs(file)
    dataset_id = new_id()
    storage_path = f"{storage_folder(ws.user, dataset_id)}/{_safe(file.name)}"
    ws.storage.put(bucket, storage_path, file)
    row = DatasetRow(
        id=dataset_id,
        user_id=ws.user,
        name=name,
        storage_bucket=bucket,
        storage_path=storage_path,
        training_ready=True,
        total_pairs=total_pairs,
        created_at=utcnow(),
    )
    try:
        with ws.db.write() as session:
            _lock_name(session, ws.user, name)
            _check_new_name(session, ws.user, name)  # again: another add may have won meanwhile
            session.add(row)
    except BaseException:
        ws.storage.remove(bucket, storage_path)
        raise
    dataset = to_dataset(row)
    ws.events.publish(DatasetAdded(dataset))
    return dataset


def _check_new_name(session: Session, user: str, name: str) -> None:
    existing = session.scalars(
        select(DatasetRow.id).where(DatasetRow.user_id == user, DatasetRow.name == name).limit(1)
    ).first()
    if existing is not None:
        raise InvalidRequestError(
            f"you already have a dataset named {name!r} ({existing}); choose another name"
        )


def _lock_name(session: Session, user: str, name: str) -> None:
    """Serialise adds of one name on PostgreSQL (SQLite's BEGIN IMMEDIATE already does)."""
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(f"dataset-name\0{user}\0{name}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def list_datasets(ws: Workspace) -> list[Dataset]:
    query = select(DatasetRow).where(DatasetRow.user_id == ws.user).order_by(DatasetRow.created_at)
    with ws.db.read() as session:
        return [to_dataset(row) for row in session.scalars(query)]


def find_dataset(ws: Workspace, *, ref: str) -> Dataset:
    """The user's dataset whose id (or unique id prefix), or else whose name, is `ref`; never a
    guess among several."""
    query = select(DatasetRow).where(
        DatasetRow.user_id == ws.user, or_(DatasetRow.id == ref, DatasetRow.name == ref)
    )
    with ws.db.read() as session:
        rows = list(session.scalars(query.order_by(DatasetRow.created_at)))
    if not rows and resolve_dataset_id(ws, ref) != ref:
        return find_dataset(ws, ref=resolve_dataset_id(ws, ref))
    by_id = [row for row in rows if row.id == ref]
    if by_id:
        return to_dataset(by_id[0])
    if not rows:
        raise NotFoundError(f"no dataset {ref!r} (see `loradesk datasets list`)")
    if len(rows) > 1:
        ids = ", ".join(row.id for row in rows)
        raise InvalidRequestError(f"{len(rows)} datasets are named {ref!r}; give one of their ids: {ids}")
    return to_dataset(rows[0])


def storage_folder(user: str, dataset_id: str) -> str:
    """Where a dataset's file lies: under its owner's prefix and its own id. Team mode's row
    policy checks the same (core.db.team_guards, `loradesk_dataset_path_ok`)."""
    return f"{_safe(user)}/{dataset_id}"


def check_dataset_path(user: str, dataset_id: str, path: str) -> None:
    """Refuse a stored path that is not a file in the dataset's own folder: a scheduler signs
    nothing that lies elsewhere, whatever a row says."""
    folder = storage_folder(user, dataset_id) + "/"
    name = path.removeprefix(folder)
    if "/" in dataset_id or not path.startswith(folder) or not name or name in (".", "..") or "/" in name:
        raise StorageError(
            f"the dataset's stored path {path!r} is not in its owner's folder {folder!r}; nothing was signed"
        )
    if "\\" in name:
        raise StorageError(f"the dataset's stored path {path!r} holds a backslash; nothing was signed")


PREVIEW_ROWS = 5
_PREVIEW_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class DatasetDetail:
    """A dataset with its file's size, its first rows and the jobs that used it."""

    dataset: Dataset
    size_bytes: int | None  # None: the file could not be read (`problem` says why)
    first_rows: list[dict[str, object]]
    jobs: list[Job]  # the jobs that used it, oldest first
    problem: str | None = None

    @property
    def size_text(self) -> str:
        """1.2 MB, 640 B; or why the file could not be read."""
        if self.size_bytes is None:
            return self.problem or "—"
        amount = float(self.size_bytes)
        for unit in ("B", "kB", "MB"):
            if amount < 1000:
                return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
            amount /= 1000
        return f"{amount:.1f} GB"

    def to_json(self) -> dict[str, object]:
        return {
            **self.dataset.to_json(),
            "size_bytes": self.size_bytes,
            "first_rows": self.first_rows,
            "jobs": [{"id": j.id, "name": j.name, "status": j.status.value} for j in self.jobs],
        }


def dataset_detail(ws: Workspace, *, ref: str) -> DatasetDetail:
    """The user's dataset (by id, id prefix or name) with its size, first rows and jobs."""
    dataset = find_dataset(ws, ref=ref)
    with ws.db.read() as session:
        jobs = job_store.jobs_using_dataset(session, dataset.id, user_id=ws.user)
    try:
        size, head = ws.storage.head(dataset.bucket, dataset.storage_path, _PREVIEW_BYTES)
    except StorageError as exc:
        return DatasetDetail(dataset, None, [], jobs, problem=str(exc))
    rows = []
    for line in head.splitlines()[:PREVIEW_ROWS]:
        try:
            row = json.loads(line)
        except ValueError:
            break  # the last line cut short by the preview's size
        if isinstance(row, dict):
            rows.append(row)
    return DatasetDetail(dataset, size, rows, jobs)


def delete_dataset(ws: Workspace, *, ref: str) -> Dataset:
    """Delete one of the user's datasets and its file; refused while any job uses it (a job
    keeps its dataset for retry, clone and its summary), naming those jobs."""
    dataset = find_dataset(ws, ref=ref)
    with ws.db.write() as session:
        locked = select(DatasetRow).where(DatasetRow.id == dataset.id, DatasetRow.user_id == ws.user)
        if session.get_bind().dialect.name == "postgresql":
            locked = locked.with_for_update()
        row = session.scalars(locked).first()
        if row is None:
            raise NotFoundError(f"no dataset {ref!r} (see `loradesk datasets list`)")
        jobs = job_store.jobs_using_dataset(session, dataset.id, user_id=ws.user)
        if jobs:
            named = ", ".join(f"{j.id[:8]} {j.name!r} ({j.status.value})" for j in jobs[:3])
            more = f" and {len(jobs) - 3} more" if len(jobs) > 3 else ""
            raise InvalidRequestError(
                f"dataset {dataset.name!r} is used by {len(jobs)} job{'s' if len(jobs) != 1 else ''} "
                f"({named}{more}); delete those jobs first"
            )
        session.delete(row)
    try:
        ws.storage.remove(dataset.bucket, dataset.storage_path)
    except StorageError as exc:  # the record is gone; a file left behind is only space
        log.warning("dataset %s deleted; its file stays: %s", dataset.id, exc)
    return dataset


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", part).strip("._") or "file"
