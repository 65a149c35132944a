"""The warm trainer of the `local` backend: a standby that has imported torch takes the next job
and keeps every property of a cold trainer (detached, re-attach, cancel saves, slots), and never
outlives the app that started it unless it became a job's trainer."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from core.cluster.base import ClusterBusyError, SubmitRequest
from core.cluster.local import LocalCluster
from core.config import Settings, load_settings
from core.datasets.catalog import add_dataset
from core.jobs.service import create_job, get_job
from core.records import JobStatus
from core.scheduler import Scheduler
from core.storage.folder import LocalStorage
from core.workspace import Workspace
from tests.core.test_local_cluster import LONG, SAMPLE_DATASET, SHORT, JobWatch, is_running, is_terminal

pytestmark = pytest.mark.trainer


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", database_url="sqlite://", user="tester")


@pytest.fixture
def submit(settings: Settings) -> Any:
    storage = LocalStorage(settings.home / "storage")
    storage.put("lora-datasets", "sample.jsonl", SAMPLE_DATASET)
    url = storage.signed_url("lora-datasets", "sample.jsonl")

    async def submit(cluster: LocalCluster, job_id: str, hyperparameters: dict[str, Any]) -> str:
        return (await cluster.submit(SubmitRequest(job_id, url, hyperparameters, "cpu", 1))).external_job_id

    return submit


async def warm(cluster: LocalCluster) -> int:
    """Start the standby and wait until it has imported the trainer; its pid."""
    await cluster.keep_warm()
    pid = cluster.standby.pid
    assert pid is not None
    assert await asyncio.to_thread(_wait_for, lambda: cluster.standby.ready, 120)
    return pid


@pytest.fixture(autouse=True)
def _no_trainer_left(tmp_path: Path) -> Any:
    """Trainers handed over from a standby carry no spec in their command line: stop them by the
    pid their job recorded, whatever the test asserted."""
    yield
    for record_file in tmp_path.glob("**/jobs/*/process.json"):
        record = json.loads(record_file.read_text())
        try:
            process = psutil.Process(record["pid"])
            if abs(process.create_time() - record["create_time"]) < 1.0:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        except (psutil.Error, ProcessLookupError):
            pass


def process_record(settings: Settings, job_id: str) -> dict[str, Any]:
    return json.loads((settings.home / "jobs" / job_id / "process.json").read_text())


async def test_the_standby_takes_the_next_job_and_trains_it(settings: Settings, submit: Any) -> None:
    cluster = LocalCluster(settings)
    standby_pid = await warm(cluster)

    job_id = await submit(cluster, "job-warm", SHORT)
    record = process_record(settings, job_id)
    assert record["pid"] == standby_pid and record["standby"] is True
    assert record["create_time"] == psutil.Process(standby_pid).create_time()  # the pid-reuse check
    final = await JobWatch(cluster, job_id).until(is_terminal)

    assert final.status == "completed" and final.current_step == 8
    job_dir = settings.home / "jobs" / job_id
    assert (job_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert "first step recorded" in (job_dir / "stdout.log").read_text()
    assert cluster.standby.pid is None  # it was used up; the next one comes with keep_warm


async def test_a_job_handed_to_a_standby_still_importing_trains(settings: Settings, submit: Any) -> None:
    # The app's first-run demo: the scheduler starts a standby and submits a second later, long
    # before the standby has imported torch.
    cluster = LocalCluster(settings)
    await cluster.keep_warm()
    standby_pid = cluster.standby.pid
    assert standby_pid is not None and not cluster.standby.ready

    job_id = await submit(cluster, "job-early", SHORT)
    assert process_record(settings, job_id)["pid"] == standby_pid  # handed over, not started cold
    final = await JobWatch(cluster, job_id).until(is_terminal)

    assert final.status == "completed", final.error_message
    assert final.current_step == 8
    assert "first step recorded" in (settings.home / "jobs" / job_id / "stdout.log").read_text()


async def test_no_standby_while_every_slot_is_busy(settings: Settings, submit: Any) -> None:
    cluster = LocalCluster(settings, cancel_grace=30, cancel_wait=30)
    await warm(cluster)
    job_id = await submit(cluster, "job-fills-the-slot", LONG)
    await cluster.keep_warm()
    assert cluster.standby.pid is None
    with pytest.raises(ClusterBusyError):
        await submit(cluster, "job-waits", SHORT)
    await JobWatch(cluster, job_id).until(is_running)
    await cluster.cancel(job_id)


async def test_a_standby_job_survives_the_app_reattaches_and_cancel_saves_it(
    settings: Settings, submit: Any
) -> None:
    before_restart = LocalCluster(settings, cancel_grace=30, cancel_wait=30)
    pid = await warm(before_restart)
    job_id = await submit(before_restart, "job-detached", LONG)
    await JobWatch(before_restart, job_id).until(is_running)
    await before_restart.aclose()  # the app quits: the job's trainer goes on
    assert psutil.Process(pid).is_running()

    after_restart = LocalCluster(settings, cancel_grace=30, cancel_wait=30)
    assert (await after_restart.status(job_id, None)).status == "running"
    await after_restart.cancel(job_id)
    report = await after_restart.status(job_id, None)
    assert report.status == "cancelled"
    assert (settings.home / "jobs" / job_id / "adapter" / "adapter_model.safetensors").is_file()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


async def test_closing_the_backend_ends_a_waiting_standby(settings: Settings) -> None:
    cluster = LocalCluster(settings)
    pid = await warm(cluster)
    await cluster.aclose()
    assert not psutil.pid_exists(pid)


def test_a_standby_ends_when_its_app_dies_without_closing(settings: Settings) -> None:
    # The app is killed: nobody stops the standby, but its stdin reaches end-of-file.
    app = subprocess.Popen(
        [sys.executable, "-c", KILLED_APP, str(settings.home)],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])),
    )
    standby_pid = int(app.stdout.readline())  # type: ignore[union-attr]
    os.kill(app.pid, signal.SIGKILL)
    app.wait()
    try:
        psutil.Process(standby_pid).wait(60)
    except psutil.NoSuchProcess:
        pass
    assert not psutil.pid_exists(standby_pid)


KILLED_APP = """
import asyncio, sys, time
from pathlib import Path
from core.cluster.local import LocalCluster
from core.config import Settings
cluster = LocalCluster(Settings(home=Path(sys.argv[1]), database_url="sqlite://", user="t"))
asyncio.run(cluster.keep_warm())
while not cluster.standby.ready:
    time.sleep(0.05)
