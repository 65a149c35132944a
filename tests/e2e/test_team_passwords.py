"""Team-mode passwords against a PostgreSQL server that checks them (SCRAM), not the trusting one.

A throwaway server (initdb + pg_ctl, run as the `postgres` OS user because initdb refuses root) on
a free loopback port, with scram-sha-256 for every connection. The owner and a person connect with
URLs that carry no password: the password comes from the OS keyring (keyrings.alt's file backend
here) or LORADESK_DATABASE_PASSWORD, and a wrong one is refused by the server in one line.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyrings.alt.file import PlaintextKeyring

from core.cli.main import main
from core.secrets import PASSWORD_ENV, SERVICE, password_key
from tests.team_db import TeamDatabase, team_database

pytestmark = pytest.mark.postgres

SUPERUSER_PASSWORD = "server-admin-pw"
OWNER_PASSWORD = "owner-Pa55-in-keyring"
ALICE_PASSWORD = "alice-Pa55-in-keyring"


def _bindir() -> Path:
    return Path(
        subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
    )


def _as_postgres(*args: str) -> list[str]:
    """Run as the `postgres` OS user when we are root (initdb refuses to run as root)."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def scram_server() -> Iterator[str]:
    """A superuser URL (with its password) of a fresh server that verifies every password."""
    base = Path(tempfile.mkdtemp(prefix="loradesk-scram-"))
    data, pwfile = base / "data", base / "pw"
    pwfile.write_text(SUPERUSER_PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(pwfile, "postgres")
    port = _free_port()
    bindir = _bindir()
    subprocess.run(
        _as_postgres(
            str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=scram-sha-256",
            f"--pwfile={pwfile}", "--no-sync",
        ),
        check=True,
        capture_output=True,
    )  # fmt: skip
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres(
            str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def file_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PlaintextKeyring]:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    previous = keyring.get_keyring()
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring" / "keyring_pass.cfg")  # type: ignore[misc]
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def team(scram_server: str) -> Iterator[TeamDatabase]:
    with team_database(scram_server, owner_password=OWNER_PASSWORD) as db:
        yield db


def loradesk(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    for secret in (OWNER_PASSWORD, ALICE_PASSWORD, SUPERUSER_PASSWORD):
        assert secret not in out + err
    return code, out, err


def test_passwords_come_from_the_keyring_and_reach_the_server(
    team, file_keyring, capsys, tmp_path, monkeypatch
):
    monkeypatch.setenv("LORADESK_HOME", str(tmp_path / "home"))
    owner_url, alice = team.url(team.owner), team.role("alice")

    # Without a password anywhere, the server refuses, in one line.
    code, _, err = loradesk(capsys, "db", "upgrade", "--database-url", owner_url)
    assert code == 1 and err.count("\n") == 1 and "password" in err

    file_keyring.set_password(SERVICE, password_key(owner_url), OWNER_PASSWORD)
    assert loradesk(capsys, "db", "upgrade", "--database-url", owner_url)[0] == 0
    file_keyring.set_password(SERVICE, password_key(team.url(alice)), ALICE_PASSWORD)
    code, out, _ = loradesk(capsys, "db", "add-user", alice, "--database-url", owner_url)
    assert code == 0 and f"created the login role {alice}" in out

    # Alice's app finds her password in the keyring entry add-user took it from.
    code, out, err = loradesk(capsys, "jobs", "list", "--json", "--database-url", team.url(alice))
    assert (code, out.strip(), err) == (0, "[]", "")

    # A wrong password in the variable wins over the keyring and is refused by the server.
    monkeypatch.setenv(PASSWORD_ENV, "not-her-password")
    code, _, err = loradesk(capsys, "jobs", "list", "--database-url", team.url(alice))
    assert code == 1 and err.count("\n") == 1
    assert f'password authentication failed for user "{alice}"' in err

    home_files = [p for p in (tmp_path / "home").rglob("*") if p.is_file()]
    for path in home_files:
        assert b"Pa55" not in path.read_bytes()
