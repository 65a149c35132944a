"""A real LoRA adapter of the tiny model, trained once per test session by the real trainer, and
jobs that own it. Import the fixtures where they are used:

    from tests.adapters import trained_adapter  # noqa: F401
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
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
    folder = tmp_path_factory.mktemp("trained")
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
    adapter = folder / "out" / "adapter"
    assert (adapter / "adapter_model.safetensors").is_file()
    return adapter


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
