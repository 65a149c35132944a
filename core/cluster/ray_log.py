"""Reading a Ray job's metrics from the tail of its log, never the whole log once a run is long.

The trainer prints one `LORADESK_METRIC {json}` line per step, one `LORADESK_SAMPLES {json}` line
per evaluation and one `LORADESK_RESULT {json}` line at the end (core.trainer.report). Ray's Jobs
API has no byte offset into a job's log, but its log API tails:
`GET /api/v0/logs/file?submission_id=…&node_id=…&lines=N` answers the last N lines. So each poll
asks for a window of lines sized from the last poll (twice the lines that were new then), and
widens it (×4) only when the window does not reach back to the last step stored (samples written
after that point may not be stored yet). A poll's cost follows what is new since the last one,
not the length of the run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from core.formats.sample_answers import SampleAnswer, sample_answers
from core.records import METRIC_FIELDS
from core.trainer.report import METRIC_PREFIX, RESULT_PREFIX, SAMPLES_PREFIX

FIRST_WINDOW = 64  # lines asked for when nothing is known about a job's pace
WHOLE_LOG = -1  # Ray's `lines` value for the whole file
_MAX_LINE = 1024 * 1024  # characters of one machine-readable line (an evaluation's samples: ~200 KB)


@dataclass
class LogTail:
    """What one window of a job's log says."""

    points: list[dict[str, Any]] = field(default_factory=list)  # every metric line, in order
    # Each samples line's items, with the step of the point before it in the window (None: none).
    sample_lines: list[tuple[int | None, list[Any]]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    lines_after: int = 0  # lines after the last point at or before `since_step`: the new ones

    def after(self, since_step: int | None) -> list[dict[str, Any]]:
        return [p for p in self.points if since_step is None or p["step"] > since_step]

    def samples_after(self, since_step: int | None) -> tuple[SampleAnswer, ...]:
        """The samples written after the point of `since_step` (as core.cluster.metrics_file)."""
        first_step = self.points[0]["step"] if self.points else None
        found: list[Any] = []
        for before, items in self.sample_lines:
            if (
                since_step is None
                or (before is not None and before >= since_step)
                or (before is None and (first_step is None or first_step > since_step))
            ):
                found.extend(items)
        return sample_answers(found)

    def reaches(self, since_step: int | None) -> bool:
        """Whether the window starts at or before the last step stored (steps count up from 1
        without gaps): nothing after that point, points or samples, lies before it."""
        if not self.points:
            return False
        return self.points[0]["step"] <= max(since_step or 0, 1)


def parse_tail(text: str, since_step: int | None) -> tuple[LogTail, int]:
    """The window's points and result, and how many lines it held."""
    tail = LogTail()
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(METRIC_PREFIX):
            point = _point(line[len(METRIC_PREFIX) :])
            if point is not None and (not tail.points or point["step"] > tail.points[-1]["step"]):
                tail.points.append(point)
                if since_step is not None and point["step"] <= since_step:
                    tail.lines_after = len(lines) - index - 1
        elif line.startswith(SAMPLES_PREFIX):
            items = (_object(line[len(SAMPLES_PREFIX) :]) or {}).get("samples")
            before = tail.points[-1]["step"] if tail.points else None
            tail.sample_lines.append((before, items if isinstance(items, list) else []))
        elif line.startswith(RESULT_PREFIX):
            tail.result = _object(line[len(RESULT_PREFIX) :])
    if since_step is None or not tail.points or tail.points[0]["step"] > since_step:
        tail.lines_after = len(lines)
    return tail, len(lines)


class TailWindows:
    """How many lines to ask for next, per job."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def first(self, job_id: str) -> int:
        return self._next.get(job_id, FIRST_WINDOW)

    @staticmethod
    def wider(lines: int) -> int:
        return WHOLE_LOG if lines == WHOLE_LOG or lines >= 1 << 20 else lines * 4

    def learn(self, job_id: str, new_lines: int) -> None:
        self._next[job_id] = max(FIRST_WINDOW, 2 * new_lines + 16)

    def forget(self, job_id: str) -> None:
        self._next.pop(job_id, None)


def _object(text: str) -> dict[str, Any] | None:
    """A machine-readable line's JSON object; None for anything else, or a line longer than any
    the trainer writes (decoding a huge one would cost many times its size)."""
    if len(text) > _MAX_LINE:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _point(text: str) -> dict[str, Any] | None:
    """A metric line as the `metrics_history` item of SPEC §4: step, epoch, the named metrics,
    and the run's size (`total_steps`, `total_epochs`)."""
    raw = _object(text)
    if raw is None or not _count(raw.get("step")):
        return None  # a line without a step (or a negative one) is not a point
    point: dict[str, Any] = {"step": raw["step"]}
    for key in ("epoch", "total_steps", "total_epochs"):
        if _count(raw.get(key)):
            point[key] = raw[key]
    for key in METRIC_FIELDS:
        value = raw.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            point[key] = float(value)  # NaN and infinities pass: the scheduler warns and nulls them
        elif isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
            point[key] = math.nan
    return point


def _count(value: Any) -> bool:
    """A step, an epoch or a total: a whole number, not negative."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
