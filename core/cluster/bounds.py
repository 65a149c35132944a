"""What one cluster answer may carry (SPEC §4), checked before any of it is believed.

A body over 16 MiB, JSON nested deeper than 64, a status outside the contract or a negative step
is malformed. Of more than 10,000 metric points the first 10,000 in step order are taken; the
scheduler asks for the rest on its next poll (`since_step`). Every request has a total deadline.

Memory is what these bounds protect: Python's own JSON decoder turns a body into objects up to
twenty times its size (a 16 MiB list of empty lists is 300 MB). A body up to `WHOLE_BODY` is
decoded whole; a larger one is only scanned, and just the top-level fields and the kept points
are decoded, each from its own slice.
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import AsyncIterable, Callable
from typing import Any

MAX_BODY = 16 * 1024 * 1024
MAX_POINTS = 10_000
MAX_DEPTH = 64
DEADLINE = 30.0  # seconds from sending a request to the last byte of its answer
WHOLE_BODY = 1024 * 1024  # decoded whole up to this size: at most about 20 MiB of objects
# A top-level field of a larger answer (its bounded lists aside) past this size is left out.
_FIELD_LIMIT = WHOLE_BODY

# The statuses of the contract and the names clusters commonly give them; anything else is
# malformed. Matched exactly: "completed " is not "completed".
CLUSTER_STATUSES = frozenset(
    {
        "queued",
        "pending",
        "submitted",
        "initializing",
        "starting",
        "running",
        "completed",
        "succeeded",
        "failed",
        "error",
        "cancelled",
        "canceled",
    }
)


class Bounded(list[Any]):
    """A list cut to its bound: `dropped` items were left out (to be fetched by a later poll)."""

    dropped: int = 0


class MalformedAnswer(ValueError):
    """An answer that breaks the contract; the message says how, in words fit for a user."""


async def read_capped(chunks: AsyncIterable[bytes], declared: int | None = None) -> bytes:
    """The body from its chunks, refused once it passes MAX_BODY (never read whole first)."""
    if declared is not None and declared > MAX_BODY:
        raise MalformedAnswer(_too_large())
    body = bytearray()
    async for chunk in chunks:
        if len(body) + len(chunk) > MAX_BODY:
            raise MalformedAnswer(_too_large())
        body += chunk
    return bytes(body)


def _too_large() -> str:
    return f"the answer is larger than {MAX_BODY // (1024 * 1024)} MiB"


def decode(
    body: bytes, *, lists: dict[str, int] | None = None, cancelled: Callable[[], bool] | None = None
) -> Any:
    """The JSON document of `body`, nested at most MAX_DEPTH deep. `lists` bounds the top-level
    lists of objects under its keys (points, samples): each keeps at most that many items, those
    with the smallest `step`."""
    lists = lists or {}
    if len(body) <= WHOLE_BODY:
        try:
            data = json.loads(body)
        except RecursionError:
            raise MalformedAnswer(f"JSON nested deeper than {MAX_DEPTH}") from None
        except ValueError:
            raise MalformedAnswer("not JSON") from None
        if _depth(data) > MAX_DEPTH:
            raise MalformedAnswer(f"JSON nested deeper than {MAX_DEPTH}")
        if isinstance(data, dict):
            for key, most in lists.items():
                if isinstance(data.get(key), list):
                    data[key] = first_points(data[key], most)
        return data
    return _decode_large(body, lists, cancelled)


def first_points(points: list[Any], most: int = MAX_POINTS) -> list[Any]:
    """At most `most` of `points`, the first in step order (items without a whole-number step
    sort first, so that the caller meets and refuses them)."""
    if len(points) <= most:
        return points
    kept = Bounded(heapq.nsmallest(most, points, key=_step_key))
    kept.dropped = len(points) - most
    return kept


def _step_key(point: Any) -> float:
    step = point.get("step") if isinstance(point, dict) else None
    return step if isinstance(step, int | float) and not isinstance(step, bool) else float("-inf")


def _depth(data: Any) -> int:
    """How deep containers nest in `data` (a scalar: 0), without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        deepest = max(deepest, level)
        if level <= MAX_DEPTH:  # deeper than the bound is all this needs to know
            stack.extend((item, level + 1) for item in value if isinstance(item, dict | list))
    return deepest


