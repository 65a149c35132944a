"""The metric points of one job as growable numpy columns, and the smoothing the loss chart uses.

Points arrive in batches (the first load, then events and the once-a-second poll, which may
overlap); a point whose step is not after the last one held is a duplicate and is dropped.
Missing values (None, NaN losses stored as NULL) are NaN here.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from core.jobs.metric_columns import MetricColumns
from core.records import METRIC_FIELDS, MetricPoint

CSV_HEADER = ("step", "epoch", *METRIC_FIELDS)


class MetricSeries:
    """Columns `step`, `epoch` and each of METRIC_FIELDS, `len(self)` long: float64, or float32
    as a load brings a run kept in chunks (half the memory of ten million points)."""

    def __init__(self, capacity: int = 1024) -> None:
        self._size = 0
        self._data = {name: np.empty(capacity) for name in CSV_HEADER}

    def __len__(self) -> int:
        return self._size

    @property
    def last_step(self) -> int | None:
        return int(self._data["step"][self._size - 1]) if self._size else None

    @property
    def steps(self) -> np.ndarray:
        return self._data["step"][: self._size]

    def column(self, name: str) -> np.ndarray:
        """A read-only view of one column (valid until the next append)."""
        view = self._data[name][: self._size]
        view.flags.writeable = False
        return view

    def clear(self) -> None:
        self._size = 0

    def copy(self) -> MetricSeries:
        """A snapshot another thread may read while this one grows."""
        other = MetricSeries(capacity=max(1, self._size))
        other.extend({name: buffer[: self._size] for name, buffer in self._data.items()})
        return other

    def replace(self, columns: MetricColumns) -> None:
        """Hold exactly these columns, taken over without a copy (a million points are 64 MB)."""
        self._data = {name: _floats(columns[name]) for name in CSV_HEADER}
        self._size = len(columns)

    def append_columns(self, columns: MetricColumns) -> int:
        """Add the columns' points after the last step held; returns how many were new."""
        steps = columns["step"]
        last = self.last_step
        keep = slice(None) if last is None else steps > last
        fresh = {name: np.asarray(columns[name])[keep] for name in CSV_HEADER}
        if not len(fresh["step"]):
            return 0
        if np.any(np.diff(fresh["step"]) <= 0):  # overlapping batches: one point per step, in order
            _, first = np.unique(fresh["step"], return_index=True)
            fresh = {name: values[first] for name, values in fresh.items()}
        return self.extend(fresh)

    def append(self, points: Sequence[MetricPoint]) -> int:
        """Add the points after the last step held; returns how many were new."""
        last = self.last_step
        fresh = [p for p in points if last is None or p.step > last]
        if not fresh:
            return 0
        if any(a.step >= b.step for a, b in itertools.pairwise(fresh)):
            fresh = _unique_sorted(fresh)
        columns = {"step": [float(p.step) for p in fresh], "epoch": [_num(p.epoch) for p in fresh]}
        for name in METRIC_FIELDS:
            columns[name] = [_num(getattr(p, name)) for p in fresh]
        return self.extend({name: np.asarray(values) for name, values in columns.items()})

    def extend(self, columns: dict[str, np.ndarray]) -> int:
        """Add whole columns at once (steps ascending and after the last step held)."""
        count = len(columns["step"])
        self._reserve(self._size + count)
        for name, buffer in self._data.items():
            values = columns.get(name)
            buffer[self._size : self._size + count] = np.nan if values is None else values
        self._size += count
        return count

    def _reserve(self, needed: int) -> None:
        capacity = len(self._data["step"])
        if needed <= capacity:
            return
        # a quarter more, not double: a series of a million points gains 16 MB, not 64, per growth
        capacity = max(needed, capacity + capacity // 4, 1024)
        for name, buffer in self._data.items():
            grown = np.empty(capacity, dtype=buffer.dtype)
            grown[: self._size] = buffer[: self._size]
            self._data[name] = grown

    def write_csv(self, path: Path) -> int:
        """Write every point as CSV (empty cells for missing values); returns the row count."""
        rows = np.column_stack([self._data[name][: self._size] for name in CSV_HEADER])
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_HEADER)
            for row in rows:
                writer.writerow(_csv_cells(row))
        return len(rows)


def _csv_cells(row: np.ndarray) -> list[str]:
    cells = []
    for n, value in enumerate(row):
        if math.isnan(value):
            cells.append("")
        elif n < 2:
            cells.append(str(int(value)))
        else:
            cells.append(repr(float(value)))
    return cells


def _floats(values: np.ndarray) -> np.ndarray:
    """The column as it came when it is float32 or float64 (no copy), else as float64."""
    kept = values.dtype if values.dtype in (np.float32, np.float64) else np.float64
    return np.ascontiguousarray(values, dtype=kept)


def _num(value: float | int | None) -> float:
    return math.nan if value is None else float(value)


def _unique_sorted(points: Iterable[MetricPoint]) -> list[MetricPoint]:
    by_step = {p.step: p for p in points}
    return [by_step[step] for step in sorted(by_step)]


SmoothingState = tuple[float, float]


def smooth(
    values: np.ndarray, weight: float, state: SmoothingState = (0.0, 0.0)
) -> tuple[np.ndarray, SmoothingState]:
    """TensorBoard's smoothing: a debiased exponential moving average over the finite values.

    A missing value (NaN) is skipped and shows the smoothed value before it. Returns the smoothed
    values and the state to continue from when more values arrive, so appending costs O(new).
    """
    if weight <= 0 or len(values) == 0:
        return np.array(values, dtype=float), state
    finite = np.isfinite(values)
    dense, end = _smooth_finite(np.asarray(values)[finite], weight, state)
    if len(dense) == len(values):
        return dense, end
    previous = state[0] / state[1] if state[1] > 0 else np.nan
    filled = np.concatenate([[previous], dense])
    positions = np.where(finite, np.cumsum(finite), 0)
    out = filled[np.maximum.accumulate(positions)]
    return out, end


def _smooth_finite(x: np.ndarray, weight: float, state: SmoothingState) -> tuple[np.ndarray, SmoothingState]:
    """Vectorised in chunks short enough that weight**-k stays finite in float64."""
    out = np.empty(len(x))
    num, den = state
    chunk = int(max(1, min(65536, 600 / -math.log(weight))))
    powers = weight ** np.arange(min(chunk, len(x)) + 1)
    inverse = 1.0 / powers
    for start in range(0, len(x), chunk):
        stop = min(start + chunk, len(x))
        length = stop - start
        decay, grow, carry = powers[:length], inverse[:length], powers[1 : length + 1]
        nums = (1 - weight) * decay * np.cumsum(x[start:stop] * grow) + carry * num
        dens = (1 - weight) * decay * np.cumsum(grow) + carry * den
        out[start:stop] = nums / dens
        num, den = float(nums[-1]), float(dens[-1])
    return out, (num, den)
