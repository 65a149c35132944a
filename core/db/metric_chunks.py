"""A job's finished metric points as compressed column chunks (table `metric_chunks`).

In `metrics_points` a point is a row, and the driver hands each of its values over as a Python
object: a million points take seconds to read, whatever is done with them after. Once a window
of CHUNK_STEPS steps is over (the run reported a later step) or the run has ended, the window's
points move into one `metric_chunks` row: its columns as float32 (steps and recording times as
integer differences), zlib-compressed into one blob. A job is then read with one query for its
chunks beside the live tail still in rows, each blob decompressed into numpy views.

The move is `DELETE … RETURNING` of the rows and an insert of the chunks they make, in one
transaction: a point is in one place or the other, and of two schedulers moving the same window
only the one whose delete took the rows writes them. A reader reads the rows before the chunks,
so a move committed between its two queries shows a point twice (dropped by step), never not at
all. A small finished run (under CHUNK_STEPS points, no chunk yet) stays in rows: reading it is
quick already.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.db.models import MetricChunkRow, MetricPointRow
from core.records import METRIC_FIELDS, MetricPoint

log = logging.getLogger(__name__)

CHUNK_STEPS = 10_000
VALUE_FIELDS = ("epoch", *METRIC_FIELDS)  # float32 in a chunk, NaN for NULL
_WINDOWS_A_MOVE = 10
# Statements a recording spends moving one job's points: a run recorded before migration 0012
# (a million rows) moves a hundred thousand points a recording, never all of them in one cycle's
# transaction; what a finished run's last move left stays in rows, where every reader finds it.
MOVES_A_RECORDING = 1
_RETURNED = (
    MetricPointRow.step,
    MetricPointRow.recorded_at,
    *(getattr(MetricPointRow, name) for name in VALUE_FIELDS),
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class ChunkPoints:
    """The decoded points of one chunk: `step` and `recorded_at` (microseconds since 1970) as
    int64, each of VALUE_FIELDS as float32."""

    step: np.ndarray
    recorded_at: np.ndarray
    values: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.step)


def encode(step: np.ndarray, recorded_at: np.ndarray, values: dict[str, np.ndarray]) -> bytes:
    """One chunk's blob: step differences (int32), recording-time differences (int64
    microseconds), then each of VALUE_FIELDS (float32), compressed."""
    step = np.asarray(step, dtype=np.int64)
    parts = [
        np.diff(step, prepend=step[0]).astype("<i4").tobytes(),
        np.diff(recorded_at, prepend=0).astype("<i8").tobytes(),
        *(np.asarray(values[name], dtype="<f4").tobytes() for name in VALUE_FIELDS),
    ]
    return zlib.compress(b"".join(parts))


def decode(first_step: int, count: int, blob: bytes) -> ChunkPoints:
    raw = zlib.decompress(blob)
    expected = count * (4 + 8 + 4 * len(VALUE_FIELDS))
    if count <= 0 or len(raw) != expected:
        raise ValueError(f"a metric chunk of {count} points holds {len(raw)} bytes, not {expected}")
    step = np.cumsum(np.frombuffer(raw, "<i4", count), dtype=np.int64) + first_step
    offset = count * 4
    recorded = np.cumsum(np.frombuffer(raw, "<i8", count, offset))
    offset += count * 8
    values = {}
    for name in VALUE_FIELDS:
        values[name] = np.frombuffer(raw, "<f4", count, offset)
        offset += count * 4
    return ChunkPoints(step, recorded, values)


# -- moving points into chunks -----------------------------------------------------------------


def pack_points(
    session: Session, job_id: str, *, below_step: int | None = None, moves: int | None = None
) -> int:
    """Move the job's points with step < below_step (all when None) from rows into chunks, one
    per window of CHUNK_STEPS steps, at most _WINDOWS_A_MOVE windows a statement (a run that
    was never moved holds them in memory once) and at most `moves` statements (None: until none
    is left); returns how many moved. A role that may not delete points (a team's scheduler
    role) moves none and leaves them where they are."""
    point = MetricPointRow
    mine = [point.job_id == job_id] + ([] if below_step is None else [point.step < below_step])
    moved, left = 0, moves
    try:
        while left != 0 and (lowest := session.scalar(select(func.min(point.step)).where(*mine))) is not None:
            left = None if left is None else left - 1
            upto = (lowest // CHUNK_STEPS + _WINDOWS_A_MOVE) * CHUNK_STEPS
            if below_step is not None:
                upto = min(upto, below_step)
            with session.begin_nested():
                taken = delete(point).where(*mine, point.step < upto)
                rows = session.execute(taken.returning(*_RETURNED)).all()
                _write_chunks(session, job_id, rows)
            moved += len(rows)
    except DBAPIError as exc:
        if "permission denied" not in str(exc.orig).lower():
            raise
        log.info("job %s: points stay in rows (this role may not move them)", job_id)
    return moved


def pack_finished(session: Session, job_id: str, *, moves: int | None = MOVES_A_RECORDING) -> int:
    """A run ended: its points move into chunks, unless it is small and has none yet."""
    chunk = select(MetricChunkRow.first_step).where(MetricChunkRow.job_id == job_id).limit(1)
    if session.scalar(chunk) is None:
        rows = select(MetricPointRow.step).where(MetricPointRow.job_id == job_id).limit(CHUNK_STEPS)
        if (session.scalar(select(func.count()).select_from(rows.subquery())) or 0) < CHUNK_STEPS:
            return 0
    return pack_points(session, job_id, moves=moves)


@dataclass(frozen=True)
class Recorded:
    """What one recording did to a job's points: the last step stored before and after it, and
    whether the job has ended."""

    job_id: str
    last_step_before: int | None
    last_step: int | None
    ended: bool


def pack_recorded(session: Session, recorded: Iterable[Recorded]) -> None:
    """After points were stored: an ended job's points move into chunks, and a running job's
    windows that a newer step closed."""
    for item in recorded:
        if item.ended:
            pack_finished(session, item.job_id)
        elif item.last_step is not None:
            window = item.last_step // CHUNK_STEPS
            before = -1 if item.last_step_before is None else item.last_step_before // CHUNK_STEPS
            if window > before and window > 0:
                pack_points(session, item.job_id, below_step=window * CHUNK_STEPS, moves=MOVES_A_RECORDING)


def _write_chunks(session: Session, job_id: str, rows: Sequence[tuple[object, ...]]) -> None:
    if not rows:
        return
    step = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    since_1970 = (row[1] - _EPOCH for row in rows)  # type: ignore[operator]
    recorded = np.fromiter((moment // _MICROSECOND for moment in since_1970), dtype=np.int64, count=len(rows))
    values = {
        name: np.array([row[2 + n] for row in rows], dtype=np.float64)  # None → NaN
        for n, name in enumerate(VALUE_FIELDS)
    }
    order = np.argsort(step, kind="stable")
    # A step a chunk holds already (a point stored twice across a move) is not written again.
    held = session.execute(
        select(MetricChunkRow.first_step, MetricChunkRow.last_step).where(MetricChunkRow.job_id == job_id)
    ).all()
    keep = np.ones(len(order), dtype=bool)
    for first, last in held:
        keep &= ~((step[order] >= first) & (step[order] <= last))
    order = order[keep]
    if not len(order):
        return
    step, recorded = step[order], recorded[order]
    values = {name: column[order] for name, column in values.items()}
    windows = step // CHUNK_STEPS
    bounds = np.flatnonzero(np.diff(windows)) + 1
    chunks = []
    for start, stop in zip(np.r_[0, bounds], np.r_[bounds, len(step)], strict=True):
        piece = slice(int(start), int(stop))
        chunks.append(
            {
                "job_id": job_id,
                "first_step": int(step[start]),
                "last_step": int(step[stop - 1]),
                "points": int(stop - start),
                "data": encode(step[piece], recorded[piece], {k: v[piece] for k, v in values.items()}),
            }
        )
    session.execute(insert(MetricChunkRow), chunks)


# -- reading chunks as records (`jobs show`) ----------------------------------------------------


def with_chunked_points(session: Session, job_id: str, rows: list[MetricPoint]) -> list[MetricPoint]:
    """The job's points as records: those in chunks, then `rows` (read before them), by step, a
    step once. A chunk's float32 value comes back as the shortest decimal that is that float32:
    0.1 stored reads 0.1, as it did from its row."""
    chunks = session.execute(
        select(MetricChunkRow.first_step, MetricChunkRow.points, MetricChunkRow.data)
        .where(MetricChunkRow.job_id == job_id)
        .order_by(MetricChunkRow.first_step)
    ).all()
    if not chunks:
        return rows
    points: dict[int, MetricPoint] = {}
    for first_step, count, data in chunks:
        chunk = decode(first_step, count, data)
        columns = [_floats(chunk.values[name]) for name in VALUE_FIELDS]
        for n, step in enumerate(chunk.step.tolist()):
            if step in points:
                continue
            epoch, *measured = (column[n] for column in columns)
            points[step] = MetricPoint(
                job_id=job_id,
                step=step,
                epoch=None if epoch is None else int(epoch),
                recorded_at=_EPOCH + int(chunk.recorded_at[n]) * _MICROSECOND,
                **dict(zip(METRIC_FIELDS, measured, strict=True)),
            )
    for point in rows:
        points.setdefault(point.step, point)
    return [points[step] for step in sorted(points)]


def _floats(values: np.ndarray) -> list[float | None]:
    return [None if text == "nan" else float(text) for text in values.astype(str).tolist()]
