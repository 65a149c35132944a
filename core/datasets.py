"""Datasets: validate a JSON Lines file of training examples, store it in a bucket, record it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from core.dataset_format import read_examples
from core.db.convert import to_dataset
from core.db.models import DatasetRow, new_id, utcnow
from core.errors import InvalidRequestError, NotFoundError
from core.events import DatasetAdded
from core.names import check_name, fit_name
from core.records import Dataset
from core.storage import StorageError, check_bucket
from core.workspace import Workspace


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
    """The user's dataset whose id, or else whose name, is `ref`; never a guess among several."""
    query = select(DatasetRow).where(
        DatasetRow.user_id == ws.user, or_(DatasetRow.id == ref, DatasetRow.name == ref)
    )
    with ws.db.read() as session:
        rows = list(session.scalars(query.order_by(DatasetRow.created_at)))
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


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", part).strip("._") or "file"
