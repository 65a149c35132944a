"""Datasets: validate a JSON Lines file of training pairs, store it in a bucket, record it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import or_, select

from core.db.convert import to_dataset
from core.db.models import DatasetRow, new_id, utcnow
from core.errors import LoradeskError, NotFoundError
from core.events import DatasetAdded
from core.records import Dataset
from core.storage import check_bucket
from core.workspace import Workspace


class DatasetFormatError(LoradeskError):
    """The file is not JSON Lines of {"prompt", "completion"} pairs; the message names the line."""


def count_pairs(file: Path) -> int:
    """Validate a dataset file and return how many training pairs it holds."""
    if not file.is_file():
        raise DatasetFormatError(f"dataset file {file} does not exist")
    pairs = 0
    try:
        with file.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    _check_pair(line, number, file)
                    pairs += 1
    except UnicodeDecodeError as exc:
        raise DatasetFormatError(f"{file.name}: not UTF-8 text ({exc.reason})") from None
    if pairs == 0:
        raise DatasetFormatError(f"{file.name}: no training pairs (the file is empty)")
    return pairs


def _check_pair(line: str, number: int, file: Path) -> None:
    where = f"{file.name} line {number}"
    try:
        pair = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetFormatError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(pair, dict):
        raise DatasetFormatError(f'{where}: expected an object {{"prompt": …, "completion": …}}')
    for key in ("prompt", "completion"):
        if not isinstance(pair.get(key), str):
            raise DatasetFormatError(f'{where}: "{key}" must be a string')


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
