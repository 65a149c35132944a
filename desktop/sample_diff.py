"""What changed in an answer since the previous evaluation, word by word, as rich text."""

from __future__ import annotations

import difflib
import html
import re

_WORDS = re.compile(r"\s+|[^\s]+")
ADDED_STYLE = "background-color: rgba(80, 200, 120, 0.35);"
REMOVED_STYLE = "color: #c0504d; text-decoration: line-through;"


def word_changes(old: str, new: str) -> list[tuple[str, str]]:
    """(kind, text) runs that turn `old` into `new`: kind is "same", "added" or "removed"."""
    before, after = _WORDS.findall(old), _WORDS.findall(new)
    runs: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            runs.append(("same", "".join(after[b0:b1])))
            continue
        if tag in ("replace", "delete") and "".join(before[a0:a1]).strip():
            runs.append(("removed", "".join(before[a0:a1])))
        if tag in ("replace", "insert"):
            runs.append(("added", "".join(after[b0:b1])))
    return runs


def changes_html(old: str | None, new: str) -> str:
    """The new answer as HTML with its changes from `old` marked (None: nothing to compare)."""
    if old is None:
        return _text(new)
    parts = []
    for kind, text in word_changes(old, new):
        if kind == "same":
            parts.append(_text(text))
        elif kind == "added":
            parts.append(f'<span style="{ADDED_STYLE}">{_text(text)}</span>')
        else:
            parts.append(f'<span style="{REMOVED_STYLE}">{_text(text)}</span>')
    return "".join(parts)


def _text(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")
