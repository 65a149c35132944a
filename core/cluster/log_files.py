"""A local job's log: the trainer's `stdout.log` and `stderr.log`, read a piece at a time.

Both files grow while the trainer runs, so one offset holds a position in each: the low 40 bits
in stdout.log, the bits above in stderr.log (a terabyte per file). While the trainer runs only
whole lines are returned, so a line is never split between two reads and the two streams never
interleave mid-line; once it has ended, whatever is left.
"""

from __future__ import annotations

from pathlib import Path

from core.cluster.base import LogChunk

_BITS = 40
_MASK = (1 << _BITS) - 1
READ_LIMIT = 1 << 20  # bytes of each file per read; the caller asks again for more


def read_log_files(stdout: Path, stderr: Path, offset: int, *, ended: bool) -> LogChunk:
    out_text, out_at = _read_lines(stdout, offset & _MASK, whole=ended)
    err_text, err_at = _read_lines(stderr, offset >> _BITS, whole=ended)
    return LogChunk(out_text + err_text, out_at | (err_at << _BITS))


def _read_lines(path: Path, at: int, *, whole: bool) -> tuple[str, int]:
    try:
        with path.open("rb") as handle:
            handle.seek(at)
            data = handle.read(READ_LIMIT)
    except FileNotFoundError:
        return "", at
    if not data:
        return "", at
    complete = whole and len(data) < READ_LIMIT
    if not complete:
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) < READ_LIMIT:
            return "", at  # half a line: wait for its end
        data = data[:cut] if cut else data  # a line longer than a read comes in pieces
    return data.decode("utf-8", "replace"), at + len(data)
