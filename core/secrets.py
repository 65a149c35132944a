"""Secrets: the cluster API token and the database password; a variable first, else the OS keyring.

The token's keyring entry is service `loradesk`, username = the cluster URL, so each cluster keeps
its own token. A database password's entry is service `loradesk`, username = the database URL
without its password (`password_key`), so each role on each server keeps its own. Where no keyring
works we fall back to the variables alone: Loradesk never writes a secret to a file of its own
(SPEC §2).
"""

from __future__ import annotations

import logging
import os
import threading

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.errors import KeyringError, PasswordDeleteError
from sqlalchemy.engine import URL, make_url

from core.errors import LoradeskError

SERVICE = "loradesk"
TOKEN_ENV = "LORADESK_CLUSTER_TOKEN"
PASSWORD_ENV = "LORADESK_DATABASE_PASSWORD"
NO_KEYRING_WARNING = f"no OS keyring available; use {TOKEN_ENV} (and {PASSWORD_ENV} for a database password)"

log = logging.getLogger(__name__)

# The warning is said once per process: a scheduler asks for the token every cycle.
_warned_no_keyring = False
_warn_lock = threading.Lock()


class SecretStoreError(LoradeskError):
    """The token could not be stored or removed; the message says why, fit for a user."""


def get_cluster_token(cluster_url: str, *, required: bool = True) -> str | None:
    """The token for `cluster_url`, or None when neither the variable nor the keyring has one.
    Only a `required` token that is found nowhere, with no keyring to look in, is worth the
    one notice that there is no keyring."""
    from_env = os.environ.get(TOKEN_ENV, "").strip()
    if from_env:
        return from_env
    stored, reachable = _look_up(cluster_url)
    if stored is None and required and not reachable:
        _warn_no_keyring()
    return stored


def password_key(database_url: str) -> str:
    """The keyring username of a database password: the URL without password, driver or query,
    with the port spelled out, so `postgresql://alice@db/x` and `postgresql+psycopg://alice@db:5432/x`
    find the same entry."""
    url = make_url(database_url)
    return URL.create(
        url.get_backend_name(),
        username=url.username,
        host=url.host,
        port=url.port or (5432 if url.get_backend_name() == "postgresql" else None),
        database=url.database,
    ).render_as_string(hide_password=False)


def get_database_password(database_url: str) -> str | None:
    """The password to connect to `database_url` with: `LORADESK_DATABASE_PASSWORD`, else the keyring
    entry of that role on that server, else None (libpq then tries ~/.pgpass and PGPASSWORD)."""
    from_env = os.environ.get(PASSWORD_ENV, "")
    if from_env:
        return from_env
    return keyring_database_password(database_url)


def missing_password_hint() -> str:
    """What to do when the server asks for a password none was found for."""
    if _usable_keyring() is None:
        return f"no OS keyring available: set {PASSWORD_ENV}"
    return f"set {PASSWORD_ENV} or keep it in the OS keyring (Settings → Database password)"


def keyring_database_password(database_url: str) -> str | None:
    """The keyring's password for the role and server of `database_url` (no variable consulted)."""
    return _stored_secret(password_key(database_url))


def set_database_password(database_url: str, password: str) -> None:
    """Keep `password` in the OS keyring for the role and server of `database_url`."""
    if not password:
        raise SecretStoreError("the database password is empty")
    _store_secret(password_key(database_url), password, "database password", PASSWORD_ENV)


def _stored_secret(username: str) -> str | None:
    return _look_up(username)[0]


def _look_up(username: str) -> tuple[str | None, bool]:
    """The keyring's secret for `username`, and whether there was a keyring to ask."""
    backend = _usable_keyring()
    if backend is None:
        return None, False
    try:
        stored = backend.get_password(SERVICE, username)
    except KeyringError as exc:  # a locked keyring: as good as none for this look
        log.debug("the OS keyring could not be read: %s", exc)
        return None, False
    return stored or None, True


def set_cluster_token(cluster_url: str, token: str) -> None:
    """Store `token` for `cluster_url` in the OS keyring (the variable, when set, still wins)."""
    token = token.strip()
    if not token:
        raise SecretStoreError("the API token is empty")
    _store_secret(cluster_url, token, "API token", TOKEN_ENV)


def _store_secret(username: str, secret: str, what: str, variable: str) -> None:
    backend = _usable_keyring()
    if backend is None:
        raise SecretStoreError(f"no OS keyring is available to keep the {what}; set {variable} instead")
    try:
        backend.set_password(SERVICE, username, secret)
    except KeyringError as exc:
        reason = _one_line(str(exc)).replace(secret, "***") or type(exc).__name__
        raise SecretStoreError(f"the OS keyring refused to store the {what}: {reason}") from None


def delete_cluster_token(cluster_url: str) -> None:
    """Forget the stored token for `cluster_url`; nothing stored is not an error."""
    backend = _usable_keyring()
    if backend is None:
        return  # nothing can have been stored there
    try:
        backend.delete_password(SERVICE, cluster_url)
    except PasswordDeleteError:
        return
    except KeyringError as exc:
        reason = _one_line(str(exc)) or type(exc).__name__
        raise SecretStoreError(f"the OS keyring refused to remove the API token: {reason}") from None


def _usable_keyring() -> KeyringBackend | None:
    backend = keyring.get_keyring()
    # `fail` is what keyring picks when it finds nothing; `null` is a user switching it off.
    if isinstance(backend, fail.Keyring | null.Keyring):
        return None
    return backend


def _warn_no_keyring() -> None:
    global _warned_no_keyring
    with _warn_lock:
        if _warned_no_keyring:
            return
        _warned_no_keyring = True
    log.warning(NO_KEYRING_WARNING)


def _one_line(text: str) -> str:
    return " ".join(text.split())
