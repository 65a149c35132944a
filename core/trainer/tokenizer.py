"""Turning text into token ids: the base model's tokenizer, or bytes when it ships none."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.trainer.spec import TrainerError

BYTE_PAD_ID = 256
BYTE_BOS_ID = 257
BYTE_EOS_ID = 258
BYTE_VOCAB_SIZE = 259


def decode_bytes(ids: list[int]) -> str:
    return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class TextCodec:
    encode: Callable[[str], list[int]]
    bos_id: int | None  # prepended to every example when the tokenizer has one
    eos_id: int  # appended after the completion, so the model learns where to stop
    pad_id: int
    kind: str
    decode: Callable[[list[int]], str] = decode_bytes  # generated ids back to text (samples)
    tokenizer: Any = None  # the transformers tokenizer behind it; None for bytes


def _utf8_bytes(text: str) -> list[int]:
    return list(text.encode("utf-8"))


def byte_codec() -> TextCodec:
    """UTF-8 bytes are ids 0–255, then pad, bos and eos: any text, no vocabulary file."""
    return TextCodec(_utf8_bytes, BYTE_BOS_ID, BYTE_EOS_ID, BYTE_PAD_ID, "byte")


def hf_codec(tokenizer: Any) -> TextCodec:
    """A transformers tokenizer; special tokens are added here, once, not by each encode."""

    def encode(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    eos = tokenizer.eos_token_id
    if eos is None:
        raise TrainerError("the model's tokenizer has no end-of-sequence token")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos

    def decode(ids: list[int]) -> str:
        return str(tokenizer.decode(ids, skip_special_tokens=True))

    return TextCodec(encode, tokenizer.bos_token_id, eos, pad, type(tokenizer).__name__, decode, tokenizer)
