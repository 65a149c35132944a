"""What a run writes into its output folder, which is how the `local` backend watches it.

- `metrics.jsonl`: one JSON line per optimizer step, flushed as it is written, so a reader sees
  whole lines and at most one half-written last line; and per evaluation one line of sample
  answers, `{"samples": [{"step", "prompt_index", "prompt", "expected", "output"}], "seconds": …}`
  (the items of SPEC §4's `samples`; the line itself has no `step`, so it is never taken for a point);
- `status.json`: where the run is (replaced atomically, so it is never seen half-written);
- `exit.json`: how the run ended, written once, last;
- `adapter/`: the LoRA adapter, saved by peft.

A run on a cluster also prints each point, each evaluation's samples, and then how it ended, as
one line on stdout: `LORADESK_METRIC {"step": …, "total_steps": …, …}`, `LORADESK_SAMPLES {"samples":
[…], "seconds": …}` and `LORADESK_RESULT {"status": …}`; the Ray backend reads these from the job's
log (core.cluster.ray_log).

Standard library only, so the backend shares these names and writers without torch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"
STATUS_FILE = "status.json"
EXIT_FILE = "exit.json"
ADAPTER_DIR = "adapter"
EXIT_STATUSES = ("completed", "cancelled", "failed")
METRIC_PREFIX = "LORADESK_METRIC "
RESULT_PREFIX = "LORADESK_RESULT "
SAMPLES_PREFIX = "LORADESK_SAMPLES "


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write `path` whole or not at all, readable by the user only (a spec holds a signed URL)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(json.dumps(data))
    os.replace(tmp, path)


class RunReport:
    def __init__(self, output_dir: Path, *, log_metrics: bool = False, continued: bool = False) -> None:
        self.output_dir = output_dir
        self._log_metrics = log_metrics
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / EXIT_FILE).unlink(missing_ok=True)  # left by an earlier run in this folder
        # A new run in the same folder starts a new history; one continued from a checkpoint
        # (a trainer that died, continued in place) carries on the points up to it.
        self._metrics = (output_dir / METRICS_FILE).open("a" if continued else "w", encoding="utf-8")
        self._status: dict[str, Any] = {
            "status": "initializing",
            "current_step": 0,
            "total_steps": None,
            "current_epoch": 0,
            "total_epochs": None,
            "pid": os.getpid(),
        }
        write_json_atomic(output_dir / STATUS_FILE, self._status)

    @property
    def adapter_dir(self) -> Path:
        return self.output_dir / ADAPTER_DIR

    def update_status(self, **changes: Any) -> None:
        self._status.update(changes)
        write_json_atomic(self.output_dir / STATUS_FILE, self._status)

    def add_metrics(self, point: dict[str, Any]) -> None:
        # NaN and infinity stay as Python's json writes them, so the reader can tell a diverged
        # loss from a missing one.
        line = json.dumps(point)
        self._metrics.write(line + "\n")
        self._metrics.flush()
        if self._log_metrics:
            # Each line carries the run's size, so a reader of the log's tail needs nothing else.
            totals = {
                "total_steps": self._status["total_steps"],
                "total_epochs": self._status["total_epochs"],
            }
            print(METRIC_PREFIX + json.dumps({**point, **totals}), flush=True)

    def add_samples(self, samples: list[dict[str, Any]], seconds: float) -> None:
        """One evaluation's sample answers (SPEC §4 items) and the seconds it took to make them."""
        line = json.dumps({"samples": samples, "seconds": round(seconds, 3)})
        self._metrics.write(line + "\n")
        self._metrics.flush()
        if self._log_metrics:
            print(SAMPLES_PREFIX + line, flush=True)

    def finish(
        self,
        status: str,
        error_message: str | None,
        artifact_dir: Path | None,
        artifact_url: str | None = None,
    ) -> None:
        assert status in EXIT_STATUSES
        self._metrics.close()
        record = {
            "status": status,
            "error_message": error_message,
            "artifact_dir": str(artifact_dir) if artifact_dir else None,
        }
        write_json_atomic(self.output_dir / EXIT_FILE, record)
        if self._log_metrics:
            url = artifact_url or (artifact_dir.resolve().as_uri() if artifact_dir else None)
            result = {"status": status, "error_message": error_message, "artifact_url": url}
            print(RESULT_PREFIX + json.dumps(result), flush=True)


class SilentReport(RunReport):
    """The report of a data-parallel run's other processes (rank > 0): they train and write
    nothing, so the job's files hold one process's account, once (core.trainer.distributed)."""

    def __init__(self, output_dir: Path, **_options: Any) -> None:
        self.output_dir = output_dir
        self._log_metrics = False
        self._status = {}

    def update_status(self, **changes: Any) -> None:
        self._status.update(changes)

    def add_metrics(self, point: dict[str, Any]) -> None:
        pass

    def add_samples(self, samples: list[dict[str, Any]], seconds: float) -> None:
        pass

    def finish(
        self,
        status: str,
        error_message: str | None,
        artifact_dir: Path | None,
        artifact_url: str | None = None,
    ) -> None:
        pass
