"""The dataset: find it, read its prompt/completion pairs, hold out a validation split, encode."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from core import dataset_format
from core.storage import LocalStorage, StorageError, file_url_path
from core.trainer.spec import TrainerError
from core.trainer.tokenizer import TextCodec

DOWNLOADED_DATASET = "dataset.jsonl"
IGNORE_INDEX = -100  # label value the loss skips: prompt tokens and padding


class DatasetError(TrainerError):
    pass


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]


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


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """Every pair of a JSON Lines file; the first bad line stops it, named by its number."""
    try:
        return list(dataset_format.read_pairs(path, label="dataset"))
    except dataset_format.DatasetFormatError as exc:
        raise DatasetError(str(exc)) from None


def split_pairs(
    pairs: list[tuple[str, str]], validation_split: float, seed: int
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(training, validation): a seeded shuffle, so a rerun holds out the same pairs."""
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    held_out = min(round(len(pairs) * validation_split), len(pairs) - 1)
    validation = [pairs[i] for i in order[:held_out]]
    training = [pairs[i] for i in order[held_out:]]
    return training, validation


def encode_pairs(pairs: list[tuple[str, str]], codec: TextCodec, max_length: int) -> list[Example]:
    """Examples whose loss covers the completion only: the model learns to answer, not to ask."""
    examples = []
    for prompt, completion in pairs:
        prefix = ([codec.bos_id] if codec.bos_id is not None else []) + codec.encode(prompt)
        answer = [*codec.encode(completion), codec.eos_id]
        input_ids = (prefix + answer)[:max_length]
        labels = ([IGNORE_INDEX] * len(prefix) + answer)[:max_length]
        if any(label != IGNORE_INDEX for label in labels):
            examples.append(Example(input_ids, labels))
    if pairs and not examples:
        raise DatasetError(
            f"every prompt fills max_length ({max_length} tokens) before its completion starts"
        )
    return examples
