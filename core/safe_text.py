"""Text from a cluster or a person, made safe to show on a terminal or in a label.

A cluster's log, an error message, a job's name, tags and notes may hold control characters (ESC
starts a terminal's escape sequences: a window title, an OSC-8 link, a cleared screen; BEL, NUL)
or bidirectional overrides (U+202E shows text in an order other than the one it has). Each such
character is shown as its escape (`\\x1b`, `\\u202e`): the text stays readable, and nothing in it
reaches a terminal or a label as a command.
"""

from __future__ import annotations

# Marks that reorder or isolate the text around them: ALM, LRM, RLM, the embeddings and overrides
# (U+202A–U+202E) and the isolates (U+2066–U+2069).
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
# C0, DEL, C1, and the line and paragraph separators (a line break a label honours).
_CONTROLS = (*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029)


def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_ONE_LINE = {code: _escape(code) for code in (*_CONTROLS, *_BIDI)}
# A log keeps its lines and tabs; a carriage return (a progress bar redrawing itself) starts a line.
_LINES = {**_ONE_LINE, ord("\n"): "\n", ord("\t"): "\t", ord("\r"): "\n"}


def printable(text: str, *, lines: bool = False) -> str:
    """`text` with every control and bidi-override character escaped; with `lines`, line breaks
    and tabs are kept (a log, notes shown as a block)."""
    if lines:
        return text.replace("\r\n", "\n").translate(_LINES)
    return text.translate(_ONE_LINE)
