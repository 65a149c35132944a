"""The dataset file format (SPEC §3): JSON Lines, one {"prompt", "completion"} pair per line.

Free of third-party imports: both `datasets add` and the trainer (which may run in a Python that
has torch but not the app's dependencies) read files through it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from core.errors import LoradeskError


class DatasetFormatError(LoradeskError):
    """The file is not JSON Lines of {"prompt", "completion"} pairs; the message names the line."""


def read_pairs(file: Path, *, label: str | None = None) -> Iterator[tuple[str, str]]:
    """Every (prompt, completion) of the file; the first bad line stops it, named by its number.

    Messages start with `label` (default: the file's name), e.g. "pairs.jsonl line 3: …".
    """
    label = label or file.name
    if not file.is_file():
        raise DatasetFormatError(f"dataset file {file} does not exist")
    found = False
    with file.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            where = f"{label} line {number}"
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DatasetFormatError(f"{where}: not valid UTF-8") from None
            if not text.strip():
                continue  # blank lines, typically a trailing one, carry nothing
            try:
                pair = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DatasetFormatError(f"{where}: not valid JSON ({exc.msg})") from None
            if not isinstance(pair, dict):
                raise DatasetFormatError(f'{where}: expected an object {{"prompt": …, "completion": …}}')
            for key in ("prompt", "completion"):
                if not isinstance(pair.get(key), str):
                    raise DatasetFormatError(f'{where}: "{key}" must be a string')
            found = True
            yield pair["prompt"], pair["completion"]
    if not found:
        raise DatasetFormatError(f"{label}: no training pairs (the file is empty)")
