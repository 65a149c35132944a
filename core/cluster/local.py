"""The `local` backend: LoRA training as detached processes on this machine.

Each job lives in `$LORADESK_HOME/jobs/<job id>/`, which is its whole state:

- `spec.json`: what `python -m core.trainer` runs (written here);
- `process.json`: the trainer's pid and start time (written here), so a later process that got
  the same pid is not taken for the trainer;
- `stdout.log`, `stderr.log`: the trainer's output;
- `cancel.json`: when the trainer was told to stop (written here), so a later cancel call waits
  on that stop instead of signalling again;
- `metrics.jsonl`, `status.json`, `exit.json`, `adapter/`: written by the trainer
  (`core.trainer.report`).

Trainers run in their own session, so they outlive the app, and a new `LocalCluster` re-attaches
to them by reading their folders. POSIX only: cancel signals the trainer's process group.

While a slot is free, a running scheduler asks for a warm trainer (`keep_warm`, core.cluster.local_standby)
and the next job is handed to it instead of starting a new Python that imports torch first.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import psutil

from core.cluster.base import (
    ClusterBusyError,
    ClusterCancelPendingError,
    ClusterConflictError,
    ClusterJobNotFoundError,
    ClusterRejectedError,
    LogChunk,
    StatusReport,
    SubmitRequest,
    SubmitResult,
)
from core.cluster.local_standby import Standby
from core.cluster.log_files import read_log_files
from core.cluster.metrics_file import MetricsIndex
from core.config import Settings
from core.storage.folder import local_storage_root
from core.trainer.checkpoint_files import checkpoint_dir, latest_checkpoint
from core.trainer.distributed import launcher
from core.trainer.report import (
    EXIT_FILE,
    METRICS_FILE,
    STATUS_FILE,
    write_json_atomic,
)
from core.trainer.run import missing_modules
from core.trainer.spec import SpecError, base_model_source, parse_hyperparameters
from core.trainer_python import NO_TRAINER_HINT, trainer_environment, trainer_python

try:
    import fcntl
except ImportError:  # Windows: no lock between app instances sharing a home
    fcntl = None  # type: ignore[assignment]

SPEC_FILE = "spec.json"
PROCESS_FILE = "process.json"
RESUMES_FILE = "resumes.json"  # the checkpoints a job whose trainer died was continued from
CANCEL_FILE = "cancel.json"
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"
_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_TRAINER_MODULES = ("torch", "transformers", "peft")
# The installed app holds no torch: `loradesk trainer setup` makes a Python that has it.
BUNDLE_TRAINER_HINT = NO_TRAINER_HINT
# One cancel call waits this long for the trainer to save and exit; a longer save leaves the job
# cancelling, and the next cycle's call waits again, until the grace runs out and it is killed.
CANCEL_WAIT = 3.0
SAVING_ADAPTER = "the trainer is saving its adapter"
# Larger unread metric backlogs (a re-attach to a long run) are read off the event loop.
_INLINE_READ_LIMIT = 1 << 20


@dataclass(frozen=True)
class _Process:
    pid: int
    create_time: float


class LocalCluster:
    """ClusterBackend running `core.trainer` processes; at most `settings.local_max_jobs` at once."""

    name = "local"

    def __init__(
        self, settings: Settings, *, cancel_grace: float = 120.0, cancel_wait: float | None = None
    ) -> None:
        self._jobs_dir = settings.home / "jobs"
        self._storage_root = local_storage_root(settings)
        self._max_jobs = settings.local_max_jobs
        self._max_resumes = settings.max_resumes
        self._python = trainer_python(settings)
        self._cancel_grace = cancel_grace
        self._cancel_wait = CANCEL_WAIT if cancel_wait is None else cancel_wait
        # Processes started by this instance, kept so that their exit is reaped (no zombies).
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._metrics: dict[str, MetricsIndex] = {}
        self._standby = Standby(self._python, self._trainer_environment)

    # -- submit ---------------------------------------------------------------------------------

    async def submit(self, request: SubmitRequest) -> SubmitResult:
        return await asyncio.to_thread(self._submit, request)

    def _submit(self, request: SubmitRequest) -> SubmitResult:
        if not _JOB_ID.fullmatch(request.job_id):
            raise ClusterRejectedError(f"job id {request.job_id!r} cannot name a job folder")
        job_dir = self._jobs_dir / request.job_id
        with self._submit_lock():
            if (job_dir / SPEC_FILE).exists() and self._process_of(request.job_id) is None:
                orphan = _find_trainer(job_dir / SPEC_FILE)
                if orphan is not None:
                    self._record_process(job_dir, orphan)
            if self._process_of(request.job_id) is not None and not self._never_ran(job_dir):
                return SubmitResult(request.job_id, self._quick_status(job_dir))  # submitted before
            self._check_runnable(request)
            if self._busy_slots() >= self._max_jobs:
                raise ClusterBusyError(f"all {self._max_jobs} local training slots are busy")
            self._start(request, job_dir)
        return SubmitResult(request.job_id, "initializing")

    def _never_ran(self, job_dir: Path) -> bool:
        """Its recorded process ended before it began the run: the app died between recording a
        standby as the job's trainer and handing it the job. Such a job is started again."""
        return (
            not (job_dir / STATUS_FILE).exists()
            and not (job_dir / EXIT_FILE).exists()
            and not self._is_alive(job_dir.name)
        )

    async def keep_warm(self) -> None:
        """Have a standby trainer ready while a slot is free; a running scheduler calls this after
        each cycle. Without a usable trainer Python there is none: jobs start cold and say why."""
        if not self._python or self._standby.given_up:
            return
        if self._python == sys.executable and _missing_trainer_modules():
            return
        if await self.free_slots() > 0:
            await asyncio.to_thread(self._standby.ensure)

    @property
    def standby(self) -> Standby:
        return self._standby

    async def free_slots(self) -> int:
        """How many more jobs may start now; the scheduler claims no more than that."""
        return max(0, self._max_jobs - await asyncio.to_thread(self._busy_slots))

    def _busy_slots(self) -> int:
        return sum(1 for job_id in self._unfinished_jobs() if self._is_alive(job_id))

    def _check_runnable(self, request: SubmitRequest) -> None:
        try:
            hyperparameters, _ = parse_hyperparameters(request.hyperparameters)
            base_model_source(hyperparameters.base_model)
        except SpecError as exc:
            raise ClusterRejectedError(str(exc)) from None
        if request.resume_from_step is not None:
            self._parent_checkpoint(request)
        if not self._python:
            raise ClusterRejectedError(BUNDLE_TRAINER_HINT)
        # Another interpreter is checked by the trainer itself, which reports the same hint.
        if self._python == sys.executable:
            missing = _missing_trainer_modules()
            if missing:
                raise ClusterRejectedError(missing_modules(self._python, missing))

    def _start(self, request: SubmitRequest, job_dir: Path) -> None:
        job_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        job_dir.chmod(0o700)  # private to the user: its spec holds a signed URL
        for stale in (EXIT_FILE, STATUS_FILE, METRICS_FILE, CANCEL_FILE):  # from a launch that never ran
            (job_dir / stale).unlink(missing_ok=True)
        spec_path = job_dir / SPEC_FILE
        spec = {
            "job_id": request.job_id,
            "dataset_url": request.dataset_url,
            "storage_root": str(self._storage_root),
            "output_dir": str(job_dir),
            "hyperparameters": request.hyperparameters,
        }
        if request.resume_from_step is not None:
            spec["resume_from_checkpoint"] = str(self._parent_checkpoint(request))
        write_json_atomic(spec_path, spec)
        processes = trainer_processes(request.gpu_count)
        standby = self._standby.take() if processes == 1 else None
        if standby is not None:
            # Recorded before the hand-over: if the app dies in between, `_never_ran` restarts it.
            self._record_process(job_dir, standby.pid, standby=True)
            if Standby.hand(standby, spec_path, job_dir / STDOUT_FILE, job_dir / STDERR_FILE):
                self._children[request.job_id] = standby
                return
        self._launch(job_dir, processes)

    def _launch(self, job_dir: Path, processes: int, *, log_mode: str = "wb") -> None:
        """Start a cold trainer on the job folder's spec: one process, or one per GPU under
        torchrun (data-parallel on this machine; core.trainer.distributed)."""
        command = [self._python, *launcher(processes), "-m", "core.trainer", str(job_dir / SPEC_FILE)]
        env = self._trainer_environment()
        with (
            _private(job_dir / STDOUT_FILE, log_mode) as out,
            _private(job_dir / STDERR_FILE, log_mode) as err,
        ):
            try:
                child = subprocess.Popen(
                    command,
                    cwd=job_dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,  # survives the app; cancel signals the whole group
                )
            except OSError as exc:
                raise ClusterRejectedError(
                    f"cannot start the trainer with {self._python}: {exc.strerror}"
                ) from None
        self._children[job_dir.name] = child
        self._record_process(job_dir, child.pid, processes=processes)

    def _parent_checkpoint(self, request: SubmitRequest) -> Path:
        """The checkpoint a continued job starts from, in its parent's folder."""
        parent, step = request.resume_from_job, request.resume_from_step
        if parent is None or step is None or not _JOB_ID.fullmatch(parent):
            raise ClusterRejectedError("a continued job must name its parent job and checkpoint step")
        folder = checkpoint_dir(self._jobs_dir / parent, step)
        if not folder.is_dir():
            raise ClusterRejectedError(f"the checkpoint at step {step} of job {parent} is gone ({folder})")
        return folder

    def _trainer_environment(self) -> dict[str, str]:
        return trainer_environment()

    def _record_process(self, job_dir: Path, pid: int, *, standby: bool = False, processes: int = 1) -> None:
        try:
            create_time = psutil.Process(pid).create_time()
        except psutil.Error:
            create_time = time.time()  # already gone: any value; it is never alive again
        record = {
            "pid": pid,
            "create_time": create_time,
            "python": self._python,
            "standby": standby,
            "processes": processes,
        }
        write_json_atomic(job_dir / PROCESS_FILE, record)

    @contextlib.contextmanager
    def _submit_lock(self) -> Iterator[None]:
        """Serialises submits of all app instances sharing this home: slots are counted once."""
        self._jobs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with (self._jobs_dir / ".submit.lock").open("a") as handle:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            yield

    def _unfinished_jobs(self) -> Iterator[str]:
        if not self._jobs_dir.is_dir():  # nothing ever ran here
            return
        for job_dir in self._jobs_dir.iterdir():
            if (job_dir / PROCESS_FILE).exists() and not (job_dir / EXIT_FILE).exists():
                yield job_dir.name

    def _quick_status(self, job_dir: Path) -> str:
        record = _read_json(job_dir / EXIT_FILE)
        if record is not None:
            return str(record.get("status", "failed"))
        metrics = job_dir / METRICS_FILE
        return "running" if metrics.exists() and metrics.stat().st_size else "initializing"

    # -- status ---------------------------------------------------------------------------------

    async def status(self, external_job_id: str, since_step: int | None) -> StatusReport:
        job_dir = self._job_dir(external_job_id)
        index = self._metrics.setdefault(external_job_id, MetricsIndex(job_dir / METRICS_FILE))
        if index.unread_bytes() > _INLINE_READ_LIMIT:
            return await asyncio.to_thread(self._status, external_job_id, job_dir, since_step)
        return self._status(external_job_id, job_dir, since_step)

    def _status(self, job_id: str, job_dir: Path, since_step: int | None) -> StatusReport:
        outcome = self._outcome(job_id, job_dir)
        state = _read_json(job_dir / STATUS_FILE) or {}
        index = self._metrics.setdefault(job_id, MetricsIndex(job_dir / METRICS_FILE))
        history, last = index.read_after(since_step)
        samples = index.samples_after(since_step)
        total_steps = state.get("total_steps")
        # Before its first point a run's step is unknown, not 0: a job continued from a checkpoint
        # keeps showing the step it starts from.
        step = last["step"] if last else (state.get("current_step") or None)
        if outcome is not None:
            status = str(outcome.get("status") or "failed")
            self._forget(job_id)  # a terminal job is not polled again; free its index
        else:
            status = "running" if last else "initializing"
        progress: float | None = None
        if status == "completed":
            progress = 100.0
        elif step and total_steps:
            progress = min(100.0, 100.0 * step / total_steps)
        # A cancelled run saved what it had learned: its partial adapter is kept, not orphaned.
        artifact = _adapter_of(outcome) if status in ("completed", "cancelled") else None
        return StatusReport(
            status=status,
            progress=progress,
            current_epoch=last["epoch"] if last else state.get("current_epoch"),
            total_epochs=state.get("total_epochs"),
            current_step=step,
            total_steps=total_steps,
            metrics={k: v for k, v in (last or {}).items() if k not in ("step", "epoch")},
            metrics_history=history,
            error_message=(outcome or {}).get("error_message") if status == "failed" else None,
            artifact_url=artifact,
            samples=samples,
            resumed_from=_resumes_of(job_dir),
        )

    def _outcome(self, job_id: str, job_dir: Path) -> dict[str, Any] | None:
        """The exit record; None while the trainer runs (again, if it died and was continued from
        its checkpoint); one saying `failed` when it died for good without writing one."""
        record = _read_json(job_dir / EXIT_FILE)
        if record is not None or self._is_alive(job_id):
            return record
        # Read again: the trainer may have written it and exited between the two looks.
        record = _read_json(job_dir / EXIT_FILE)
        if record is not None:
            return record
        resumes = self._resume_died(job_id, job_dir)
        if resumes is None:
            return None
        message = f"the training process ended without reporting a result (see {job_dir / STDERR_FILE})"
        if resumes:
            message += f"; it had been continued from a checkpoint {_times(resumes)} (LORADESK_MAX_RESUMES)"
        return {"status": "failed", "error_message": message}

    def _resume_died(self, job_id: str, job_dir: Path) -> int | None:
        """Continue a trainer that vanished without an exit record (OOM, kill -9, a reboot) from
        its last checkpoint, in place: same job, same folder, its steps numbered on. None when it
        was (or another instance just did it); else how often it was before, and it is not now
        (no checkpoint, or LORADESK_MAX_RESUMES reached).

        In place rather than as a child job: the person asked for one run, and gets one, with its
        curve, cost, stop rules and notifications intact; `resumes.json` and the log say it happened."""
        with self._submit_lock():  # one app instance sharing this home resumes it, once
            if (job_dir / EXIT_FILE).exists() or self._is_alive(job_id):
                return None
            history = (_read_json(job_dir / RESUMES_FILE) or {}).get("resumes", [])
            found = latest_checkpoint(job_dir)
            if found is None or len(history) >= self._max_resumes:
                return len(history)
            step, folder = found
            spec = _read_json(job_dir / SPEC_FILE) or {}
            spec["resume_from_checkpoint"] = str(folder)
            write_json_atomic(job_dir / SPEC_FILE, spec)
            _keep_points_up_to(job_dir / METRICS_FILE, step)
            self._metrics.pop(job_id, None)  # the file was rewritten: index it afresh
            history.append({"step": step, "at": time.time()})
            write_json_atomic(job_dir / RESUMES_FILE, {"resumes": history})
            with (job_dir / STDERR_FILE).open("a", encoding="utf-8") as err:
                err.write(
                    f"loradesk: the trainer ended without reporting a result; continuing from the"
                    f" checkpoint at step {step} ({len(history)} of {self._max_resumes})\n"
                )
            processes = int((_read_json(job_dir / PROCESS_FILE) or {}).get("processes") or 1)
            try:
                self._launch(job_dir, processes, log_mode="ab")
            except ClusterRejectedError:
                return len(history)
            return None

    async def latest_checkpoint(self, external_job_id: str) -> int | None:
        """The step of the job's latest complete checkpoint in its folder (CheckpointKeeper)."""
        found = await asyncio.to_thread(latest_checkpoint, self._job_dir(external_job_id))
        return found[0] if found else None

    # -- cancel ---------------------------------------------------------------------------------

    async def cancel(self, external_job_id: str) -> str | None:
        """SIGTERM the trainer, which finishes its step, saves its adapter and exits as cancelled.
        A save longer than one call's wait raises ClusterCancelPendingError (the job is stopping,
        nothing is wrong); a later call finds the stop under way and waits on it (past the grace
        the trainer is killed), or finds it over: ClusterConflictError, and the next poll records
        the cancelled run with its adapter."""
        job_dir = self._job_dir(external_job_id)
        told = _read_json(job_dir / CANCEL_FILE)
        record = _read_json(job_dir / EXIT_FILE)
        process = self._process_of(external_job_id)
        died = record is None and process is not None and not self._is_alive(external_job_id)
        if died and self._cancel_died(job_dir):
            return None
        if record is None and (process is None or not self._is_alive(external_job_id)):
            record = _read_json(job_dir / EXIT_FILE) or {"status": "failed"}
        if record is not None:  # over (a stop asked for earlier included): the poll records how
            raise ClusterConflictError(f"the job has already {_ended(record)}")
        assert process is not None
        if told is None:
            _signal_group(process, signal.SIGTERM)
            told = {"at": time.time()}
            write_json_atomic(job_dir / CANCEL_FILE, told)
        deadline = float(told.get("at", 0)) + self._cancel_grace
        wait = max(0.0, min(deadline - time.time(), self._cancel_wait))
        if not await self._wait_for_exit(external_job_id, process, wait):
            if time.time() < deadline:
                raise ClusterCancelPendingError(SAVING_ADAPTER)
            _signal_group(process, signal.SIGKILL)
            await self._wait_for_exit(external_job_id, process, 5.0)
        record = _read_json(job_dir / EXIT_FILE)
        if record is None:  # killed before it could write one
            record = {"status": "cancelled", "error_message": None, "artifact_dir": None}
            write_json_atomic(job_dir / EXIT_FILE, record)
        elif record.get("status") != "cancelled":  # it ended on its own as the signal came
            raise ClusterConflictError(f"the job has already {_ended(record)}")
        return _adapter_of(record)  # the trainer saves what it has when told to stop

    def _cancel_died(self, job_dir: Path) -> bool:
        """A cancel of a trainer that died without a result, before a poll continued it: the
        cancel stands (it is not continued behind the person's back), and its checkpoint is there
        to continue from. False when it ended, or was continued, meanwhile."""
        with self._submit_lock():  # as `_resume_died` holds it: one of the two wins
            if (job_dir / EXIT_FILE).exists() or self._is_alive(job_dir.name):
                return False
            record = {"status": "cancelled", "error_message": None, "artifact_dir": None}
            write_json_atomic(job_dir / EXIT_FILE, record)
            return True

    # -- log ------------------------------------------------------------------------------------

    async def read_log(self, external_job_id: str, offset: int) -> LogChunk:
        job_dir = self._job_dir(external_job_id)
        ended = (job_dir / EXIT_FILE).exists() or not self._is_alive(external_job_id)
        return await asyncio.to_thread(
            read_log_files, job_dir / STDOUT_FILE, job_dir / STDERR_FILE, offset, ended=ended
        )

    async def _wait_for_exit(self, job_id: str, process: _Process, timeout: float) -> bool:
        child = self._children.get(job_id)
        try:
            if child is not None:
                await asyncio.to_thread(child.wait, timeout)
            else:
                await asyncio.to_thread(psutil.Process(process.pid).wait, timeout)
        except (subprocess.TimeoutExpired, psutil.TimeoutExpired):
            return False
        except psutil.NoSuchProcess:
            pass
        return True

    async def aclose(self) -> None:
        """Trainers keep running: they are detached, and a later instance re-attaches. A standby
        waiting for a job is ended: it belongs to this instance."""
        self._metrics.clear()
        await asyncio.to_thread(self._standby.stop)

    # -- the job folder -------------------------------------------------------------------------

    def _job_dir(self, job_id: str) -> Path:
        job_dir = self._jobs_dir / job_id
        if not _JOB_ID.fullmatch(job_id) or not (job_dir / SPEC_FILE).is_file():
            raise ClusterJobNotFoundError(f"no local job {job_id!r} in {self._jobs_dir}")
        return job_dir

    def _process_of(self, job_id: str) -> _Process | None:
        record = _read_json(self._jobs_dir / job_id / PROCESS_FILE)
        if record is None:
            return None
        return _Process(int(record["pid"]), float(record["create_time"]))

    def _is_alive(self, job_id: str) -> bool:
        child = self._children.get(job_id)
        if child is not None:
            return child.poll() is None  # also reaps it
        process = self._process_of(job_id)
        if process is None:
            return False
        try:
            found = psutil.Process(process.pid)
            # A start time more than a second off is another process that reused the pid.
            same = abs(found.create_time() - process.create_time) < 1.0
            return same and found.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:  # includes zombies psutil cannot read
            return False
        except psutil.AccessDenied:
            return True  # it exists and is someone's: assume it is ours, still running

    def _forget(self, job_id: str) -> None:
        self._metrics.pop(job_id, None)
        child = self._children.pop(job_id, None)
        if child is not None:
            child.poll()


