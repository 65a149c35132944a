"""The app's end of the playground: a `core.trainer.playground` process run with the trainer's
Python, spoken to in JSON lines, so neither the app nor the CLI imports torch.

`PlaygroundProcess.events()` blocks on the process's output; the desktop reads it on a thread of
its own, the CLI in its main loop. Closing ends the process (its stdin closes, then a terminate,
then a kill), which frees the model's memory.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from core.adapters.files import Progress, base_model_of, local_adapter, no_progress
from core.config import Settings
from core.errors import LoradeskError
from core.records import Job
from core.trainer_python import require_trainer_python, trainer_environment

QUIT_GRACE = 10.0  # seconds a playground gets to exit on its own once its input closes


@dataclass(frozen=True)
class Decoding:
    """The same settings for both answers."""

    temperature: float = 0.7  # 0 is greedy: the same answer every time
    top_p: float = 0.9
    max_new_tokens: int = 256
    chat_template: bool = False
    seed: int | None = None  # None: a fresh one per prompt


@dataclass(frozen=True)
class Ready:
    base_model: str
    device: str
    chat_template: bool  # whether the model has one to offer
    seconds: float


@dataclass(frozen=True)
class Token:
    request: int
    side: str  # "base" or "adapter"
    text: str


@dataclass(frozen=True)
class SideDone:
    request: int
    side: str
    tokens: int
    seconds: float
    stopped: bool


@dataclass(frozen=True)
class Finished:
    request: int


@dataclass(frozen=True)
class Failed:
    """A request the playground refused (`request` set), or the playground itself ending badly."""

    message: str
    request: int | None = None


@dataclass(frozen=True)
class Exited:
    """The process ended; nothing follows."""

    code: int | None


Event = Ready | Token | SideDone | Finished | Failed | Exited


class PlaygroundError(LoradeskError):
    pass


class PlaygroundProcess:
    """One playground subprocess for one adapter on its base model."""

    def __init__(
        self, python: str, adapter: Path, base_model: str, *, stderr_file: Path | None = None
    ) -> None:
        self.adapter = adapter
        self.base_model = base_model
        self.ready: Ready | None = None  # once the playground said it
        self._ids = itertools.count(1)
        self._stderr_file = stderr_file
        stderr: IO[bytes] | int = subprocess.DEVNULL
        if stderr_file is not None:
            stderr_file.parent.mkdir(parents=True, exist_ok=True)
            stderr = stderr_file.open("wb")
        try:
            self._process = subprocess.Popen(
                [
                    python,
                    "-m",
                    "core.trainer.playground",
                    "--adapter",
                    str(adapter),
                    "--base-model",
                    base_model,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=trainer_environment(),
                text=True,
                encoding="utf-8",
                bufsize=1,
            )
        except OSError as exc:
            raise PlaygroundError(f"cannot start the playground with {python}: {exc.strerror}") from None
        finally:
            if not isinstance(stderr, int):
                stderr.close()

    @property
    def pid(self) -> int:
        return self._process.pid

    def ask(self, prompt: str, decoding: Decoding = Decoding()) -> int:
        """Send a prompt; its answers arrive as events carrying the returned request number."""
        ident = next(self._ids)
        self._send({"op": "generate", "id": ident, "prompt": prompt, **asdict(decoding)})
        return ident

    def stop(self) -> None:
        """End the answers under way (their SideDone events say `stopped`)."""
        self._send({"op": "stop"})

    def events(self) -> Iterator[Event]:
        """Events in the order the playground said them, until it exits."""
        stdout = self._process.stdout
        assert stdout is not None
        with contextlib.suppress(OSError, ValueError):  # closed under us: that is the end too
            for line in stdout:
                event = parse_event(line)
                if isinstance(event, Ready):
                    self.ready = event
                if event is not None:
                    yield event
        with contextlib.suppress(OSError):
            stdout.close()
        code = self._process.wait()
        if code not in (0, None) and self._stderr_file is not None:
            last = _last_line(self._stderr_file)
            if last:
                yield Failed(f"the playground stopped (exit {code}): {last}")
        yield Exited(code)

    def close(self, grace: float = QUIT_GRACE) -> None:
        """End the process and free its memory; safe to call more than once."""
        process = self._process
        if process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert process.stdin is not None
                process.stdin.close()  # end of input: the playground exits on its own
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # Its output stays open for a reader still collecting the last events (`events` closes it).

    def _send(self, message: dict[str, object]) -> None:
        stdin = self._process.stdin
        try:
            assert stdin is not None
            stdin.write(json.dumps(message) + "\n")
            stdin.flush()
        except (OSError, ValueError):
            raise PlaygroundError("the playground has stopped; open it again") from None

    def __enter__(self) -> PlaygroundProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_event(line: str) -> Event | None:
    """One line of the playground's output as an event; lines that are not events are skipped."""
    try:
        raw = json.loads(line)
        kind = raw["event"]
        if kind == "token":
            return Token(int(raw["id"]), str(raw["side"]), str(raw["text"]))
        if kind == "done":
            return SideDone(
                int(raw["id"]),
                str(raw["side"]),
                int(raw["tokens"]),
                float(raw["seconds"]),
                bool(raw["stopped"]),
            )
        if kind == "finished":
            return Finished(int(raw["id"]))
        if kind == "ready":
            return Ready(
                str(raw["base_model"]), str(raw["device"]), bool(raw["chat_template"]), float(raw["seconds"])
            )
        if kind == "error":
            ident = raw.get("id")
            return Failed(str(raw["message"]), ident if isinstance(ident, int) else None)
    except (ValueError, KeyError, TypeError):
        pass
    return None


