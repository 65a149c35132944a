"""Names of datasets and jobs: 1–200 characters on every database (SPEC §3).

Checked by the services before anything is written, so the CLI and the dialogs refuse the same
names with the same words, and SQLite and PostgreSQL never disagree about what fits.
"""

from __future__ import annotations

import unicodedata

from core.errors import InvalidRequestError

NAME_MAX_CHARS = 200
_ELLIPSIS = "…"


def check_name(name: str, *, what: str) -> str:
    """The name as stored (surrounding spaces dropped), or InvalidRequestError saying why not.

    `what` is the thing named, as the message should say it: "dataset", "job".
    """
    stripped = name.strip()
    if not stripped:
        raise InvalidRequestError(f"a {what} name must not be empty")
    if len(stripped) > NAME_MAX_CHARS:
        raise InvalidRequestError(
            f"a {what} name may have at most {NAME_MAX_CHARS} characters; this one has {len(stripped)}"
        )
    if any(_is_control(c) for c in stripped):
        raise InvalidRequestError(f"a {what} name must be one line, without tabs or control characters")
    return stripped


def fit_name(text: str, *, room: int = NAME_MAX_CHARS, fallback: str = "untitled") -> str:
    """A name made from other text (a file name, a dataset name), shortened to `room` characters.

    Default names are never refused: a 255-byte file name still makes a dataset.
    """
    text = " ".join("".join(" " if _is_control(c) else c for c in text).split()) or fallback
    return text if len(text) <= room else text[: room - len(_ELLIPSIS)].rstrip() + _ELLIPSIS


def _is_control(char: str) -> bool:
    return unicodedata.category(char) == "Cc"
