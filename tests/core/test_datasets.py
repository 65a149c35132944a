"""Dataset files: JSON Lines pairs validated at `add`, stored in their bucket, counted."""

from __future__ import annotations

import pytest

from core.dataset_format import DatasetFormatError
from core.datasets import add_dataset, count_pairs, find_dataset, list_datasets
from core.errors import NotFoundError
from core.storage import StorageError


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"prompt": "a", "completion": "b"}\nnot json\n', "line 2: not valid JSON"),
        ('["prompt", "completion"]\n', "line 1: expected an object"),
        ('{"prompt": "a", "completion": 3}\n', 'line 1: "completion" must be a string'),
        ('{"completion": "b"}\n', 'line 1: "prompt" must be a string'),
        ("\n\n", "no training pairs"),
    ],
)
def test_malformed_files_name_the_line_at_fault(tmp_path, content, message):
    file = tmp_path / "data.jsonl"
    file.write_text(content)
    with pytest.raises(DatasetFormatError, match=message):
        count_pairs(file)


def test_blank_lines_are_not_pairs(tmp_path):
    file = tmp_path / "data.jsonl"
    file.write_text('{"prompt": "a", "completion": "b"}\n\n{"prompt": "c", "completion": "d", "extra": 1}\n')
    assert count_pairs(file) == 2


def test_add_copies_into_the_bucket_and_records_the_count(make_workspace, dataset_file):
    ws = make_workspace()
    dataset = add_dataset(ws, file=dataset_file, name="sums", bucket="training-files")
    assert dataset.total_pairs == 20 and dataset.training_ready
    stored = ws.storage.object_file(dataset.storage_bucket, dataset.storage_path)
    assert stored.read_bytes() == dataset_file.read_bytes()
    assert stored.is_relative_to(ws.settings.home / "storage" / "training-files")
    assert list_datasets(ws) == [dataset]
    assert find_dataset(ws, ref="sums") == find_dataset(ws, ref=dataset.id) == dataset


def test_refused_file_leaves_nothing_behind(make_workspace, tmp_path):
    ws = make_workspace()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{}\n")
    with pytest.raises(DatasetFormatError):
        add_dataset(ws, file=bad)
    assert list_datasets(ws) == []
    assert not (ws.settings.home / "storage" / "lora-datasets").exists()


def test_unknown_bucket_is_refused(make_workspace, dataset_file):
    ws = make_workspace()
    with pytest.raises(StorageError, match="unknown bucket"):
        add_dataset(ws, file=dataset_file, bucket="elsewhere")


def test_other_users_datasets_are_invisible(make_workspace, dataset_file):
    add_dataset(make_workspace("alice"), file=dataset_file, name="mine")
    bob = make_workspace("bob")
    assert list_datasets(bob) == []
    with pytest.raises(NotFoundError):
        find_dataset(bob, ref="mine")
