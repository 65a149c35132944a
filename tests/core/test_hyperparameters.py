"""The one hyperparameters record: defaults, limits, the stored JSON, and create_job refusing
what no backend could run before anything is written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.config import load_settings
from core.datasets.catalog import add_dataset
from core.errors import LoradeskError
from core.formats.hyperparameters import (
    DEFAULT_LEARNING_RATE,
    TINY_LEARNING_RATE,
    TINY_MODEL,
    HyperparameterError,
    Hyperparameters,
)
from core.jobs.request import check_new_job, default_job_name
from core.jobs.service import create_job, list_jobs
from core.names import NAME_MAX_CHARS
from core.trainer.spec import load_spec


def test_defaults_follow_the_base_model():
    tiny, unknown = Hyperparameters.from_values(
        {"epochs": 2.0, "colour": "blue"}, default_base_model=TINY_MODEL
    )
    assert (tiny.base_model, tiny.epochs, tiny.learning_rate, tiny.lora_alpha) == (TINY_MODEL, 2, 3e-3, 16)
    assert unknown == {"colour": "blue"}
    cluster, _ = Hyperparameters.from_values({"lora_rank": 32})
    assert (cluster.base_model, cluster.learning_rate, cluster.lora_alpha) == (
        None,
        DEFAULT_LEARNING_RATE,
        64,
    )


def test_the_stored_json_keeps_the_spec_names():
    record, _ = Hyperparameters.from_values({"max_steps": 5}, default_base_model=TINY_MODEL)
    assert record.stored() == {
        "base_model": "tiny",
        "epochs": 3,
        "learning_rate": TINY_LEARNING_RATE,
        "lora_rank": 8,
        "lora_alpha": 16,
        "batch_size": 8,
        "max_steps": 5,
    }
    assert "base_model" not in Hyperparameters().stored()  # the cluster picks its own


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epochs": 0}, "epochs must be a whole number from 1 to 10,000, not 0"),
        ({"epochs": 2.5}, "epochs must be a whole number from 1 to 10,000, not 2.5"),
        ({"learning_rate": 0}, "learning rate must be a number above 0 and below 1, not 0"),
        ({"learning_rate": -2e-4}, "learning rate must be a number above 0 and below 1, not -0.0002"),
        ({"learning_rate": 3.0}, "learning rate must be a number above 0 and below 1, not 3.0"),
        ({"learning_rate": float("nan")}, "learning rate must be a number above 0 and below 1, not nan"),
        ({"lora_rank": 0}, "lora rank must be a whole number from 1 to 4,096, not 0"),
        ({"lora_alpha": -1}, "lora alpha must be a whole number from 1 to 1,000,000, not -1"),
        ({"batch_size": 0}, "batch size must be a whole number from 1 to 65,536, not 0"),
        ({"batch_size": True}, "batch size must be a whole number from 1 to 65,536, not True"),
        ({"base_model": "  "}, "base model must be 'tiny', a local model folder or a model name"),
        ({"max_new_tokens": 0}, "max new tokens must be a whole number from 1 to 4,096, not 0"),
        ({"sample_prompts": "Hello"}, "sample prompts must be a list of texts"),
        ({"sample_prompts": ["Hi", " "]}, "sample prompt 2 must be a non-empty text"),
        ({"sample_prompts": ["x"] * 17}, "at most 16 sample prompts, not 17"),
        ({"sample_prompts": ["x" * 4001]}, "sample prompt 1 is 4,001 characters; at most 4,000"),
    ],
)
def test_values_no_run_could_use_are_refused_in_one_line(values, message):
    with pytest.raises(HyperparameterError) as caught:
        Hyperparameters.from_values(values)
    assert str(caught.value) == message


def test_the_trainer_reads_the_same_record(tmp_path: Path):
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "job_id": "j",
                "dataset_url": "file:///x",
                "output_dir": str(tmp_path),
                "hyperparameters": Hyperparameters(base_model=TINY_MODEL, lora_rank=4, lora_alpha=8).stored(),
            }
        )
    )
    loaded = load_spec(spec).hyperparameters
    assert isinstance(loaded, Hyperparameters)
    assert loaded == Hyperparameters(base_model=TINY_MODEL, lora_rank=4, lora_alpha=8)


def test_sample_settings_travel_to_the_trainer_and_back(tmp_path: Path):
    record, _ = Hyperparameters.from_values({"sample_prompts": ["Say hi", "Count"], "max_new_tokens": 32})
    stored = record.stored()
    assert stored["sample_prompts"] == ["Say hi", "Count"] and stored["max_new_tokens"] == 32
    assert "sample_prompts" not in Hyperparameters().stored()  # the default: validation prompts
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"job_id": "j", "dataset_url": "file:///x", "hyperparameters": stored}))
    loaded = load_spec(spec).hyperparameters
    assert loaded.sample_prompts == ("Say hi", "Count") and loaded.max_new_tokens == 32


def test_default_job_names_fit_even_for_the_longest_dataset_name():
    name = default_job_name("d" * NAME_MAX_CHARS, Hyperparameters(epochs=10_000, lora_rank=4096))
    assert len(name) == NAME_MAX_CHARS and name.endswith("… · r4096 · 10000 ep")


@pytest.fixture
def local_settings(home: Path):
    return load_settings({"home": str(home), "user": "alice", "cluster": "local"})


def test_a_local_job_needs_a_base_model_this_machine_can_name(local_settings, tmp_path: Path):
    request = check_new_job(local_settings, name=None, hyperparameters=None, gpu_type=None, gpu_count=1)
    assert request.stored_hyperparameters["base_model"] == TINY_MODEL
    assert request.hyperparameters.learning_rate == TINY_LEARNING_RATE
    with pytest.raises(
        HyperparameterError,
        match=re.escape(
            "base model './llama3-8b' is neither 'tiny', a local model folder with a config.json"
        ),
    ):
        check_new_job(
            local_settings,
            name=None,
            hyperparameters={"base_model": "./llama3-8b"},
            gpu_type=None,
            gpu_count=1,
        )
    # A Hugging Face id: the trainer finds it in the Hub's cache, or fetches it.
    request = check_new_job(
        local_settings, name=None, hyperparameters={"base_model": "meta-llama/Llama-3.1-8B"}, gpu_type=None,
        gpu_count=1,
    )  # fmt: skip
    assert request.stored_hyperparameters["base_model"] == "meta-llama/Llama-3.1-8B"
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    request = check_new_job(
        local_settings, name=None, hyperparameters={"base_model": str(folder)}, gpu_type=None, gpu_count=1
    )
    assert request.stored_hyperparameters["learning_rate"] == DEFAULT_LEARNING_RATE


def test_a_ray_job_defaults_to_the_tiny_model_and_leaves_model_folders_to_the_nodes(home: Path):
    settings = load_settings({"home": str(home), "cluster": "ray", "cluster_url": "http://head:8265"})
    request = check_new_job(settings, name=None, hyperparameters=None, gpu_type="cpu", gpu_count=1)
    assert request.stored_hyperparameters["base_model"] == TINY_MODEL
    assert request.hyperparameters.learning_rate == TINY_LEARNING_RATE
    on_nodes = {"base_model": "/models/llama3-8b"}  # not a folder here: the node's to check
    request = check_new_job(settings, name=None, hyperparameters=on_nodes, gpu_type="L4", gpu_count=2)
    assert request.stored_hyperparameters["base_model"] == "/models/llama3-8b"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gpu_count": 0}, "gpu count must be a whole number from 1 to 1,024, not 0"),
        ({"gpu_count": 10**12}, "gpu count must be a whole number from 1 to 1,024"),
        ({"gpu_type": "TPU"}, "unknown GPU type 'TPU'; known types: A100-40GB"),
        ({"hyperparameters": {"epochs": -1}}, "epochs must be a whole number"),
        ({"name": "n" * 201}, "a job name may have at most 200 characters; this one has 201"),
        ({"name": " "}, "a job name must not be empty"),
    ],
)
def test_create_job_refuses_before_writing(make_workspace, dataset_file, options, message):
    ws = make_workspace()
    dataset = add_dataset(ws, file=dataset_file)
    with pytest.raises(LoradeskError, match=re.escape(message)) as caught:
        create_job(ws, dataset_id=dataset.id, **options)
    assert "\n" not in str(caught.value)
    assert list_jobs(ws) == []


def test_a_200_character_job_name_is_stored_whole(make_workspace, dataset_file):
    ws = make_workspace()
    dataset = add_dataset(ws, file=dataset_file, name="d" * NAME_MAX_CHARS)
    named = create_job(ws, dataset_id=dataset.id, name="j" * NAME_MAX_CHARS)
    default = create_job(ws, dataset_id=dataset.id)
    assert {job.name for job in list_jobs(ws)} == {named.name, default.name}
    assert named.name == "j" * NAME_MAX_CHARS and len(default.name) == NAME_MAX_CHARS
