"""`python -m core.trainer --standby`: a trainer that has done its slow imports and waits for a job.

Importing torch, transformers and peft takes seconds (about 3.7 s on two busy cores), longer than
the whole submit → first point budget of SPEC §8. The local backend keeps one such process ready
while a training slot is free and hands it the next job as one JSON line on stdin:

    {"spec": "…/spec.json", "cwd": "…/<job id>", "stdout": "…/stdout.log", "stderr": "…/stderr.log"}

From then on the process is that job's trainer, exactly as if started with `python -m core.trainer
SPEC.json` there. End of input without a line (the app quit, even if killed: the kernel closes its
end of the pipe) ends the standby, so none is ever left behind. SIGTERM before a job arrives ends it
at once (the default action); afterwards the trainer's own handler saves and exits as cancelled.
"""

from __future__ import annotations

import json
import os
import select
import sys
from typing import Any

from core.trainer.run import main, quiet_libraries

READY_LINE = b"ready\n"


def standby_main() -> int:
    quiet_libraries()  # before the imports: the libraries read these variables when loaded
    try:
        import core.trainer.train  # noqa: F401  torch, transformers, peft, accelerate: the seconds saved
    except Exception as exc:  # not usable: later jobs start cold, which says why
        print(f"loradesk-trainer: standby cannot import the trainer: {exc}", file=sys.stderr)
        if not _job_waiting():
            return 1
    else:
        try:
            os.write(1, READY_LINE)
        except BrokenPipeError:
            pass  # handed a job while importing: the backend no longer listens for "ready"
    line = sys.stdin.readline()
    if not line.strip():
        return 0  # no job came: the app went away
    handoff = _parse(line)
    if handoff is None:
        print("loradesk-trainer: standby got an unreadable job", file=sys.stderr)
        return 2
    _take_over_files(handoff)
    return main([handoff["spec"]])


def _job_waiting() -> bool:
    """A job was handed over already (its line, or the end of input, is there to read)."""
    return bool(select.select([sys.stdin], [], [], 0)[0])


def _parse(line: str) -> dict[str, Any] | None:
    try:
        handoff = json.loads(line)
    except ValueError:
        return None
    keys = ("spec", "cwd", "stdout", "stderr")
    if not isinstance(handoff, dict) or not all(isinstance(handoff.get(k), str) for k in keys):
        return None
    return handoff


def _take_over_files(handoff: dict[str, Any]) -> None:
    """Become the job's process: its folder as working directory, its logs as stdout and stderr."""
    os.chdir(handoff["cwd"])
    for fd, name in ((1, "stdout"), (2, "stderr")):
        target = os.open(handoff[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    stdin = os.open(os.devnull, os.O_RDONLY)  # the app's pipe is no business of the job's
    os.dup2(stdin, 0)
    os.close(stdin)
