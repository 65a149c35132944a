"""Sample answers as they travel from a trainer to the database: one bounded, typed shape.

A trainer writes them (metrics file, log lines), a cluster sends them (`samples` of a status
answer, SPEC §4); whichever way, `sample_answers` reads them into `SampleAnswer` records with the
same bounds, so one huge or broken answer costs its own samples, never the job's metric points.

Standard library only: the trainer shares these bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A sample is for a person to read: the first 4,000 characters of a text say whether it works.
MAX_SAMPLE_CHARS = 4000
# Samples taken from one answer (16 prompts × 64 evaluations: a poll brings one or two), the
# earliest steps first; a cluster that sends more loses the rest.
MAX_SAMPLES_PER_ANSWER = 1024
_MAX_PROMPT_INDEX = 10_000
_CLIPPED = "…"


@dataclass(frozen=True, slots=True)
class SampleAnswer:
    step: int
    prompt_index: int
    prompt: str
    expected: str | None
    output: str

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "prompt_index": self.prompt_index,
            "prompt": self.prompt,
            "expected": self.expected,
            "output": self.output,
        }


def clip(text: str, limit: int = MAX_SAMPLE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + _CLIPPED


def sample_answers(raw: Any, *, step: int | None = None) -> tuple[SampleAnswer, ...]:
    """The well-formed samples of a list, clipped, in (step, prompt index) order, at most
    MAX_SAMPLES_PER_ANSWER of them (the earliest). `step` fills in items that name none (a
    trainer's line holds one evaluation). Malformed items are dropped one by one."""
    if not isinstance(raw, list):
        return ()
    found: dict[tuple[int, int], SampleAnswer] = {}
    for item in raw:
        answer = _answer(item, step)
        if answer is not None:
            found.setdefault((answer.step, answer.prompt_index), answer)
    return tuple(found[key] for key in sorted(found)[:MAX_SAMPLES_PER_ANSWER])


def _answer(item: Any, step: int | None) -> SampleAnswer | None:
    if not isinstance(item, dict):
        return None
    item_step = _whole(item.get("step", step))
    index = _whole(item.get("prompt_index"))
    prompt, output, expected = item.get("prompt"), item.get("output"), item.get("expected")
    if item_step is None or index is None or index > _MAX_PROMPT_INDEX:
        return None
    if not isinstance(prompt, str) or not isinstance(output, str):
        return None
    if expected is not None and not isinstance(expected, str):
        return None
    return SampleAnswer(
        step=item_step,
        prompt_index=index,
        prompt=clip(prompt),
        expected=None if expected is None else clip(expected),
        output=clip(output),
    )


def _whole(value: Any) -> int | None:
    """A non-negative whole number (steps and indices are never negative)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value
