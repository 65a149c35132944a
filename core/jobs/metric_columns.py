"""A job's metric points as numpy columns, straight from the driver: no object per point.

The monitor draws a million points; building a record (or an ORM object) for each costs seconds
and a gigabyte. A finished run's points, and the finished windows of a running one, are kept as
compressed column chunks (core.db.metric_chunks), decompressed straight into the columns; the live
tail still in rows is read beside them: PostgreSQL sends those rows as binary `COPY` whose
fixed-width records numpy reads in place, and SQLite's rows are read in chunks into preallocated
columns. Missing values (NULL) are NaN.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import metric_chunks
from core.db.models import MetricChunkRow, MetricPointRow
from core.records import METRIC_FIELDS, Job, MetricPoint

COLUMNS = ("step", "epoch", *METRIC_FIELDS)
# Also readable on request: when the point was recorded, as Unix seconds (the compare view's time axis).
RECORDED_AT = "recorded_at"
_SQL = {
    "sqlite": {RECORDED_AT: "(julianday(recorded_at) - 2440587.5) * 86400.0"},
    "postgresql": {RECORDED_AT: "extract(epoch from recorded_at)"},
}
_WIDE = ("step", RECORDED_AT)  # float64 always; the values of chunked points are float32
_CHUNK = 8192  # rows per fetch: each chunk's conversion holds the GIL, so keep it short
# Binary COPY: an 11-byte signature, 4 bytes of flags, 4 of header extension; a 2-byte trailer.
_COPY_HEADER = 19
_PARSE_BYTES = 1 << 20


@functools.cache
def _copy_row(names: tuple[str, ...]) -> np.dtype:
    return np.dtype([("count", ">i2"), *((f"{n}", [("len", ">i4"), ("value", ">f8")]) for n in names)])


@dataclass(frozen=True)
class MetricColumns:
    """Columns `step`, `epoch` and each of METRIC_FIELDS (or those a reader asked for), ascending
    by step: `step` (and `recorded_at`) float64; the others float64, or float32 where the points
    come from chunks (half the memory of a ten-million-point run)."""

    columns: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        step = self.columns.get("step")
        return 0 if step is None else len(step)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    @property
    def last_step(self) -> int | None:
        return int(self.columns["step"][-1]) if len(self) else None

    @classmethod
    def empty(cls) -> MetricColumns:
        return cls({name: np.empty(0) for name in COLUMNS})

    @classmethod
    def from_points(cls, points: Sequence[MetricPoint]) -> MetricColumns:
        """Columns of a few records (events carry records; the database sends columns)."""
        return cls(
            {name: np.array([_number(getattr(p, name)) for p in points], dtype=float) for name in COLUMNS}
        )


@dataclass(frozen=True)
class JobMetrics:
    """A job with its points as columns: what the monitor draws. `complete` is False for a
    thinned first look at a long series."""

    job: Job
    columns: MetricColumns
    complete: bool = True


def count_rows(session: Session, job_id: str, *, after_step: int | None = None) -> int:
    """How many of the job's points are in rows (the live tail, and runs not moved to chunks)."""
    query = select(func.count()).where(MetricPointRow.job_id == job_id)
    if after_step is not None:
        query = query.where(MetricPointRow.step > after_step)
    return int(session.scalar(query) or 0)


def read_metric_columns(
    session: Session,
    job_id: str,
    *,
    after_step: int | None = None,
    every: int = 1,
    names: Sequence[str] = COLUMNS,
) -> MetricColumns:
    """The job's points with step > after_step (all when None); with `every` > 1, only the
    steps that are multiples of it (a thinned first look at a long series). `names` picks the
    columns (any of COLUMNS and RECORDED_AT): a reader that needs three reads three."""
    unknown = set(names) - {*COLUMNS, RECORDED_AT}
    if unknown or "step" not in names:
        raise ValueError(f"metric columns must include step and be among {(*COLUMNS, RECORDED_AT)}")
    conn = session.connection()
    # The rows first, then the chunks: points moved into a chunk between the two reads are read
    # twice (and dropped once by step), never missed (core.db.metric_chunks).
    if conn.dialect.name == "postgresql":
        tail = _read_postgres(conn, job_id, after_step, every, tuple(names))
    else:
        tail = _read_sqlite(conn, job_id, after_step, every, tuple(names))
    return _with_chunks(session, job_id, after_step, every, tuple(names), tail)


