"""Datasets: validate a JSON Lines file of training pairs, store it in a bucket, record it."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import or_, select

from core.dataset_format import read_pairs
from core.db.convert import to_dataset
from core.db.models import DatasetRow, new_id, utcnow
from core.errors import NotFoundError
from core.events import DatasetAdded
from core.records import Dataset
from core.storage import check_bucket
from core.workspace import Workspace


def count_pairs(file: Path) -> int:
    """Validate a dataset file and return how many training pairs it holds."""
    return sum(1 for _ in read_pairs(file))


def add_dataset(ws: Workspace, *, file: Path, name: str | None = None, bucket: str | None = None) -> Dataset:
    """Validate `file`, copy it into its bucket and record it for the current user."""
    bucket = check_bucket(bucket)
    file = Path(file).expanduser()
    total_pairs = count_pairs(file)
    dataset_id = new_id()
    storage_path = f"{_safe(ws.user)}/{dataset_id}/{_safe(file.name)}"
    ws.storage.put(bucket, storage_path, file)
    row = DatasetRow(
        id=dataset_id,
        user_id=ws.user,
        name=name or file.stem,
        storage_bucket=bucket,
        storage_path=storage_path,
        training_ready=True,
        total_pairs=total_pairs,
        created_at=utcnow(),
    )
    with ws.db.write() as session:
        session.add(row)
    dataset = to_dataset(row)
    ws.events.publish(DatasetAdded(dataset))
    return dataset


def list_datasets(ws: Workspace) -> list[Dataset]:
    query = select(DatasetRow).where(DatasetRow.user_id == ws.user).order_by(DatasetRow.created_at)
    with ws.db.read() as session:
        return [to_dataset(row) for row in session.scalars(query)]


def find_dataset(ws: Workspace, *, ref: str) -> Dataset:
    """The user's dataset whose id or (most recent) name is `ref`."""
    query = (
        select(DatasetRow)
        .where(DatasetRow.user_id == ws.user, or_(DatasetRow.id == ref, DatasetRow.name == ref))
        .order_by((DatasetRow.id == ref).desc(), DatasetRow.created_at.desc())
        .limit(1)
    )
    with ws.db.read() as session:
        row = session.scalars(query).first()
    if row is None:
        raise NotFoundError(f"no dataset {ref!r} (see `loradesk datasets list`)")
    return to_dataset(row)


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", part).strip("._") or "file"
