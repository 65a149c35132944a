"""Dataset files: JSON Lines pairs validated at `add`, stored in their bucket, counted."""

from __future__ import annotations

import json
import threading
import tracemalloc

import pytest

from core.datasets.catalog import add_dataset, count_pairs, find_dataset, list_datasets
from core.db.models import DatasetRow, new_id, utcnow
from core.errors import InvalidRequestError, NotFoundError
from core.formats.dataset_file import MAX_LINE_BYTES, DatasetFormatError, read_examples
from core.names import NAME_MAX_CHARS
from core.storage.buckets import StorageError


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"prompt": "a", "completion": "b"}\nnot json\n', "line 2: not valid JSON"),
        ('["prompt", "completion"]\n', "line 1: expected an object"),
        ('{"prompt": "a", "completion": 3}\n', 'line 1: "completion" must be a string'),
        ('{"completion": "b"}\n', 'line 1: the key "prompt" is missing'),
        ('{"prompt": null, "completion": "b"}\n', 'line 1: "prompt" must be a string'),
        ("\n\n", "no training examples"),
        (
            '{"prompt": "a", "completion": "b"}\n{"messages": []}\n',
            'line 2: "messages" must be a non-empty list',
        ),
        ('{"messages": [{"role": "user", "content": "hi"}]}\n', "line 1: no assistant message"),
        (
            '{"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "yo"}]}\n',
            "line 1 message 2: role must be one of system, user, assistant, not 'bot'",
        ),
        (
            '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": 5}]}\n',
            'line 1 message 2: "content" must be a string',
        ),
        ('{"messages": ["hello"]}\n', "line 1 message 1: expected an object"),
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


def test_conversations_and_pairs_are_examples_alike(tmp_path):
    file = tmp_path / "chat.jsonl"
    chat = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"},
                         {"role": "assistant", "content": "4"}]}  # fmt: skip
    file.write_text(json.dumps(chat) + "\n" + '{"prompt": "a", "completion": "b"}\n')
    assert count_pairs(file) == 2
    assert list(read_examples(file)) == [
        (("system", "Be brief."), ("user", "2+2?"), ("assistant", "4")),
        ("a", "b"),
    ]


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


def test_a_folder_and_a_missing_key_are_named(tmp_path):
    with pytest.raises(DatasetFormatError, match="is a folder"):
        count_pairs(tmp_path)
    file = tmp_path / "data.jsonl"
    file.write_text('{"prompt": "a", "completion": "b"}\n{"completion": "b"}\n')
    with pytest.raises(DatasetFormatError, match=r'data\.jsonl line 2: the key "prompt" is missing'):
        count_pairs(file)


def test_a_huge_single_line_is_refused_in_bounded_memory(tmp_path):
    file = tmp_path / "one-line.jsonl"
    chunk = b"x" * (1024 * 1024)
    with file.open("wb") as out:  # a 200 MB line, written a megabyte at a time
        out.write(b'{"prompt": "')
        for _ in range(200):
            out.write(chunk)
        out.write(b'", "completion": "b"}\n')
    tracemalloc.start()
    try:
        with pytest.raises(DatasetFormatError, match="line 1: longer than 4 MiB"):
            count_pairs(file)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * MAX_LINE_BYTES, f"validation held {peak / 2**20:.0f} MiB of a 200 MB line"


def test_a_line_at_the_cap_is_accepted(tmp_path):
    file = tmp_path / "long.jsonl"
    envelope = '{"prompt": "", "completion": "b"}'
    file.write_text('{"prompt": "' + "p" * (MAX_LINE_BYTES - len(envelope)) + '", "completion": "b"}\n')
    assert count_pairs(file) == 1


def test_a_second_dataset_with_the_same_name_is_refused_before_copying(make_workspace, dataset_file):
    ws = make_workspace()
    first = add_dataset(ws, file=dataset_file, name="sums")
    with pytest.raises(InvalidRequestError, match=f"already have a dataset named 'sums' \\({first.id}\\)"):
        add_dataset(ws, file=dataset_file, name="sums")
    assert list_datasets(ws) == [first]
    assert len(list((ws.settings.home / "storage" / "lora-datasets").rglob("*.jsonl"))) == 1
    # another user's names are theirs
    add_dataset(make_workspace("bob"), file=dataset_file, name="sums")


