"""Turning text into token ids: the base model's tokenizer, or bytes when it ships none.

Conversations are rendered into segments, each marked trained or not: the assistant's turns are
what the model learns to say, everything else is context. A tokenizer with a chat template renders
them through it; the byte codec (the tiny model's) and tokenizers without a template use
BUILT_IN_CHAT_TEMPLATE's simple layout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from core.trainer.spec import TrainerError

BYTE_PAD_ID = 256
BYTE_BOS_ID = 257
BYTE_EOS_ID = 258
BYTE_VOCAB_SIZE = 259
# The layout of a conversation for models without a chat template of their own: a header line per
# turn, then its text; an assistant turn ends with the end-of-sequence token.
BUILT_IN_CHAT_TEMPLATE = "<|{role}|>\n"

Turn = tuple[str, str]  # (role, content)
# (text, trained): a conversation as the model reads it, the assistant's words marked trained.
Segment = tuple[str, bool]


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
    # A conversation's segments through the model's chat template; None: the built-in layout.
    render_chat: Callable[[Sequence[Turn]], list[Segment] | None] | None = None


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

    render = _template_renderer(tokenizer) if getattr(tokenizer, "chat_template", None) else None
    return TextCodec(
        encode, tokenizer.bos_token_id, eos, pad, type(tokenizer).__name__, decode, tokenizer, render
    )


def built_in_chat(turns: Sequence[Turn]) -> list[Segment]:
    """The built-in layout: headers and other turns as context, assistant text trained (the codec
    adds the end-of-sequence token after each assistant turn)."""
    segments: list[Segment] = []
    for role, content in turns:
        segments.append((BUILT_IN_CHAT_TEMPLATE.format(role=role), False))
        segments.append((content, role == "assistant"))
        if role != "assistant":
            segments.append(("\n", False))
    return segments


def _template_renderer(tokenizer: Any) -> Callable[[Sequence[Turn]], list[Segment] | None]:
    """Segments through the tokenizer's chat template: the text each turn adds to the rendering of
    the turns before it (for an assistant turn, after the template's generation prompt) is that
    turn's segment, so what is trained is exactly what the template makes the model say. None for
    a template that rewrites earlier turns as later ones come (the built-in layout is used then)."""

    def render(turns: Sequence[Turn], *, generation_prompt: bool = False) -> str:
        messages = [{"role": role, "content": content} for role, content in turns]
        text = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )
        return str(text)

    def segments(turns: Sequence[Turn]) -> list[Segment] | None:
        found: list[Segment] = []
        done = ""
        for index, (role, _) in enumerate(turns):
            if role == "assistant":
                prompt = render(turns[:index], generation_prompt=True) if index else ""
                if prompt.startswith(done):
                    found.append((prompt[len(done) :], False))
                    done = prompt
            full = render(turns[: index + 1])
            if not full.startswith(done):  # a template that rewrites earlier turns: ours instead
                return None
            found.append((full[len(done) :], role == "assistant"))
            done = full
        return [segment for segment in found if segment[0]]

    return segments
