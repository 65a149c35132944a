"""The cluster token: environment variable first, then a real keyring backend, never a file of ours."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import KeyringLocked, PasswordDeleteError
from keyrings.alt.file import PlaintextKeyring

from core import secrets
from core.secrets import (
    NO_KEYRING_WARNING,
    SecretStoreError,
    delete_cluster_token,
    get_cluster_token,
    set_cluster_token,
)

URL = "https://gpus.example/api"


class MemoryKeyring(KeyringBackend):
    """A real backend that keeps its secrets in a dict."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.store.pop((service, username), None) is None:
            raise PasswordDeleteError("not stored")


class LockedKeyring(MemoryKeyring):
    """A keyring that exists but refuses every call, as a locked one does."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("the keyring is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("the keyring is locked")


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No real keyring, variable or home folder of the machine is touched; warnings start afresh."""
    monkeypatch.delenv(secrets.TOKEN_ENV, raising=False)
    for name in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(name, str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(secrets, "_warned_no_keyring", False)
    before = keyring.get_keyring()
    yield
    keyring.set_keyring(before)


def test_environment_variable_wins_over_the_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    keyring.set_keyring(MemoryKeyring())
    set_cluster_token(URL, "from-keyring")

    monkeypatch.setenv(secrets.TOKEN_ENV, "  from-env\n")
    assert get_cluster_token(URL) == "from-env"

    monkeypatch.setenv(secrets.TOKEN_ENV, "")  # set but empty counts as unset
    assert get_cluster_token(URL) == "from-keyring"


@pytest.mark.parametrize("backend", ["memory", "keyrings.alt file"])
def test_keyring_round_trip(backend: str, tmp_path: Path) -> None:
    if backend == "memory":
        store: KeyringBackend = MemoryKeyring()
    else:
        store = PlaintextKeyring()
        store.file_path = str(tmp_path / "keyring.cfg")  # type: ignore[misc]
    keyring.set_keyring(store)

    assert get_cluster_token(URL) is None
    set_cluster_token(URL, "tok-1")
    set_cluster_token("https://other.example", "tok-2")
    assert get_cluster_token(URL) == "tok-1"
    assert store.get_password("loradesk", URL) == "tok-1"  # service and user as SPEC §2 names them

    set_cluster_token(URL, "tok-3")
    assert get_cluster_token(URL) == "tok-3"
    delete_cluster_token(URL)
    delete_cluster_token(URL)  # forgetting twice is fine
    assert get_cluster_token(URL) is None
    assert get_cluster_token("https://other.example") == "tok-2"


def test_empty_token_is_refused() -> None:
    keyring.set_keyring(MemoryKeyring())
    with pytest.raises(SecretStoreError, match="empty"):
        set_cluster_token(URL, "   ")


@pytest.mark.parametrize("backend", [fail.Keyring, LockedKeyring])
def test_without_a_keyring_the_variable_is_used_with_one_warning(
    backend: type[KeyringBackend],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    keyring.set_keyring(backend())
    caplog.set_level(logging.WARNING, logger="core.secrets")

    assert get_cluster_token(URL) is None
    assert get_cluster_token(URL) is None
    with pytest.raises(SecretStoreError, match=r"keyring.*LORADESK_CLUSTER_TOKEN|keyring refused"):
        set_cluster_token(URL, "tok-secret")
    monkeypatch.setenv(secrets.TOKEN_ENV, "tok-env")
    assert get_cluster_token(URL) == "tok-env"

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [NO_KEYRING_WARNING]
    assert "tok-secret" not in caplog.text
    assert list(tmp_path.rglob("*")) == []  # nothing written anywhere, home folder included


def test_store_error_never_shows_the_token() -> None:
    class Leaky(MemoryKeyring):
        def set_password(self, service: str, username: str, password: str) -> None:
            raise KeyringLocked(f"cannot store {password}")

    keyring.set_keyring(Leaky())
    with pytest.raises(SecretStoreError) as caught:
        set_cluster_token(URL, "tok-leak")
    assert "tok-leak" not in str(caught.value)


def test_no_keyring_says_nothing_when_no_secret_is_needed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A token from the variable, a Ray dashboard without one, a database password looked up
    for a server that may not want one: none of them is a reason to talk about keyrings."""
    keyring.set_keyring(fail.Keyring())
    caplog.set_level(logging.DEBUG, logger="core.secrets")
    monkeypatch.setenv(secrets.TOKEN_ENV, "tok-env")
    assert get_cluster_token(URL) == "tok-env"
    monkeypatch.delenv(secrets.TOKEN_ENV)
    assert get_cluster_token(URL, required=False) is None
    assert secrets.get_database_password("postgresql+psycopg://alice@db/x") is None
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
