"""The dataset file format (SPEC §3): JSON Lines, one example per line, either a pair
{"prompt": …, "completion": …} or a conversation {"messages": [{"role": …, "content": …}, …]}
(the OpenAI/TRL chat convention; roles system, user and assistant, at least one assistant turn,
which is what the model learns to say). One file may mix both.

Free of third-party imports: both `datasets add` and the trainer (which may run in a Python that
has torch but not the app's dependencies) read files through it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from core.errors import LoradeskError


class DatasetFormatError(LoradeskError):
    """The file is not JSON Lines of pairs or conversations; the message names the line."""


ROLES = ("system", "user", "assistant")
# A conversation: (role, content) turns.
Conversation = tuple[tuple[str, str], ...]
# One example: a (prompt, completion) pair or a conversation.
Example = tuple[str, str] | Conversation


# One training pair per line, so a line is one example: 4 MiB holds a prompt and completion of
# about a million tokens, far past any context a LoRA run trains on. Reading stops at the cap,
# so validating a huge single-line file costs about 4 MiB of memory, not the file's size.
MAX_LINE_BYTES = 4 * 1024 * 1024


def read_examples(file: Path, *, label: str | None = None) -> Iterator[Example]:
    """Every example of the file, a (prompt, completion) pair or a conversation; the first bad
    line stops it, named by its number.

    Messages start with `label` (default: the file's name), e.g. "pairs.jsonl line 3: …".
    Memory stays bounded by MAX_LINE_BYTES whatever the file holds.
    """
    label = label or file.name
    if file.is_dir():
        raise DatasetFormatError(f"{file} is a folder; give the dataset's .jsonl file inside it")
    if not file.is_file():
        raise DatasetFormatError(f"dataset file {file} does not exist")
    found = False
    with file.open("rb") as lines:
        for number, raw in enumerate(iter(lambda: lines.readline(MAX_LINE_BYTES + 1), b""), start=1):
            where = f"{label} line {number}"
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise DatasetFormatError(
                    f"{where}: longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB; "
                    "a dataset holds one training example per line"
                )
            if raw.strip():  # blank lines, typically a trailing one, carry nothing
                yield _example(raw, where)
                found = True
    if not found:
        raise DatasetFormatError(f"{label}: no training examples (the file is empty)")


def _example(raw: bytes, where: str) -> Example:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DatasetFormatError(f"{where}: not valid UTF-8") from None
    try:
        pair = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetFormatError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(pair, dict):
        raise DatasetFormatError(
            f'{where}: expected an object {{"prompt": …, "completion": …}} or {{"messages": […]}}'
        )
    if "messages" in pair:
        return _conversation(pair["messages"], where)
    for key in ("prompt", "completion"):
        if key not in pair:
            raise DatasetFormatError(f'{where}: the key "{key}" is missing')
        if not isinstance(pair[key], str):
            raise DatasetFormatError(f'{where}: "{key}" must be a string')
    return pair["prompt"], pair["completion"]


def _conversation(messages: object, where: str) -> Conversation:
    if not isinstance(messages, list) or not messages:
        raise DatasetFormatError(f'{where}: "messages" must be a non-empty list of {{"role", "content"}}')
    turns = []
    for number, message in enumerate(messages, start=1):
        at = f"{where} message {number}"
        if not isinstance(message, dict):
            raise DatasetFormatError(f'{at}: expected an object {{"role": …, "content": …}}')
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise DatasetFormatError(f"{at}: role must be one of {', '.join(ROLES)}, not {role!r}")
        if not isinstance(content, str):
            raise DatasetFormatError(f'{at}: "content" must be a string')
        turns.append((role, content))
    if not any(role == "assistant" for role, _ in turns):
        raise DatasetFormatError(f"{where}: no assistant message, so nothing to learn")
    return tuple(turns)
