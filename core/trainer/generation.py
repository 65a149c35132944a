"""Streaming generation for the playground: the base model and the adapter, token by token.

A manual token loop rather than `model.generate`: the two answers advance in turn, one token each,
so both panes fill at once; the adapter is switched off for the base answer with peft's
`disable_adapter()`, so memory holds one model; and a stop request is seen between any two tokens.
Both sides sample from random streams seeded alike, so where the answers differ it is the adapter,
not the dice.
"""

from __future__ import annotations

import codecs
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from core.trainer.tokenizer import BUILT_IN_CHAT_TEMPLATE, TextCodec, built_in_chat

SIDES = ("base", "adapter")


@dataclass(frozen=True)
class Decoding:
    temperature: float = 0.7  # 0: greedy
    top_p: float = 0.9
    max_new_tokens: int = 256
    chat_template: bool = False
    seed: int = 0


class TextStream:
    """Token ids in, new text out: whole characters only, never half of a UTF-8 sequence."""

    def __init__(self, codec: TextCodec) -> None:
        self._codec = codec
        self._ids: list[int] = []
        self._said = 0
        self._bytes = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id: int) -> str:
        if self._codec.kind == "byte":  # ids 0–255 are the bytes, the rest special
            return self._bytes.decode(bytes([token_id])) if token_id < 256 else ""
        self._ids.append(token_id)
        text = self._codec.decode(self._ids)
        if text.endswith("\ufffd"):  # a character split across tokens: wait for its rest
            return ""
        new, self._said = text[self._said :], len(text)
        return new

    def flush(self) -> str:
        """What is held back at the end: an unfinished character, as a replacement mark."""
        if self._codec.kind == "byte":
            return self._bytes.decode(b"", final=True)
        text = self._codec.decode(self._ids)
        new, self._said = text[self._said :], len(text)
        return new


def prompt_ids(codec: TextCodec, prompt: str, chat_template: bool) -> list[int]:
    """The prompt as the trainer encodes one: its bos, then the text; or, as a chat, a user turn
    and the assistant's cue, through the model's chat template or, without one, the built-in
    layout chat datasets train with (core.trainer.tokenizer)."""
    bos = [codec.bos_id] if codec.bos_id is not None else []
    if not chat_template:
        return bos + codec.encode(prompt)
    turns = [("user", prompt), ("assistant", "")]
    segments = codec.render_chat(turns) if codec.render_chat is not None else None
    if segments is None:
        cue = BUILT_IN_CHAT_TEMPLATE.format(role="assistant")
        return bos + codec.encode("".join(text for text, _ in built_in_chat(turns[:1])) + cue)
    context = []
    for text, trained in segments:
        if trained:  # the (empty) answer and its end: what the model is to write
            break
        context.append(text)
    return codec.encode("".join(context))  # the template writes its own special tokens


def pick_token(logits: torch.Tensor, decoding: Decoding, generator: torch.Generator) -> int:
    """Greedy at temperature 0; otherwise nucleus sampling (top-p) at the temperature."""
    if decoding.temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.float() / decoding.temperature, dim=-1)
    if decoding.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        # Keep the smallest set whose mass reaches top_p: a token stays if the mass before it is short.
        keep = (torch.cumsum(sorted_probs, dim=-1) - sorted_probs) < decoding.top_p
        sorted_probs = sorted_probs * keep
        choice = torch.multinomial(sorted_probs / sorted_probs.sum(), 1, generator=generator)
        return int(order[choice])
    return int(torch.multinomial(probs, 1, generator=generator))


@dataclass(frozen=True)
class Piece:
    """What one side produced: new text, or its end (then `tokens`, `seconds`, `stopped`)."""

    side: str
    text: str = ""
    done: bool = False
    tokens: int = 0
    seconds: float = 0.0
    stopped: bool = False


class _Side:
    def __init__(self, name: str, model: Any, codec: TextCodec, decoding: Decoding) -> None:
        self.name = name
        self.model = model
        self.stream = TextStream(codec)
        self.generator = torch.Generator().manual_seed(decoding.seed)
        self.past: Any = None
        self.logits: torch.Tensor | None = None
        self.tokens = 0
        self.seconds = 0.0
        self.done = False

    def adapter_state(self) -> contextlib.AbstractContextManager[Any]:
        return self.model.disable_adapter() if self.name == "base" else contextlib.nullcontext()

    def end(self, *, stopped: bool) -> Iterator[Piece]:
        rest = self.stream.flush()
        if rest:
            yield Piece(self.name, text=rest)
        yield Piece(self.name, done=True, tokens=self.tokens, seconds=self.seconds, stopped=stopped)

    def forward(self, ids: list[int], device: torch.device) -> None:
        started = time.perf_counter()
        with torch.inference_mode(), self.adapter_state():
            out = self.model(
                input_ids=torch.tensor([ids], device=device), past_key_values=self.past, use_cache=True
            )
        self.past = out.past_key_values
        self.logits = out.logits[0, -1]
        self.seconds += time.perf_counter() - started


def generate_pair(
    model: Any,
    codec: TextCodec,
    prompt: list[int],
    decoding: Decoding,
    stop: Callable[[], bool],
    stop_ids: frozenset[int],
) -> Iterator[Piece]:
    """Both answers, interleaved a token at a time, until each ends, reaches max_new_tokens or a
    stop is asked for."""
    device = next(model.parameters()).device
    sides = [_Side(name, model, codec, decoding) for name in SIDES]
    for side in sides:
        side.forward(prompt, device)
    while not all(side.done for side in sides):
        for side in sides:
            if side.done:
                continue
            if stop():
                side.done = True
                yield from side.end(stopped=True)
                continue
            assert side.logits is not None
            token = pick_token(side.logits, decoding, side.generator)
            if token not in stop_ids:
                side.tokens += 1
                text = side.stream.push(token)
                if text:
                    yield Piece(side.name, text=text)
            if token in stop_ids or side.tokens >= decoding.max_new_tokens:
                side.done = True
                yield from side.end(stopped=False)
                continue
            side.forward([token], device)
