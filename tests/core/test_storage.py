"""Local storage: bucket confinement and signed URLs with an expiry."""

from __future__ import annotations

import pytest

from core.storage.buckets import StorageError
from core.storage.folder import LocalStorage


@pytest.fixture
def storage(tmp_path):
    store = LocalStorage(tmp_path / "storage")
    source = tmp_path / "file.jsonl"
    source.write_text("{}")
    store.put("lora-datasets", "u/d/file.jsonl", source)
    return store


@pytest.mark.parametrize("path", ["../escape.jsonl", "/etc/passwd", "u/../../x", "", "a//b", "a\\..\\b"])
def test_paths_that_escape_a_bucket_are_refused(storage, path):
    with pytest.raises(StorageError):
        storage.object_file("lora-datasets", path)


def test_symlink_out_of_the_bucket_is_refused(storage, tmp_path):
    (tmp_path / "storage" / "lora-datasets" / "link").symlink_to(tmp_path)
    with pytest.raises(StorageError, match="leaves its bucket"):
        storage.object_file("lora-datasets", "link/file.jsonl")


def test_signed_url_round_trip_and_tampering(storage):
    url = storage.signed_url(None, "u/d/file.jsonl")  # None means lora-datasets
    assert storage.open_signed_url(url).read_text() == "{}"
    with pytest.raises(StorageError, match="signature"):
        storage.open_signed_url(url.replace("file.jsonl", "other.jsonl"))
    with pytest.raises(StorageError, match="not signed"):
        storage.open_signed_url(url.split("?")[0])


def test_signed_url_expires(storage):
    expired = storage.signed_url("lora-datasets", "u/d/file.jsonl", expires_in=-1)
    with pytest.raises(StorageError, match="expired"):
        storage.open_signed_url(expired)


def test_signed_urls_last_24_hours(storage):
    import time
    from urllib.parse import parse_qs, urlsplit

    url = storage.signed_url("lora-datasets", "u/d/file.jsonl")
    expires = int(parse_qs(urlsplit(url).query)["expires"][0])
    assert abs(expires - (time.time() + 24 * 3600)) < 60


def test_missing_file_and_unknown_bucket(storage):
    with pytest.raises(StorageError, match="missing from storage"):
        storage.signed_url("training-files", "u/d/file.jsonl")
    with pytest.raises(StorageError, match="unknown bucket"):
        storage.signed_url("private", "u/d/file.jsonl")