def trainer_processes(gpu_count: int) -> int:
    """Processes a job trains in: one per GPU asked for, data-parallel (core.trainer.distributed).

    A `cpu` job asking for several runs that many CPU processes with gloo. Nothing chooses that
    but the person (the default is one): on one machine they share its cores, so it seldom trains
    faster, but it is how a data-parallel run is tried without GPUs, and how the tests try it."""
    return max(1, gpu_count)


def _keep_points_up_to(metrics: Path, step: int) -> None:
    """Drop what a dead trainer recorded after its checkpoint (points, sample answers): the
    continued run records those steps again, and the file's steps must keep rising."""
    try:
        lines = metrics.read_bytes().splitlines(keepends=True)
    except FileNotFoundError:
        return
    kept = [line for line in lines if line.endswith(b"\n") and _recorded_by(line, step)]
    partial = metrics.with_name(f".{metrics.name}.part")
    partial.write_bytes(b"".join(kept))
    partial.replace(metrics)


def _recorded_by(line: bytes, step: int) -> bool:
    """Whether a metrics line is of a step up to `step` (a point, or an evaluation's samples)."""
    try:
        record = json.loads(line)
    except ValueError:
        return False
    if not isinstance(record, dict):
        return False
    if isinstance(record.get("samples"), list):
        steps = [item.get("step") for item in record["samples"] if isinstance(item, dict)]
        return all(isinstance(s, int) and s <= step for s in steps)
    return isinstance(record.get("step"), int) and record["step"] <= step