def open_playground(settings: Settings, job: Job, progress: Progress = no_progress) -> PlaygroundProcess:
    """A playground for the job's adapter (fetched first when it is on S3); it is still loading
    the model when this returns: wait for its Ready event."""
    python = require_trainer_python(settings)
    adapter = local_adapter(settings, job, progress)
    stderr_file = settings.home / "playground" / f"{job.id}.stderr.log"
    return PlaygroundProcess(python, adapter, base_model_of(job), stderr_file=stderr_file)


@dataclass(frozen=True)
class Answers:
    base: str
    adapter: str
    base_tokens: int
    adapter_tokens: int


def answer_once(playground: PlaygroundProcess, prompt: str, decoding: Decoding = Decoding()) -> Answers:
    """Load, ask one prompt, collect both answers whole (`loradesk try`)."""
    events = playground.events()
    while playground.ready is None:
        event = next(events, None)
        if event is None or isinstance(event, Failed | Exited):
            raise PlaygroundError(_failure(event or Exited(None)))
    ident = playground.ask(prompt, decoding)
    texts = {"base": "", "adapter": ""}
    tokens = {"base": 0, "adapter": 0}
    for event in events:
        if isinstance(event, Token) and event.request == ident:
            texts[event.side] += event.text
        elif isinstance(event, SideDone) and event.request == ident:
            tokens[event.side] = event.tokens
        elif isinstance(event, Finished) and event.request == ident:
            return Answers(texts["base"], texts["adapter"], tokens["base"], tokens["adapter"])
        elif isinstance(event, Failed | Exited):
            raise PlaygroundError(_failure(event))
    raise PlaygroundError("the playground ended without answering")


def _failure(event: Failed | Exited) -> str:
    if isinstance(event, Failed):
        return event.message
    return f"the playground ended unexpectedly (exit {event.code})"


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


__all__ = [
    "Answers",
    "Decoding",
    "Event",
    "Exited",
    "Failed",
    "Finished",
    "PlaygroundError",
    "PlaygroundProcess",
    "Ready",
    "SideDone",
    "Token",
    "answer_once",
    "open_playground",
    "parse_event",
]
