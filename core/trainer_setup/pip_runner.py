"""Run pip in the new environment, line by line, and stop it when the person cancels.

pip runs with the machine's own configuration (its config files, PIP_* variables, find-links,
cache): the setup adds options, never an index of its own.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from core.trainer_setup.failures import NoPackageIndexError, SetupCancelled, TrainerSetupError
from core.trainer_setup.subprocess_env import outside_bundle

# What pip (urllib3, the resolver) prints when it cannot reach an index.
_NETWORK_SIGNS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "nodename nor servname",
    "Network is unreachable",
    "No route to host",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyError",
    "Max retries exceeded",
)
_NOT_FOUND = ("No matching distribution found", "Could not find a version that satisfies")
NO_INDEX_MESSAGE = (
    "no network access to a package index: pip could not reach one (check the network, a proxy or"
    " pip's configuration), so nothing was changed"
)
_KEPT_LINES = 400  # of pip's output, for telling why it failed


def run_pip(
    python: Path,
    args: Sequence[str],
    *,
    on_line: Callable[[str], None],
    cancel: threading.Event,
) -> None:
    """`python -m pip ARGS`, each output line to `on_line`; raises on failure or cancel."""
    returncode, lines = run_streaming([str(python), "-m", "pip", *args], on_line=on_line, cancel=cancel)
    if returncode != 0:
        raise pip_failure(lines, python)


def run_streaming(
    command: Sequence[str], *, on_line: Callable[[str], None], cancel: threading.Event
) -> tuple[int, list[str]]:
    """Run `command`, each output line to `on_line`: (exit status, its last lines).

    Stopped (with whatever it started) as soon as `cancel` is set, raising SetupCancelled.
    """
    env = outside_bundle(dict(os.environ, PYTHONUNBUFFERED="1", PIP_NO_INPUT="1"))
    try:
        process = subprocess.Popen(
            list(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        raise TrainerSetupError(f"cannot run {command[0]}: {exc.strerror}") from None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read_lines, args=(process, lines), daemon=True).start()
    kept: list[str] = []
    try:
        while True:
            if cancel.is_set():
                raise SetupCancelled("the setup was cancelled; nothing was changed")
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            kept = [*kept[-_KEPT_LINES:], line]
            on_line(line)
    except BaseException:  # cancelled, Ctrl-C, a failing callback: pip must not go on alone
        _stop(process)
        raise
    return process.wait(), kept


def pip_failure(lines: list[str], python: Path) -> TrainerSetupError:
    """The one-line reason a pip run failed."""
    text = "\n".join(lines)
    not_found = any(sign in text for sign in _NOT_FOUND)
    if any(sign in text for sign in _NETWORK_SIGNS) or (not_found and _indexes_turned_off(python)):
        return NoPackageIndexError(NO_INDEX_MESSAGE)
    errors = [line.removeprefix("ERROR: ").strip() for line in lines if line.startswith("ERROR:")]
    reason = errors[-1] if errors else (lines[-1].strip() if lines else "no output")
    return TrainerSetupError(f"pip failed: {reason}")


def _indexes_turned_off(python: Path) -> bool:
    """pip's configuration says no-index (PIP_NO_INDEX, or a config file): only find-links remain."""
    try:
        done = subprocess.run(
            [str(python), "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=60,
            env=outside_bundle(dict(os.environ)),
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    for line in done.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.endswith(".no-index") and value.strip("'\" ").lower() not in ("0", "false", "no", "off", ""):
            return True
    return False


def _read_lines(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line.rstrip("\r\n"))
    lines.put(None)


def _stop(process: subprocess.Popen[str]) -> None:
    """Stop pip and its children: SIGTERM, then SIGKILL after a grace period."""
    for signum, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.name == "nt":
                process.kill()
            else:
                os.killpg(process.pid, signum)
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue
