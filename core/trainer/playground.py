"""`python -m core.trainer.playground --adapter DIR [--base-model NAME]`: base and adapter answers
over stdin/stdout, for the app's Try tab and `loradesk try`, which hold no torch themselves.

It loads the base model and the adapter once, says `ready`, then answers JSON lines:

    in:  {"op": "generate", "id": 1, "prompt": "…", "temperature": 0.7, "top_p": 0.9,
          "max_new_tokens": 256, "chat_template": false, "seed": 7}
         {"op": "stop"}    ends the answer under way and any waiting (a new generate stops them too)
         {"op": "quit"}    or end of input: exit, which frees the model's memory
    out: {"event": "ready", "base_model": "tiny", "device": "cpu", "chat_template": false, "seconds": 1.1}
         {"event": "token", "id": 1, "side": "base" | "adapter", "text": "…"}
         {"event": "done", "id": 1, "side": "…", "tokens": 12, "seconds": 0.2, "stopped": false}
         {"event": "finished", "id": 1}
         {"event": "error", "id": 1 | null, "message": "…"}   null: loading failed, the process exits

The app's end of the pipe closes when the app quits or dies, so a playground never outlives it.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from core.trainer.run import quiet_libraries
from core.trainer.spec import TINY_MODEL, TrainerError

LIMITS = {"temperature": (0.0, 5.0), "top_p": (0.0, 1.0), "max_new_tokens": (1, 4096)}


class _Out:
    """One JSON line per event; the stdin reader thread writes too, so writes are locked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, **fields})
        with self._lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()


class _Requests:
    """Read by a thread, so a stop arrives while the main thread generates.

    Requests carry increasing ids; a stop ends every request up to the newest one seen, whether
    it is being answered or still waiting, so no stop is lost to a race with its request.
    """

    def __init__(self, say: _Out) -> None:
        self.say = say
        self.pending: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.newest = -1
        self.stopped_through = -1

    def stopped(self, ident: int) -> bool:
        return self.stopped_through >= ident

    def read(self) -> None:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                request = json.loads(line)
                op = request.get("op") if isinstance(request, dict) else None
            except ValueError:
                op = None
            if op == "generate" and _is_id(request.get("id")) and request["id"] > self.newest:
                self.stopped_through = self.newest  # a new question ends the answer under way
                self.newest = request["id"]
                self.pending.put(request)
            elif op == "stop":
                self.stopped_through = self.newest
            elif op == "quit":
                break
            else:
                self.say("error", id=None, message=f"unusable request: {line.strip()[:200]}")
        self.stopped_through = self.newest
        self.pending.put(None)


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_decoding(request: dict[str, Any]) -> Any:
    from core.trainer.generation import Decoding

    values: dict[str, Any] = {"chat_template": bool(request.get("chat_template", False))}
    for name, (low, high) in LIMITS.items():
        if request.get(name) is None:
            continue
        value = request[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ValueError(f"{name} must be a number from {low} to {high}")
        values[name] = int(value) if name == "max_new_tokens" else float(value)
    seed = request.get("seed")
    values["seed"] = seed if isinstance(seed, int) and not isinstance(seed, bool) else time.time_ns() % 2**31
    return Decoding(**values)


def load(adapter: Path, base_model: str) -> tuple[Any, Any]:
    """The base model with the adapter on top, in eval mode, and its codec."""
    import torch
    from peft import PeftModel

    from core.trainer.model import load_base_model

    if base_model == TINY_MODEL:
        torch.set_num_threads(1)  # as in training: threads only cost the tiny model time
    if not (adapter / "adapter_config.json").is_file():
        raise TrainerError(f"{adapter} holds no adapter (adapter_config.json is missing)")
    model, codec = load_base_model(base_model)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        model = PeftModel.from_pretrained(model, str(adapter))
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise TrainerError(f"cannot load the adapter from {adapter}: {_first_line(exc)}") from None
    return model.to(device).eval(), codec


def serve(model: Any, codec: Any, requests: _Requests, say: _Out) -> None:
    from core.trainer.generation import prompt_ids

    stop_ids = frozenset({codec.eos_id} | _config_eos(model))
    while True:
        request = requests.pending.get()
        if request is None:
            return
        ident = request["id"]
        if requests.stopped(ident):  # a newer question or a stop came before it started
            for side in ("base", "adapter"):
                say("done", id=ident, side=side, tokens=0, seconds=0.0, stopped=True)
            say("finished", id=ident)
            continue
        try:
            decoding = parse_decoding(request)
            prompt = request.get("prompt")
            if not isinstance(prompt, str):
                raise ValueError("prompt must be text")
            ids = prompt_ids(codec, prompt, decoding.chat_template)
        except ValueError as exc:
            say("error", id=ident, message=str(exc))
            continue
        try:
            answer(model, codec, ids, decoding, partial(requests.stopped, ident), stop_ids, ident, say)
        except Exception as exc:  # one prompt failed (too long for the model, out of memory): say so
            traceback.print_exc()
            say("error", id=ident, message=f"cannot answer: {type(exc).__name__}: {_first_line(exc)}")
            for side in ("base", "adapter"):
                say("done", id=ident, side=side, tokens=0, seconds=0.0, stopped=True)
        say("finished", id=ident)


def answer(
    model: Any,
    codec: Any,
    ids: list[int],
    decoding: Any,
    stop: Callable[[], bool],
    stop_ids: frozenset[int],
    ident: int,
    say: _Out,
) -> None:
    from core.trainer.generation import generate_pair

    for piece in generate_pair(model, codec, ids, decoding, stop, stop_ids):
        if piece.done:
            say(
                "done",
                id=ident,
                side=piece.side,
                tokens=piece.tokens,
                seconds=round(piece.seconds, 4),
                stopped=piece.stopped,
            )
        else:
            say("token", id=ident, side=piece.side, text=piece.text)


def _config_eos(model: Any) -> set[int]:
    eos = getattr(model.config, "eos_token_id", None)
    if isinstance(eos, int):
        return {eos}
    return {int(i) for i in eos} if isinstance(eos, list) else set()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.trainer.playground")
    parser.add_argument("--adapter", required=True, type=Path)
    parser.add_argument("--base-model", default=TINY_MODEL)
    args = parser.parse_args(argv)
    say = _Out()
    quiet_libraries()
    began = time.monotonic()
    try:
        model, codec = load(args.adapter, args.base_model)
    except TrainerError as exc:
        say("error", id=None, message=str(exc))
        return 1
    except ModuleNotFoundError as exc:
        say(
            "error", id=None, message=f"the trainer's Python lacks {exc.name!r}: run `loradesk trainer setup`"
        )
        return 1
    except Exception as exc:
        traceback.print_exc()
        say("error", id=None, message=f"cannot load the model: {type(exc).__name__}: {_first_line(exc)}")
        return 1
    template = codec.render_chat is not None  # its own; otherwise the built-in layout
    device = next(model.parameters()).device.type
    say(
        "ready",
        base_model=args.base_model,
        device=device,
        chat_template=template,
        seconds=round(time.monotonic() - began, 3),
    )
    requests = _Requests(say)
    threading.Thread(target=requests.read, name="playground-stdin", daemon=True).start()
    serve(model, codec, requests, say)
    sys.stdout.flush()
    # Nothing is left to save: skip the interpreter's teardown of torch, which takes seconds on a
    # busy machine, so the memory is free as soon as the tab closes.
    os._exit(0)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