# A JSON string (with its escapes) or a bracket: everything that decides the nesting.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_KEY_END = re.compile(rb"\s*:")
_STEP = re.compile(rb'"step"\s*:\s*(-?[0-9]+)')
# One flat object (no nested brackets) of a bounded list, and what follows it: the common case,
# matched whole rather than token by token.
_FLAT_ITEM = re.compile(rb'\s*(\{(?:[^{}\[\]"]|"(?:[^"\\]|\\.)*")*\})\s*,?', re.DOTALL)


class _Kept:
    """The `most` items of a bounded list with the smallest steps, as (start, end) spans, kept
    while the list is scanned: a million items never stand in memory at once."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.seen = 0
        self._heap: list[tuple[int, int, int]] = []  # (-step, start, end): the largest step on top

    def add(self, body: bytes, start: int, end: int) -> None:
        self.seen += 1
        found = _STEP.search(body, start, end)
        step = int(found.group(1)) if found else -1  # no step: kept, and refused by the caller
        if len(self._heap) < self.most:
            heapq.heappush(self._heap, (-step, start, end))
        elif step < -self._heap[0][0]:
            heapq.heapreplace(self._heap, (-step, start, end))

    def spans(self) -> list[tuple[int, int]]:
        return [(start, end) for _, start, end in sorted(self._heap, reverse=True)]


def _decode_large(body: bytes, lists: dict[str, int], cancelled: Callable[[], bool] | None = None) -> Any:
    """A big body: one scan finds its nesting, its top-level fields and the items of its bounded
    lists; only those fields and the items kept are decoded. `cancelled` is asked now and then:
    True abandons the scan (the scheduler is stopping)."""
    if body.lstrip()[:1] != b"{":
        raise MalformedAnswer("expected a JSON object")
    depth = 0
    fields: list[tuple[str, int]] = []  # (key, where its value starts), in order
    ends: list[int] = []  # where each top-level value ends
    kept = {key: _Kept(most) for key, most in lists.items()}
    current: _Kept | None = None  # the bounded list whose value is being scanned
    item_start = -1
    pos, steps = 0, 0
    while True:
        steps += 1
        if cancelled is not None and steps % 65_536 == 0 and cancelled():
            raise MalformedAnswer("abandoned: the scheduler is stopping")
        if current is not None and depth == 2:
            flat = _FLAT_ITEM.match(body, pos)
            if flat is not None:
                current.add(body, flat.start(1), flat.end(1))
                pos = flat.end()
                continue
        token = _TOKEN.search(body, pos)
        if token is None:
            raise MalformedAnswer("not JSON")
        pos = token.end()
        kind = token.group()[:1]
        if kind == b'"':
            if depth == 1:
                colon = _KEY_END.match(body, pos)
                if colon is not None:
                    if fields:
                        ends.append(token.start())
                    key = json.loads(token.group())
                    fields.append((key, colon.end()))
                    current = kept.get(key)
        elif kind in b"[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise MalformedAnswer(f"JSON nested deeper than {MAX_DEPTH}")
            if depth == 3 and kind == b"{":
                item_start = token.start()
        else:
            if depth == 3 and kind == b"}" and current is not None:
                current.add(body, item_start, pos)
            depth -= 1
            if depth == 0:
                ends.append(token.start())
                if body[pos:].strip():
                    raise MalformedAnswer("not JSON")
                break
    if len(ends) != len(fields) + (not fields):
        raise MalformedAnswer("not JSON")
    data: dict[str, Any] = {}
    for (name, start), end in zip(fields, ends, strict=False):
        if name in kept:
            items = Bounded(_item(body, span) for span in kept[name].spans())
            items.dropped = kept[name].seen - len(items)
            data[name] = items
            continue
        raw = body[start:end].strip().removesuffix(b",")
        if len(raw) > _FIELD_LIMIT:
            continue  # no field of the contract is this large (lists aside): left out, unread
        try:
            data[name] = json.loads(raw)
        except ValueError:
            raise MalformedAnswer("not JSON") from None
    return data


def _item(body: bytes, span: tuple[int, int]) -> Any:
    try:
        return json.loads(body[span[0] : span[1]])
    except ValueError:
        raise MalformedAnswer("an item of a list is not JSON") from None
