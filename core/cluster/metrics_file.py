"""Reading a trainer's `metrics.jsonl` as it grows: only new bytes, only whole lines.

Two kinds of line: a point (`{"step": …}`) per optimizer step, and a samples line
(`{"samples": [{"step", "prompt_index", …}], …}`) per evaluation (core.trainer.report).
"""

from __future__ import annotations

import contextlib
import json
import os
from bisect import bisect_right
from pathlib import Path
from typing import Any

from core.formats.sample_answers import SampleAnswer, sample_answers


class MetricsIndex:
    """Where each step's line starts in `metrics.jsonl`, grown as the trainer appends.

    Each poll reads only the bytes added since the last one, plus the lines after `since_step`;
    a half-written last line is left for the next poll.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.steps: list[int] = []
        self.offsets: list[int] = []
        self.sample_offsets: list[int] = []  # where each samples line starts
        self.end = 0  # bytes indexed so far, always at the end of a whole line

    def unread_bytes(self) -> int:
        try:
            return max(0, self.path.stat().st_size - self.end)
        except FileNotFoundError:
            return 0

    def read_after(self, since_step: int | None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """(the points with step > since_step, the last point), both from whole lines only."""
        self._grow()
        if not self.steps:
            return [], None
        first = 0 if since_step is None else bisect_right(self.steps, since_step)
        start = self.offsets[min(first, len(self.offsets) - 1)]
        points = self._parse(start)
        history = points if first < len(self.steps) else []
        return history, points[-1] if points else None

    def _grow(self) -> None:
        try:
            with self.path.open("rb") as metrics:
                size = os.fstat(metrics.fileno()).st_size
                if size < self.end:  # rewritten by a new run of the job
                    self.steps, self.offsets, self.sample_offsets, self.end = [], [], [], 0
                metrics.seek(self.end)
                chunk = metrics.read(size - self.end)
        except FileNotFoundError:
            return
        position = self.end
        for line in chunk[: chunk.rfind(b"\n") + 1].splitlines(keepends=True):
            if line.startswith(_SAMPLES_LINE):
                self.sample_offsets.append(position)
            else:
                step = _step_of(line)
                if step is not None and (not self.steps or step > self.steps[-1]):
                    self.steps.append(step)
                    self.offsets.append(position)
            position += len(line)
        self.end = position

    def samples_after(self, since_step: int | None) -> tuple[SampleAnswer, ...]:
        """The samples written after the point of `since_step` (all when None), as far as the
        last `read_after` indexed. A trainer may write an evaluation's samples just after that
        point, and a reader may store the point first: samples of steps up to `since_step` written
        after its point come again (they are stored once), so none falls between two polls."""
        if not self.sample_offsets:
            return ()
        after = -1
        if since_step is not None:
            stored = bisect_right(self.steps, since_step)
            after = self.offsets[stored - 1] if stored else -1
        first = bisect_right(self.sample_offsets, after)
        if first == len(self.sample_offsets):
            return ()
        with self.path.open("rb") as metrics:
            metrics.seek(self.sample_offsets[first])
            chunk = metrics.read(self.end - self.sample_offsets[first])
        found: list[Any] = []
        for line in chunk.splitlines():
            if line.startswith(_SAMPLES_LINE):
                with contextlib.suppress(ValueError, AttributeError):
                    found.extend(json.loads(line).get("samples") or [])
        return sample_answers(found)

    def _parse(self, start: int) -> list[dict[str, Any]]:
        with self.path.open("rb") as metrics:
            metrics.seek(start)
            chunk = metrics.read(self.end - start)
        points = []
        for line in chunk.splitlines():
            if line.startswith(_SAMPLES_LINE):
                continue
            with contextlib.suppress(ValueError):
                point = json.loads(line)
                if isinstance(point, dict) and isinstance(point.get("step"), int):
                    points.append(point)
        return points


_SAMPLES_LINE = b'{"samples": '  # how core.trainer.report writes one (json.dumps, key first)


def _step_of(line: bytes) -> int | None:
    try:
        step = json.loads(line).get("step")
    except (ValueError, AttributeError):
        return None
    return step if isinstance(step, int) else None