def _resumes_of(job_dir: Path) -> tuple[int, ...]:
    """The checkpoint steps a job was continued from in place (`resumes.json`), oldest first."""
    record = _read_json(job_dir / RESUMES_FILE) if (job_dir / RESUMES_FILE).exists() else None
    resumes = (record or {}).get("resumes", [])
    return tuple(r["step"] for r in resumes if isinstance(r, dict) and isinstance(r.get("step"), int))


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _missing_trainer_modules() -> list[str]:
    return [m for m in _TRAINER_MODULES if importlib.util.find_spec(m) is None]


def _private(path: Path, mode: str) -> BinaryIO:
    """A log file of the job folder, readable by the user only (0600) however the umask is set."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab" if mode.startswith("a") else "wb")


def _find_trainer(spec_path: Path) -> int | None:
    """A trainer started for this spec but never recorded: the app died right after starting it."""
    target = str(spec_path)
    for found in psutil.process_iter(["cmdline"]):
        cmdline = found.info.get("cmdline") or []
        if target in cmdline and "core.trainer" in cmdline:
            return int(found.pid)
    return None


def _adapter_of(record: dict[str, Any] | None) -> str | None:
    """The file URL of the adapter an exit record names, if the trainer did save it there."""
    folder = (record or {}).get("artifact_dir")
    if not folder or not (Path(folder) / "adapter_config.json").is_file():
        return None
    return Path(folder).as_uri()


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _ended(record: dict[str, Any]) -> str:
    return {"completed": "completed", "cancelled": "been cancelled"}.get(str(record.get("status")), "failed")


def _signal_group(process: _Process, signum: int) -> None:
    """Signal the trainer's session (it leads its own group), unless its pid was reused."""
    try:
        if abs(psutil.Process(process.pid).create_time() - process.create_time) >= 1.0:
            return
        os.killpg(process.pid, signum)
    except (psutil.NoSuchProcess, ProcessLookupError):
        pass
