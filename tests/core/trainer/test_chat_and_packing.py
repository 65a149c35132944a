"""Conversations trained with the model's chat template, loss on the assistant's turns only; and
packing, several examples to a row without one attending to another."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.trainer.data import IGNORE_INDEX, encode_examples, pack
from core.trainer.tokenizer import byte_codec
from tests.core.trainer.test_trainer import read_json, read_metrics, run_trainer, write_spec

pytestmark = pytest.mark.trainer

CONVERSATION = (("system", "Answer in words."), ("user", "2+2?"), ("assistant", "four"), ("user", "3+3?"),
                ("assistant", "six"))  # fmt: skip


def trained_text(ids: list[int], labels: list[int]) -> bytes:
    return bytes(
        i if i < 256 else ord("|") for i, label in zip(ids, labels, strict=True) if label != IGNORE_INDEX
    )


def test_only_the_assistant_turns_are_trained() -> None:
    [example] = encode_examples([CONVERSATION], byte_codec(), max_length=256)
    assert trained_text(example.input_ids, example.labels) == b"four|six|"  # each answer and its end
    context = bytes(
        i
        for i, label in zip(example.input_ids, example.labels, strict=True)
        if label == IGNORE_INDEX and i < 256
    )
    assert (
        context
        == b"<|system|>\nAnswer in words.\n<|user|>\n2+2?\n<|assistant|>\n<|user|>\n3+3?\n<|assistant|>\n"
    )


def test_a_tokenizer_with_a_chat_template_is_rendered_through_it() -> None:
    from core.trainer.model import tiny_tokenizer
    from core.trainer.tokenizer import hf_codec

    tokenizer = tiny_tokenizer()
    tokenizer.chat_template = tokenizer.chat_template.replace("<|", "[").replace("|>", "]")
    [example] = encode_examples([CONVERSATION], hf_codec(tokenizer), max_length=256)
    assert trained_text(example.input_ids, example.labels) == b"four|six|"
    assert b"[user]\n2+2?" in bytes(i for i in example.input_ids if i < 256)  # the template's, not ours


def test_packing_fills_rows_and_restarts_positions() -> None:
    pairs = [(f"q{n}?", "a" * n) for n in range(1, 9)]
    examples = encode_examples(pairs, byte_codec(), max_length=32)
    rows = pack(examples, max_length=32)
    assert len(rows) < len(examples) and all(len(row.input_ids) <= 32 for row in rows)
    assert sorted(len(e.input_ids) for e in examples) == sorted(
        len(part) for row in rows for part in _parts(row.position_ids or [])
    )
    assert sum(label != IGNORE_INDEX for row in rows for label in row.labels) == sum(
        label != IGNORE_INDEX for e in examples for label in e.labels
    )


def _parts(positions: list[int]) -> list[list[int]]:
    parts: list[list[int]] = []
    for position in positions:
        if position == 0:
            parts.append([])
        parts[-1].append(position)
    return parts


def test_packed_examples_do_not_see_each_other() -> None:
    import torch

    from core.trainer.model import build_tiny_model
    from core.trainer.train import Collator

    examples = encode_examples([("Spell 7.\n", "seven"), ("Spell 12.\n", "twelve")], byte_codec(), 64)
    model = build_tiny_model().eval()
    model.config.use_cache = False  # as the trainer has it: no cache while training
    collate = Collator(byte_codec().pad_id)
    with torch.no_grad():
        alone = sorted((model(**collate([e])).logits[0] for e in examples), key=len, reverse=True)
        [row] = pack(examples, 64)  # longest first
        packed = model(**collate([row])).logits[0]
    assert packed.shape[0] == sum(len(logits) for logits in alone)
    assert torch.allclose(packed[: len(alone[0])], alone[0], atol=1e-5)
    assert torch.allclose(packed[len(alone[0]) :], alone[1], atol=1e-5)  # as if it were alone


def test_a_chat_dataset_trains_packed(tmp_path: Path) -> None:
    lines = []
    for n in range(40):
        turns = [
            {"role": "user", "content": f"What is {n} plus one?"},
            {"role": "assistant", "content": str(n + 1)},
        ]
        lines.append(json.dumps({"messages": turns}))
    (tmp_path / "chat.jsonl").write_text("\n".join(lines) + "\n")
    spec = write_spec(
        tmp_path / "job", str(tmp_path / "chat.jsonl"), packing=True, max_length=128, batch_size=2
    )
    result = run_trainer(spec)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "job" / "out"
    points = read_metrics(out)
    assert "rows" in result.stdout and read_json(out / "exit.json")["status"] == "completed"
    # 36 conversations of about 45 bytes, three to a row of 128: 12 rows, 6 steps an epoch.
    assert read_json(out / "status.json")["total_steps"] == len(points) < 36 * 3 // 2
    assert points[-1]["training_loss"] < points[0]["training_loss"]
    assert "validation_loss" in points[-1]
