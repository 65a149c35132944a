"""The `local` backend end to end: real trainer processes on the built-in tiny model."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from core.cluster.base import (
    ClusterConflictError,
    ClusterJobNotFoundError,
    ClusterRejectedError,
    ClusterTransientError,
    StatusReport,
    SubmitRequest,
)
from core.cluster.local import LocalCluster
from core.cluster.log_files import read_log_files
from core.config import Settings
from core.storage.folder import LocalStorage

pytestmark = pytest.mark.trainer

SAMPLE_DATASET = Path(__file__).resolve().parents[2] / "resources" / "sample-dataset.jsonl"
TERMINAL = ("completed", "failed", "cancelled")
SHORT = {"epochs": 1, "max_steps": 8, "batch_size": 4, "eval_interval": 4}
LONG = {"epochs": 500}  # minutes of steps: only ever stopped


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(home=tmp_path / "home", database_url="sqlite://", user="tester")
    yield settings
    _kill_trainers(settings.home / "jobs")


@pytest.fixture
def dataset_url(settings: Settings) -> str:
    """The shipped sample, signed the way the scheduler signs a dataset for a cluster."""
    storage = LocalStorage(settings.home / "storage")
    storage.put("lora-datasets", "sample.jsonl", SAMPLE_DATASET)
    return storage.signed_url("lora-datasets", "sample.jsonl")


@pytest.fixture
def submit(settings: Settings, dataset_url: str) -> Callable[..., Any]:
    async def submit(cluster: LocalCluster, job_id: str, hyperparameters: dict[str, Any]) -> str:
        request = SubmitRequest(job_id, dataset_url, hyperparameters, "cpu", 1)
        return (await cluster.submit(request)).external_job_id

    return submit


class JobWatch:
    """Polls a job the way the scheduler does: each call asks for the steps after the last seen."""

    def __init__(self, cluster: LocalCluster, job_id: str, since_step: int | None = None) -> None:
        self.cluster, self.job_id, self.since_step = cluster, job_id, since_step
        self.reports: list[StatusReport] = []
        self.points: list[dict[str, Any]] = []

    async def until(self, done: Callable[[StatusReport], bool], timeout: float = 120) -> StatusReport:
        deadline = time.monotonic() + timeout
        while True:
            report = await self.cluster.status(self.job_id, self.since_step)
            self.reports.append(report)
            self.points += report.metrics_history or []
            if report.metrics_history:
                self.since_step = report.metrics_history[-1]["step"]
            if done(report):
                return report
            assert report.status not in TERMINAL, report
            assert time.monotonic() < deadline, f"job still {report.status} after {timeout} s"
            await asyncio.sleep(0.1)  # a poll interval: the trainer is another process

    @property
    def statuses(self) -> list[str]:
        return [report.status for report in self.reports]


def is_running(report: StatusReport) -> bool:
    return report.status == "running"


def is_terminal(report: StatusReport) -> bool:
    return report.status in TERMINAL


async def test_a_job_runs_to_completion_with_every_step_paged_in(settings: Settings, submit: Any) -> None:
    cluster = LocalCluster(settings)
    job_id = await submit(cluster, "job-done", SHORT)
    assert job_id == "job-done"
    watch = JobWatch(cluster, job_id)
    final = await watch.until(is_terminal)

    assert watch.statuses[0] == "initializing" and "running" in watch.statuses
    assert final.status == "completed" and final.error_message is None
    assert [point["step"] for point in watch.points] == list(range(1, 9))
    assert [p["step"] for p in watch.points if "validation_loss" in p] == [4, 8]
    assert (final.progress, final.current_step, final.total_steps) == (100.0, 8, 8)
    assert (final.current_epoch, final.total_epochs) == (1, 1)
    last = watch.points[-1]
    assert final.metrics == {k: v for k, v in last.items() if k not in ("step", "epoch")}
    adapter = settings.home / "jobs" / job_id / "adapter"
    assert final.artifact_url == adapter.as_uri()
    assert (adapter / "adapter_model.safetensors").is_file()

    again = await LocalCluster(settings).status(job_id, None)  # the whole history, read afresh
    assert [point["step"] for point in again.metrics_history or []] == list(range(1, 9))
    assert (await cluster.status(job_id, 8)).metrics_history == []
    with pytest.raises(ClusterConflictError, match="already completed"):
        await cluster.cancel(job_id)


async def test_submitting_a_job_again_returns_the_same_job(settings: Settings, submit: Any) -> None:
    cluster = LocalCluster(settings)
    first, second = await asyncio.gather(
        submit(cluster, "job-twice", LONG), submit(cluster, "job-twice", LONG)
    )
    pid = _pid(settings, "job-twice")
    third = await submit(LocalCluster(settings), "job-twice", LONG)  # e.g. after an app crash
    assert first == second == third == "job-twice"
    assert _pid(settings, "job-twice") == pid
    assert len(_trainers_of(settings.home / "jobs" / "job-twice")) == 1


async def test_a_full_machine_keeps_jobs_queued_until_a_slot_frees(settings: Settings, submit: Any) -> None:
    cluster = LocalCluster(settings, cancel_grace=0.2)
    await submit(cluster, "job-a", LONG)
    with pytest.raises(ClusterTransientError, match="all 1 local training slots are busy"):
        await submit(cluster, "job-b", LONG)
    assert not (settings.home / "jobs" / "job-b" / "process.json").exists()

    # Once the trainer is up (it wrote status.json), SIGTERM only asks it to stop after its
    # imports, which outlast the short grace: it is killed, and the backend records the cancel.
    job_a = settings.home / "jobs" / "job-a"
    await _wait_for_file(job_a / "status.json")
    await cluster.cancel("job-a")
    report = await cluster.status("job-a", None)
    assert report.status == "cancelled" and report.error_message is None
    assert not (job_a / "adapter").exists() and _trainers_of(job_a) == []
    assert await submit(cluster, "job-b", LONG) == "job-b"


async def test_two_slots_run_two_jobs(settings: Settings, submit: Any) -> None:
    cluster = LocalCluster(settings.with_changes(local_max_jobs=2))
    await submit(cluster, "job-a", LONG)
    await submit(cluster, "job-b", LONG)
    with pytest.raises(ClusterTransientError, match="all 2 local training slots are busy"):
        await submit(cluster, "job-c", LONG)


async def test_cancel_stops_a_running_job_and_keeps_its_adapter(settings: Settings, submit: Any) -> None:
    cluster = LocalCluster(settings, cancel_wait=60)  # waits out the save
    job_id = await submit(cluster, "job-cancel", LONG)
    await JobWatch(cluster, job_id).until(is_running)
    partial = await cluster.cancel(job_id)

    report = await cluster.status(job_id, None)
    adapter = settings.home / "jobs" / job_id / "adapter"
    # The trainer saved what it had on SIGTERM, and both answers name it: kept, not orphaned.
    assert report.status == "cancelled" and report.artifact_url == partial == adapter.as_uri()
    assert report.current_step is not None and 1 <= report.current_step < report.total_steps
    assert (adapter / "adapter_model.safetensors").is_file()
    assert _trainers_of(settings.home / "jobs" / job_id) == []
    with pytest.raises(ClusterConflictError, match="already been cancelled"):
        await cluster.cancel(job_id)


async def test_a_new_instance_reattaches_to_a_running_job(settings: Settings, submit: Any) -> None:
    before_restart = LocalCluster(settings)
    job_id = await submit(before_restart, "job-restart", {**SHORT, "max_steps": 24, "eval_interval": 8})
    first = JobWatch(before_restart, job_id)
    await first.until(is_running)
    await before_restart.aclose()

    after_restart = LocalCluster(settings)
    second = JobWatch(after_restart, job_id, since_step=first.since_step)
    final = await second.until(is_terminal)
    assert second.statuses[0] == "running"
    assert final.status == "completed"
    assert [point["step"] for point in first.points + second.points] == list(range(1, 25))


async def test_a_trainer_that_vanished_without_a_result_fails_clearly(
    settings: Settings, submit: Any
) -> None:
    job_id = await submit(LocalCluster(settings), "job-killed", LONG)
    os.killpg(_pid(settings, job_id), signal.SIGKILL)

    # A fresh instance, as after an app restart: the process is gone (or a zombie) for it too.
    report = await JobWatch(LocalCluster(settings), job_id).until(is_terminal)
    stderr_log = settings.home / "jobs" / job_id / "stderr.log"
    assert report.status == "failed"
    assert report.error_message == (
        f"the training process ended without reporting a result (see {stderr_log})"
    )


async def test_a_trainer_python_without_the_extra_fails_with_the_install_hint(
    settings: Settings, submit: Any, tmp_path: Path
) -> None:
    # An interpreter where `import torch` fails, as in a Python without the trainer extra.
    python = tmp_path / "python-without-torch"
    python.write_text(
        "#!/bin/sh\nshift 2\n"
        f"exec {sys.executable} -c \"import runpy, sys; sys.modules['torch'] = None; "
        "runpy.run_module('core.trainer', run_name='__main__')\" \"$@\"\n"
    )
    python.chmod(0o755)
    cluster = LocalCluster(settings.with_changes(trainer_python=str(python)))
    job_id = await submit(cluster, "job-no-torch", SHORT)
    report = await JobWatch(cluster, job_id).until(is_terminal)
    assert report.status == "failed"
    assert report.error_message == (  # which Python was tried, and the way out the app offers
        f"local training is not set up: {sys.executable} has no torch; run `loradesk trainer setup` "
        "(or Set up local training in the app), or point Trainer Python (Settings) at a Python where "
        "you can install the trainer extra: pip install 'loradesk[trainer]'"
    )


async def test_a_half_written_metrics_line_waits_for_the_next_poll(settings: Settings) -> None:
    # A job folder as a trainer leaves it mid-run; this test process plays the live trainer.
    job_dir = settings.home / "jobs" / "job-mid-write"
    job_dir.mkdir(parents=True)
    (job_dir / "spec.json").write_text("{}")
    me = psutil.Process()
    (job_dir / "process.json").write_text(json.dumps({"pid": me.pid, "create_time": me.create_time()}))
    (job_dir / "status.json").write_text(json.dumps({"total_steps": 4, "total_epochs": 1}))
    lines = [json.dumps({"step": step, "epoch": 1, "training_loss": 5.0 - step}) for step in (1, 2, 3)]
    metrics = job_dir / "metrics.jsonl"
    metrics.write_text(f"{lines[0]}\n{lines[1]}\n{lines[2][:10]}")
    cluster = LocalCluster(settings)

    report = await cluster.status("job-mid-write", None)
    assert [p["step"] for p in report.metrics_history or []] == [1, 2]
    assert (report.status, report.current_step, report.progress) == ("running", 2, 50.0)
    with metrics.open("a") as out:
        out.write(lines[2][10:] + "\n")
    report = await cluster.status("job-mid-write", 2)
    assert [p["step"] for p in report.metrics_history or []] == [3]
    assert report.metrics == {"training_loss": 2.0}


@pytest.mark.parametrize(
    ("hyperparameters", "message"),
    [
        ({"lora_rank": "eight"}, "lora rank must be a whole number"),
        (
            {"base_model": "/no/such/model"},
            "base model '/no/such/model' is neither 'tiny', a local model folder",
        ),
    ],
)
async def test_bad_hyperparameters_are_rejected_at_submit(
    settings: Settings, submit: Any, hyperparameters: dict[str, Any], message: str
) -> None:
    with pytest.raises(ClusterRejectedError, match=re.escape(message)):
        await submit(LocalCluster(settings), "job-bad", hyperparameters)
    assert not (settings.home / "jobs" / "job-bad" / "process.json").exists()


async def test_unknown_jobs_are_not_found(settings: Settings) -> None:
    cluster = LocalCluster(settings)
    for job_id in ("never-submitted", "../storage"):
        with pytest.raises(ClusterJobNotFoundError):
            await cluster.status(job_id, None)
        with pytest.raises(ClusterJobNotFoundError):
            await cluster.cancel(job_id)


async def _wait_for_file(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        await asyncio.sleep(0.02)


def _pid(settings: Settings, job_id: str) -> int:
    record = json.loads((settings.home / "jobs" / job_id / "process.json").read_text())
    return int(record["pid"])


def _trainers_of(job_dir: Path) -> list[psutil.Process]:
    spec = str(job_dir / "spec.json")
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        if spec in (process.info["cmdline"] or []) and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def _kill_trainers(jobs_dir: Path) -> None:
    """Tests leave no trainer running, whatever they asserted."""
    if not jobs_dir.is_dir():
        return
    for job_dir in jobs_dir.iterdir():
        for process in _trainers_of(job_dir):
            try:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
            except (ProcessLookupError, psutil.Error):
                pass


async def test_the_log_is_read_in_whole_lines_from_both_files_as_it_grows(
    settings: Settings, submit: Any
) -> None:
    cluster = LocalCluster(settings)
    job_id = await submit(cluster, "job-log", SHORT)
    job_dir = settings.home / "jobs" / job_id
    text, offset = "", 0
    await JobWatch(cluster, job_id).until(is_terminal)
    while True:  # the trainer has ended: everything is there, a megabyte per read at most
        chunk = await cluster.read_log(job_id, offset)
        if not chunk.text:
            break
        text, offset = text + chunk.text, chunk.next_offset
    stdout = (job_dir / "stdout.log").read_text()
    stderr = (job_dir / "stderr.log").read_text()
    assert "first step recorded" in stdout
    assert text == stdout + stderr
    assert (await cluster.read_log(job_id, offset)).next_offset == offset  # nothing new: same place

    # A file that grows by half a line shows nothing until the line is whole (while it runs).
    out, err = job_dir / "grow-out.log", job_dir / "grow-err.log"
    out.write_text("one\ntw")
    first = read_log_files(out, err, 0, ended=False)
    assert first.text == "one\n"
    with out.open("a") as handle:
        handle.write("o\n")
    err.write_text("warning\n")
    second = read_log_files(out, err, first.next_offset, ended=False)
    assert second.text == "two\nwarning\n"
    assert read_log_files(out, err, second.next_offset, ended=True).text == ""


async def test_a_cancel_of_a_trainer_that_died_stands_and_it_is_not_continued(
    settings: Settings, submit: Any
) -> None:
    from tests.core.test_job_resume import save_checkpoint

    cluster = LocalCluster(settings)
    job_id = await submit(cluster, "job-died-then-cancelled", LONG)
    os.killpg(_pid(settings, job_id), signal.SIGKILL)
    save_checkpoint(settings.home / "jobs" / job_id, 50)  # one it could be continued from
    await asyncio.to_thread(cluster._children[job_id].wait, 10)  # dead, not yet polled

    assert await cluster.cancel(job_id) is None  # cancelled; no adapter was saved
    report = await cluster.status(job_id, None)
    assert report.status == "cancelled" and report.resumed_from == ()
    assert not (settings.home / "jobs" / job_id / "resumes.json").exists()
    assert await cluster.latest_checkpoint(job_id) == 50  # what "Continue" starts from
