"""A real LoRA adapter of the tiny model, trained once per test run (its workers share it) by the
real trainer, and jobs that own it. Import the fixtures where they are used:

    from tests.adapters import trained_adapter  # noqa: F401
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.jobs.service import create_job, find_job
from core.records import Job
from core.workspace import Workspace
from tests.core.helpers import set_job_columns

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "sample-dataset.jsonl"
# Enough steps for the tiny model to answer the sample's task in its words ("… hundred …"),
# few enough to take seconds.
STEPS = 60
TASK_PROMPT = "Spell 512 in words.\n"


@pytest.fixture(scope="session")
def trained_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The pytest-xdist workers of one run share it (their temp folders sit side by side in the
    # run's): the first to ask trains it, the others wait on the lock and take it.
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    folder = shared / "trained-adapter"
    adapter = folder / "out" / "adapter"
    with _locked(shared / "trained-adapter.lock"):
        if not (folder / "out" / "exit.json").is_file():
            _train(folder)
    exit_record = json.loads((folder / "out" / "exit.json").read_text())
    assert exit_record["status"] == "completed", exit_record
    assert (adapter / "adapter_model.safetensors").is_file()
    return adapter


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _train(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)  # what a worker that failed here left
    folder.mkdir(parents=True)
    spec = {
        "job_id": "trained-adapter",
        "dataset_url": str(SAMPLE),
        "output_dir": str(folder / "out"),
        "hyperparameters": {"max_steps": STEPS, "batch_size": 8, "eval_interval": STEPS, "seed": 3},
    }
    (folder / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "core.trainer", str(folder / "spec.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr


def job_with_adapter(home: Path, adapter: Path | None, *, user: str = "dana", **columns: object) -> Job:
    """A completed local job of `user` on SQLite under `home` whose adapter is `adapter`."""
    settings = load_settings({"home": str(home), "user": user, "cluster": "local"})
    ws = Workspace.open(settings)
    try:
        dataset = add_dataset(ws, file=SAMPLE, name=f"spelled numbers {uuid.uuid4().hex[:8]}")
        job = create_job(ws, dataset_id=dataset.id, name="spelled", hyperparameters={"max_steps": STEPS})
        values: dict[str, object] = {"status": "completed", **columns}
        if adapter is not None:
            values["artifact_url"] = adapter.as_uri()
        set_job_columns(ws, job.id, **values)
        return find_job(ws, job_id=job.id)
    finally:
        ws.close()