print(cluster.standby.pid, flush=True)
time.sleep(600)
"""


async def test_a_dead_standby_falls_back_to_a_cold_start(settings: Settings, submit: Any) -> None:
    cluster = LocalCluster(settings)
    pid = await warm(cluster)
    os.kill(pid, signal.SIGKILL)
    await asyncio.to_thread(_wait_for, lambda: cluster.standby.pid is None or not cluster.standby.ready)

    job_id = await submit(cluster, "job-cold", SHORT)
    record = process_record(settings, job_id)
    assert record["standby"] is False and record["pid"] != pid
    assert (await JobWatch(cluster, job_id).until(is_terminal)).status == "completed"
    await cluster.keep_warm()
    assert cluster.standby.pid is None  # one died unused: this instance starts cold from now on


async def test_a_standby_without_torch_gives_way_to_the_cold_start_hint(
    settings: Settings, submit: Any, tmp_path: Path
) -> None:
    python = tmp_path / "python-without-torch"
    python.write_text(
        "#!/bin/sh\nshift 2\n"
        f"exec {sys.executable} -c \"import runpy, sys; sys.modules['torch'] = None; "
        "runpy.run_module('core.trainer', run_name='__main__')\" \"$@\"\n"
    )
    python.chmod(0o755)
    cluster = LocalCluster(settings.with_changes(trainer_python=str(python)))
    await cluster.keep_warm()
    assert cluster.standby.pid is not None
    await asyncio.to_thread(lambda: psutil.Process(cluster.standby.pid).wait(60))

    job_id = await submit(cluster, "job-no-torch", SHORT)
    report = await JobWatch(cluster, job_id).until(is_terminal)
    assert report.status == "failed"
    assert f"local training is not set up: {sys.executable} has no torch" in (report.error_message or "")
    assert process_record(settings, job_id)["standby"] is False


async def test_a_job_whose_standby_never_got_it_is_started_again(settings: Settings, submit: Any) -> None:
    # The app died after recording a standby as the job's trainer, before handing it the job.
    job_dir = settings.home / "jobs" / "job-lost"
    job_dir.mkdir(parents=True)
    (job_dir / "spec.json").write_text("{}")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    record = {"pid": gone.pid, "create_time": time.time() - 5, "python": sys.executable, "standby": True}
    (job_dir / "process.json").write_text(json.dumps(record))

    cluster = LocalCluster(settings)
    assert await submit(cluster, "job-lost", SHORT) == "job-lost"
    assert process_record(settings, "job-lost")["pid"] != gone.pid
    assert (await JobWatch(cluster, "job-lost").until(is_terminal)).status == "completed"


def test_the_running_scheduler_hands_new_jobs_to_a_standby(home: Path) -> None:
    ws = Workspace.open(load_settings({"home": str(home), "user": "erin", "cluster": "local"}))
    scheduler = Scheduler(ws)

    async def run() -> None:  # as the app's scheduler thread: run, then close the backend
        await scheduler.run_forever()
        await ws.aclose()

    thread = threading.Thread(target=asyncio.run, args=(run(),))
    thread.start()
    try:
        backend = ws.backend()
        assert isinstance(backend, LocalCluster)
        assert _wait_for(lambda: backend.standby.ready, 120)
        standby_pid = backend.standby.pid
        dataset = add_dataset(ws, file=SAMPLE_DATASET, name="sample")
        eight_steps = {"epochs": 1, "batch_size": 4, "max_steps": 8}
        job = create_job(ws, dataset_id=dataset.id, name="warm", hyperparameters=eight_steps)
        assert _wait_for(lambda: get_job(ws, job_id=job.id).job.status.is_terminal, 180)
        assert get_job(ws, job_id=job.id).job.status is JobStatus.COMPLETED
        assert process_record(ws.settings, job.id)["pid"] == standby_pid
        assert _wait_for(lambda: backend.standby.pid is not None, 60)  # the next one, slot free again
        next_standby = backend.standby.pid
    finally:
        scheduler.stop()
        thread.join(60)
        ws.close()
    assert not thread.is_alive()
    assert next_standby is not None and not psutil.pid_exists(next_standby)


def _wait_for(condition: Any, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
