"""The bounds of one cluster answer (SPEC §4): size, nesting, points per answer."""

from __future__ import annotations

import json
import random

import pytest

from core.cluster.bounds import MAX_BODY, MAX_DEPTH, MAX_POINTS, WHOLE_BODY, MalformedAnswer, decode

LISTS = {"metrics_history": MAX_POINTS, "samples": 1024}


def _answer(points: list[dict], **extra: object) -> bytes:
    return json.dumps({"status": "running", "current_step": 7, **extra, "metrics_history": points}).encode()


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 200_000])
@pytest.mark.parametrize("size", ["small", "large"])
def test_json_nested_deeper_than_64_is_malformed(depth, size):
    deep = b"[" * depth + b"]" * depth
    padding = b"x" * (WHOLE_BODY + 1) if size == "large" else b""
    body = b'{"padding": "' + padding + b'", "status": "running", "extra": ' + deep + b"}"
    with pytest.raises(MalformedAnswer, match="nested deeper than 64"):
        decode(body, lists=LISTS)


def test_nesting_of_64_is_accepted_in_both_paths():
    nested = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    small = f'{{"status": "running", "x": {nested}}}'.encode()
    assert decode(small)["status"] == "running"
    large = f'{{"pad": "{"y" * (WHOLE_BODY + 1)}", "status": "running", "x": {nested}}}'.encode()
    assert decode(large)["x"] is not None


@pytest.mark.parametrize("count", [MAX_POINTS + 1, 120_000])
def test_more_points_than_the_bound_keep_the_first_in_step_order(count):
    points = [{"step": s, "training_loss": 1.0 / s} for s in range(1, count + 1)]
    random.Random(7).shuffle(points)  # out of order: still the smallest steps are kept
    body = _answer(points)
    assert (len(body) > WHOLE_BODY) == (count > 20_000)  # both decoders are tried
    data = decode(body, lists=LISTS)
    assert sorted(p["step"] for p in data["metrics_history"]) == list(range(1, MAX_POINTS + 1))
    assert data["status"] == "running" and data["current_step"] == 7


def test_a_large_answer_keeps_its_fields_and_leaves_out_huge_ones():
    junk = [[] for _ in range(1_000_000)]  # 4 MB that json.loads would turn into 60 MB of lists
    body = _answer([{"step": 1}, {"step": 2}], junk=junk, error_message="a [bracket] in a string {")
    data = decode(body, lists=LISTS)
    assert data["error_message"] == "a [bracket] in a string {"
    assert data["metrics_history"] == [{"step": 1}, {"step": 2}]
    assert "junk" not in data and data["status"] == "running"  # never decoded
    small = decode(_answer([{"step": 1}], junk=[[1]], pad="z" * WHOLE_BODY), lists=LISTS)
    assert small["junk"] == [[1]]  # a field of a large answer is decoded when it is small


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"status": "running"} trailing', b"[1, 2]" + b" " * WHOLE_BODY, b'{"a": 1'],
)
def test_broken_json_is_malformed(body):
    with pytest.raises(MalformedAnswer):
        decode(body, lists=LISTS)


async def test_a_body_past_16_mib_is_refused_while_it_is_read():
    from core.cluster.bounds import read_capped

    sent = 0

    async def chunks():
        nonlocal sent
        for _ in range(100):  # 100 MB, if all of it were read
            sent += 1
            yield b" " * 1_000_000

    with pytest.raises(MalformedAnswer, match="larger than 16 MiB"):
        await read_capped(chunks())
    assert sent == MAX_BODY // 1_000_000 + 1  # reading stopped at the bound
    with pytest.raises(MalformedAnswer):
        await read_capped(chunks(), declared=MAX_BODY + 1)