def _with_chunks(
    session: Session,
    job_id: str,
    after_step: int | None,
    every: int,
    names: tuple[str, ...],
    tail: MetricColumns,
) -> MetricColumns:
    """The job's chunked points decompressed into columns, the rows read before them after."""
    query = select(
        MetricChunkRow.first_step, MetricChunkRow.last_step, MetricChunkRow.points, MetricChunkRow.data
    ).where(MetricChunkRow.job_id == job_id)
    if after_step is not None:
        query = query.where(MetricChunkRow.last_step > after_step)
    chunks = session.execute(query.order_by(MetricChunkRow.first_step)).all()
    if not chunks:
        return tail
    room = sum(chunk.points for chunk in chunks) + len(tail)
    columns = {name: np.empty(room, dtype=np.float64 if name in _WIDE else np.float32) for name in names}
    size = 0
    for chunk in chunks:
        points = metric_chunks.decode(chunk.first_step, chunk.points, chunk.data)
        pick = None
        if after_step is not None and chunk.first_step <= after_step:
            pick = points.step > after_step
        if every > 1:
            pick = (points.step % every == 0) & (True if pick is None else pick)
        count = len(points) if pick is None else int(np.count_nonzero(pick))
        for name in names:
            if name == "step":
                values: np.ndarray = points.step
            elif name == RECORDED_AT:
                values = points.recorded_at / 1e6
            else:
                values = points.values[name]
            columns[name][size : size + count] = values if pick is None else values[pick]
        size += count
    for name in names:
        columns[name][size : size + len(tail)] = tail[name]
    size += len(tail)
    merged = {name: values[:size] for name, values in columns.items()}
    steps = merged["step"]
    if size > 1 and np.any(steps[1:] <= steps[:-1]):  # a point read twice across a move
        order = np.argsort(steps, kind="stable")
        first = np.r_[True, steps[order][1:] != steps[order][:-1]]
        merged = {name: values[order[first]] for name, values in merged.items()}
    return MetricColumns(merged)


def _field(dialect: str, name: str) -> str:
    return _SQL[dialect].get(name, name)


def _number(value: float | int | None) -> float:
    return math.nan if value is None else float(value)


def _where(after_step: int | None, mark: str) -> str:
    return f"job_id = {mark}" + ("" if after_step is None else f" AND step > {mark}")


def _read_sqlite(
    conn: Any, job_id: str, after_step: int | None, every: int, names: tuple[str, ...]
) -> MetricColumns:
    params: tuple[Any, ...] = (job_id,) if after_step is None else (job_id, after_step)
    where = _where(after_step, "?")
    cursor = conn.connection.driver_connection.cursor()
    try:
        total = cursor.execute(f"SELECT count(*) FROM metrics_points WHERE {where}", params).fetchone()[0]
        columns = _Filler(-(-total // every), names)
        cursor.execute(_select(", ".join(_field("sqlite", n) for n in names), where, every), params)
        while rows := cursor.fetchmany(_CHUNK):
            columns.add(np.array(rows, dtype=float))  # None → NaN; a chunk at a time keeps tuples few
    finally:
        cursor.close()
    return columns.done()


def _read_postgres(
    conn: Any, job_id: str, after_step: int | None, every: int, names: tuple[str, ...]
) -> MetricColumns:
    from psycopg import sql

    # Every field as a non-NULL float8, so each COPY record has the same width and numpy reads the
    # answer as records, block by block, into the columns.
    fields = ", ".join(f"coalesce(({_field('postgresql', name)})::float8, 'NaN')" for name in names)
    where = "job_id = {}" + ("" if after_step is None else " AND step > {}")
    values = [sql.Literal(job_id)] + ([] if after_step is None else [sql.Literal(int(after_step))])
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor:
        count = sql.SQL(f"SELECT count(*) FROM metrics_points WHERE {where}").format(*values)
        total = cursor.execute(count).fetchone()[0]
        columns = _Filler(-(-total // every), names)
        query = sql.SQL(f"COPY ({_select(fields, where, every)}) TO STDOUT (FORMAT BINARY)").format(*values)
        buffer, header = bytearray(), _COPY_HEADER
        with cursor.copy(query) as copy:
            for block in copy:  # blocks may be as small as one row: parse a megabyte at a time
                buffer += block
                if len(buffer) >= _PARSE_BYTES:
                    buffer, header = _parse_copy(buffer, columns, skip=header), 0
        _parse_copy(buffer, columns, skip=header)
    return columns.done()


def _parse_copy(buffer: bytearray, columns: _Filler, *, skip: int) -> bytearray:
    """Read the whole records in `buffer` into the columns; returns the bytes left over."""
    body = memoryview(buffer)[skip:]
    row = _copy_row(columns.names)
    count = len(body) // row.itemsize
    if count:
        records = np.frombuffer(body, dtype=row, count=count)
        columns.add(np.column_stack([records[name]["value"] for name in columns.names]))
    rest = bytearray(body[count * row.itemsize :])
    body.release()
    return rest


def _select(fields: str, where: str, every: int) -> str:
    thin = "" if every <= 1 else f" AND step % {int(every)} = 0"
    # by step number: the (job_id, step) index answers it without reading the skipped rows
    return f"SELECT {fields} FROM metrics_points WHERE {where}{thin} ORDER BY step"


class _Filler:
    """Preallocated columns filled chunk by chunk: the answer never exists twice in memory."""

    def __init__(self, capacity: int, names: tuple[str, ...]) -> None:
        self.names = names
        self.columns = {name: np.empty(capacity) for name in names}
        self.size = 0

    def add(self, chunk: np.ndarray) -> None:
        end = self.size + len(chunk)
        if end > len(self.columns["step"]):  # rows committed since the count was taken
            self.columns = {
                name: np.resize(values, max(end, 2 * len(values))) for name, values in self.columns.items()
            }
        for n, name in enumerate(self.names):
            self.columns[name][self.size : end] = chunk[:, n]
        self.size = end

    def done(self) -> MetricColumns:
        return MetricColumns({name: values[: self.size] for name, values in self.columns.items()})
