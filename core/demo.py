"""The first-run demo: the shipped sample dataset and a small job on the built-in tiny model."""

from __future__ import annotations

from core.app_resources import sample_dataset_file
from core.datasets.catalog import add_dataset, list_datasets
from core.errors import LoradeskError
from core.formats.hyperparameters import TINY_MODEL
from core.jobs.service import create_job
from core.records import Job
from core.workspace import Workspace

DEMO_DATASET_NAME = "sample: numbers in words"


def start_demo_job(ws: Workspace) -> Job:
    """Add the sample dataset (once) and queue a short LoRA run on it."""
    dataset = next((d for d in list_datasets(ws) if d.name == DEMO_DATASET_NAME), None)
    if dataset is None:
        file = sample_dataset_file()
        if not file.is_file():
            raise LoradeskError(f"the sample dataset is missing from this installation ({file})")
        dataset = add_dataset(ws, file=file, name=DEMO_DATASET_NAME)
    return create_job(
        ws,
        dataset_id=dataset.id,
        name="demo: tiny model · numbers in words",
        hyperparameters={"base_model": TINY_MODEL},  # the record's defaults suit the tiny model
    )
