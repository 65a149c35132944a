"""A warm trainer for the `local` backend: one `python -m core.trainer --standby` kept ready.

A cold trainer spends seconds importing torch, transformers and peft before its first step; the
standby has done that already, so a job handed to it records its first point a fraction of a
second after submit. The standby is this app's child and reads its stdin: when the app goes away,
however it ends, the standby reads end-of-file and exits. Once handed a job it is that job's
detached trainer (own session, own process group) and outlives the app like any other.

A standby that dies without being handed a job (the trainer Python lacks torch, a broken install)
is not restarted by this instance: every later job starts cold, and says why if it cannot train.
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from core.trainer.standby import READY_LINE

log = logging.getLogger(__name__)


class Standby:
    """At most one waiting trainer process; `take()` hands it out, `ensure()` makes the next."""

    def __init__(self, python: str, environment: Callable[[], dict[str, str]]) -> None:
        self._python = python
        self._environment = environment
        self._process: subprocess.Popen[bytes] | None = None
        self._ready = False
        self.given_up = False
        # ensure (a scheduler's thread), take (a submit's thread) and stop (closing) may overlap.
        self._lock = threading.Lock()

    def ensure(self) -> None:
        """Start a standby unless one is waiting (or an earlier one failed)."""
        with self._lock:
            if not self.given_up and not self._alive():
                self._start()

    def _start(self) -> None:
        try:
            self._process = subprocess.Popen(
                [self._python, "-m", "core.trainer", "--standby"],
                env=self._environment(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,  # one line, "ready"; afterwards the job's log
                stderr=subprocess.DEVNULL,  # a cold start reports any import error in the job's log
                start_new_session=True,  # a job it takes survives the app, like a cold trainer
            )
        except OSError as exc:
            self._give_up(f"cannot start {self._python}: {exc.strerror}")
            return
        self._ready = False
        log.debug("standby trainer %d starting", self._process.pid)

    @property
    def ready(self) -> bool:
        """The standby has finished its imports and waits for a job."""
        with self._lock:
            process = self._process
            if process is None or process.stdout is None or not self._alive():
                return False
            if not self._ready and select.select([process.stdout], [], [], 0)[0]:
                self._ready = os.read(process.stdout.fileno(), len(READY_LINE)) == READY_LINE
            return self._ready

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def take(self) -> subprocess.Popen[bytes] | None:
        """The waiting standby, now the caller's (None when none is alive). One still importing
        is handed the job too: it trains once its imports finish, and one whose imports fail
        (a Python without torch) reports why in the job's own folder (core.trainer.standby)."""
        with self._lock:
            process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return None
        return process

    @staticmethod
    def hand(process: subprocess.Popen[bytes], spec: Path, stdout: Path, stderr: Path) -> bool:
        """Give a taken standby its job; False if it died meanwhile (start the job cold then)."""
        line = json.dumps(
            {"spec": str(spec), "cwd": str(spec.parent), "stdout": str(stdout), "stderr": str(stderr)}
        )
        assert process.stdin is not None
        try:
            process.stdin.write(line.encode() + b"\n")
            process.stdin.close()
        except (BrokenPipeError, OSError):
            process.poll()
            return False
        if process.stdout is not None:
            process.stdout.close()
        return True

    def stop(self) -> None:
        """End a waiting standby (the app is closing, or the backend is replaced)."""
        with self._lock:
            process, self._process = self._process, None
        if process is None:
            return
        process.terminate()  # before a job arrives SIGTERM ends it at once
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()

    def _alive(self) -> bool:
        process = self._process
        if process is None:
            return False
        if process.poll() is None:
            return True
        self._process = None  # it ended without a job: not worth another try
        self._give_up(f"the standby trainer exited with status {process.returncode}")
        return False

    def _give_up(self, why: str) -> None:
        self.given_up = True
        log.warning("%s; local jobs start cold (a few seconds slower)", why)
