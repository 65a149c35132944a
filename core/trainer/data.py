"""The dataset: find it, read its examples (pairs or conversations), hold out a validation split,
encode them with their labels (what the loss covers), pack them if asked.

Standard library only: the trainer checks the dataset before the seconds of torch's imports.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from core.formats import dataset_file
from core.formats.dataset_file import Conversation
from core.storage.buckets import StorageError
from core.storage.folder import LocalStorage, file_url_path
from core.trainer.spec import TrainerError
from core.trainer.tokenizer import TextCodec, built_in_chat

DOWNLOADED_DATASET = "dataset.jsonl"
IGNORE_INDEX = -100  # label value the loss skips: prompt tokens and padding


class DatasetError(TrainerError):
    pass


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]
    position_ids: list[int] | None = None  # packed rows only: positions restart with each example


def dataset_path(url: str, storage_root: Path | None, download_dir: Path | None = None) -> Path:
    """The local file behind a dataset URL; a signed URL is checked when the storage is known.
    An http(s) URL (a presigned one of object storage) is downloaded into `download_dir` first."""
    scheme = urlsplit(url).scheme
    try:
        if scheme in ("http", "https"):
            from core.trainer.transfer import download

            if download_dir is None:
                raise DatasetError("nowhere to download the dataset to")
            download_dir.mkdir(parents=True, exist_ok=True)
            path = download(url, download_dir / DOWNLOADED_DATASET)
        elif scheme == "file" and storage_root is not None:
            if not storage_root.is_dir():
                raise DatasetError(f"the storage folder {storage_root} does not exist")
            path = LocalStorage(storage_root).open_signed_url(url)
        elif scheme == "file":
            path = file_url_path(url)  # nobody to check a signature with: trust the URL
        elif scheme and len(scheme) > 1:  # len 1: a Windows drive letter, still a path
            raise DatasetError(f"the trainer reads file:// and http(s):// URLs, not {scheme}://")
        else:
            path = Path(url).expanduser()
    except StorageError as exc:
        raise DatasetError(f"dataset URL: {exc}") from None
    if not path.is_file():
        raise DatasetError(f"the dataset file {path} does not exist")
    return path


def read_examples(path: Path) -> list[dataset_file.Example]:
    """Every example (pair or conversation) of a JSON Lines file; the first bad line stops it."""
    try:
        return list(dataset_file.read_examples(path, label="dataset"))
    except dataset_file.DatasetFormatError as exc:
        raise DatasetError(str(exc)) from None


def split_examples(
    examples: list[dataset_file.Example], validation_split: float, seed: int
) -> tuple[list[dataset_file.Example], list[dataset_file.Example]]:
    """(training, validation): a seeded shuffle, so a rerun holds out the same examples."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    held_out = min(round(len(examples) * validation_split), len(examples) - 1)
    validation = [examples[i] for i in order[:held_out]]
    training = [examples[i] for i in order[held_out:]]
    return training, validation


def encode_examples(examples: list[dataset_file.Example], codec: TextCodec, max_length: int) -> list[Example]:
    """Examples whose loss covers what the model should say: a pair's completion, a
    conversation's assistant turns; the rest is context. Cut at `max_length` tokens."""
    encoded = []
    for example in examples:
        if isinstance(example[0], str):
            prompt, completion = example
            ids, labels = _encode_pair(prompt, completion, codec)
        else:
            ids, labels = _encode_conversation(example, codec)
        ids, labels = ids[:max_length], labels[:max_length]
        if any(label != IGNORE_INDEX for label in labels):
            encoded.append(Example(ids, labels))
    if examples and not encoded:
        raise DatasetError(
            f"every example fills max_length ({max_length} tokens) before the part to learn starts"
        )
    return encoded


def _encode_pair(prompt: str, completion: str, codec: TextCodec) -> tuple[list[int], list[int]]:
    prefix = ([codec.bos_id] if codec.bos_id is not None else []) + codec.encode(prompt)
    answer = [*codec.encode(completion), codec.eos_id]
    return prefix + answer, [IGNORE_INDEX] * len(prefix) + answer


def _encode_conversation(turns: Conversation, codec: TextCodec) -> tuple[list[int], list[int]]:
    segments = codec.render_chat(turns) if codec.render_chat is not None else None
    built_in = segments is None  # the template's own text carries its special tokens
    if segments is None:
        segments = built_in_chat(turns)
    ids = [codec.bos_id] if built_in and codec.bos_id is not None else []
    labels = [IGNORE_INDEX] * len(ids)
    for text, trained in segments:
        tokens = codec.encode(text) + ([codec.eos_id] if built_in and trained else [])
        ids += tokens
        labels += tokens if trained else [IGNORE_INDEX] * len(tokens)
    return ids, labels


def sample_pair(example: dataset_file.Example, codec: TextCodec) -> tuple[str, str]:
    """(prompt, expected answer) of an example, for the sample answers at each evaluation: a pair
    as it is; a conversation's context up to its first assistant turn, as the model reads it, and
    that turn's words."""
    if isinstance(example[0], str):
        return example
    turns: Conversation = example
    first = next(i for i, (role, _) in enumerate(turns) if role == "assistant")
    segments = codec.render_chat(turns[: first + 1]) if codec.render_chat is not None else None
    if segments is None:
        segments = built_in_chat(turns[: first + 1])
    context = []
    for text, trained in segments:
        if trained:
            break
        context.append(text)
    return "".join(context), turns[first][1]


def pack(examples: list[Example], max_length: int) -> list[Example]:
    """Several examples to a row of at most `max_length` tokens (first fit, longest first), each
    keeping its own positions: transformers' attention sees where one ends and the next begins
    from `position_ids` restarting at 0, so packed examples do not attend to one another."""
    rows: list[tuple[list[int], list[int], list[int]]] = []
    for example in sorted(examples, key=lambda e: len(e.input_ids), reverse=True):
        size = len(example.input_ids)
        row = next((r for r in rows if len(r[0]) + size <= max_length), None)
        if row is None:
            row = ([], [], [])
            rows.append(row)
        row[0].extend(example.input_ids)
        row[1].extend(example.labels)
        row[2].extend(range(size))
    return [Example(ids, labels, positions) for ids, labels, positions in rows]
