"""The cluster API token: `LORADESK_CLUSTER_TOKEN` first, else the OS keyring.

The keyring entry is service `loradesk`, username = the cluster URL, so each cluster keeps its own
token. Where no keyring works we fall back to the variable alone: Loradesk never writes a token to
a file of its own (SPEC §2).
"""

from __future__ import annotations

import logging
import os
import threading

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.errors import KeyringError, PasswordDeleteError

from core.errors import LoradeskError

SERVICE = "loradesk"
TOKEN_ENV = "LORADESK_CLUSTER_TOKEN"
NO_KEYRING_WARNING = f"no OS keyring available; use {TOKEN_ENV}"

log = logging.getLogger(__name__)

# The warning is said once per process: a scheduler asks for the token every cycle.
_warned_no_keyring = False
_warn_lock = threading.Lock()


class SecretStoreError(LoradeskError):
    """The token could not be stored or removed; the message says why, fit for a user."""


def get_cluster_token(cluster_url: str) -> str | None:
    """The token for `cluster_url`, or None when neither the variable nor the keyring has one."""
    from_env = os.environ.get(TOKEN_ENV, "").strip()
    if from_env:
        return from_env
    backend = _usable_keyring()
    if backend is None:
        return None
    try:
        stored = backend.get_password(SERVICE, cluster_url)
    except KeyringError:
        _warn_no_keyring()
        return None
    return stored or None


def set_cluster_token(cluster_url: str, token: str) -> None:
    """Store `token` for `cluster_url` in the OS keyring (the variable, when set, still wins)."""
    token = token.strip()
    if not token:
        raise SecretStoreError("the API token is empty")
    backend = _usable_keyring()
    if backend is None:
        raise SecretStoreError(f"no OS keyring is available to keep the API token; set {TOKEN_ENV} instead")
    try:
        backend.set_password(SERVICE, cluster_url, token)
    except KeyringError as exc:
        reason = _one_line(str(exc)).replace(token, "***") or type(exc).__name__
        raise SecretStoreError(f"the OS keyring refused to store the API token: {reason}") from None


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
        _warn_no_keyring()
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