def test_racing_adds_of_one_name_record_one(make_workspace, dataset_file):
    workspaces = [make_workspace(), make_workspace()]
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def add(ws):
        barrier.wait()
        try:
            outcomes.append(add_dataset(ws, file=dataset_file, name="sums"))
        except InvalidRequestError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=add, args=(ws,)) for ws in workspaces]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(type(o).__name__ for o in outcomes) == ["Dataset", "InvalidRequestError"]
    assert len(list_datasets(workspaces[0])) == 1
    assert len(list((workspaces[0].settings.home / "storage" / "lora-datasets").rglob("*.jsonl"))) == 1


def test_an_ambiguous_name_is_never_picked(make_workspace, dataset_file):
    ws = make_workspace()
    first = add_dataset(ws, file=dataset_file, name="sums")
    with ws.db.write() as session:  # two of one name, as databases from before the rule may hold
        session.add(
            DatasetRow(
                id=new_id(),
                user_id=ws.user,
                name="sums",
                storage_bucket=None,
                storage_path=first.storage_path,
                training_ready=True,
                total_pairs=1,
                created_at=utcnow(),
            )
        )
    with pytest.raises(InvalidRequestError, match="2 datasets are named 'sums'; give one of their ids"):
        find_dataset(ws, ref="sums")
    assert find_dataset(ws, ref=first.id) == first


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, "two\nlines"])
def test_bad_names_are_refused_before_anything_is_stored(make_workspace, dataset_file, name):
    ws = make_workspace()
    with pytest.raises(InvalidRequestError, match="dataset name"):
        add_dataset(ws, file=dataset_file, name=name)
    assert list_datasets(ws) == []
    assert not (ws.settings.home / "storage").exists()


def test_names_of_200_characters_fit_every_database(make_workspace, dataset_file):
    ws = make_workspace()
    name = "é" * NAME_MAX_CHARS
    assert add_dataset(ws, file=dataset_file, name=f"  {name} ").name == name
    assert find_dataset(ws, ref=name).name == name


def test_a_255_byte_file_name_makes_a_dataset(make_workspace, tmp_path, dataset_file):
    ws = make_workspace()
    long_file = tmp_path / ("n" * 249 + ".jsonl")
    assert len(long_file.name.encode()) == 255
    long_file.write_bytes(dataset_file.read_bytes())
    dataset = add_dataset(ws, file=long_file)
    assert dataset.name == "n" * 199 + "…" and dataset.total_pairs == 20
    stored = ws.storage.object_file(dataset.storage_bucket, dataset.storage_path)
    assert stored.name == long_file.name and stored.read_bytes() == long_file.read_bytes()
    assert [p.name for p in stored.parent.iterdir()] == [long_file.name]  # no .part left behind


def test_a_full_disk_is_one_line_and_leaves_nothing_behind(
    home, database_url, dataset_file, monkeypatch, capsys
):
    """ENOSPC half-way through the copy: `datasets add` says so in one line, and neither the
    partial file, the folders made for it nor a dataset row remains."""
    import errno
    import shutil

    from core.cli.main import main

    def fill_the_disk(source, target):
        with open(target, "wb") as out:
            out.write(b"half a dataset")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", fill_the_disk)
    monkeypatch.setenv("LORADESK_DATABASE_URL", database_url)
    assert main(["datasets", "add", str(dataset_file)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("loradesk: no space left on the disk of ") and err.count("\n") == 1
    assert "internal error" not in err and "Errno" not in err
    bucket = home / "storage" / "lora-datasets"
    assert not bucket.exists() or list(bucket.rglob("*")) == []
    monkeypatch.undo()
    monkeypatch.setenv("LORADESK_HOME", str(home))
    monkeypatch.setenv("LORADESK_DATABASE_URL", database_url)
    assert main(["datasets", "list", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
