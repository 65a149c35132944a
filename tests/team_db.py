"""A throwaway PostgreSQL database for team-mode tests, with roles of its own, all dropped afterwards.

The test server on 127.0.0.1:5432 uses trust authentication: it does not check passwords. These
tests still give every role a password through the paths a person uses (the keyring, the variable)
and check that it reaches PostgreSQL as a SCRAM verifier and never a file or an output;
tests/e2e/test_team_passwords.py checks the same against a server that does verify them.

Roles are cluster-wide and other test runs share the server, so every role made here carries this
database's random suffix, and only roles with that suffix are dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from tests.conftest import POSTGRES_URL


@dataclass(frozen=True)
class TeamDatabase:
    name: str
    suffix: str
    admin_url: str  # a superuser on the test database's server

    @property
    def owner(self) -> str:
        return self.role("owner")

    def role(self, who: str) -> str:
        """The role name of `who` in this database (unique to it, so other runs never clash)."""
        return f"lt_{who}_{self.suffix}"

    def url(self, role: str) -> str:
        """The URL `role` connects with: no password in it, as settings.toml holds it."""
        admin = make_url(self.admin_url)
        return URL.create(
            admin.drivername, username=role, host=admin.host, port=admin.port, database=self.name
        ).render_as_string(hide_password=False)


@contextmanager
def team_database(admin_url: str = POSTGRES_URL, owner_password: str | None = None) -> Iterator[TeamDatabase]:
    """A fresh database owned by a non-superuser owner that may create roles, as an administrator
    would set one up (docs/team.md); the database and every role of its suffix dropped after."""
    suffix = uuid.uuid4().hex[:10]
    team = TeamDatabase(name=f"lt_team_{suffix}", suffix=suffix, admin_url=admin_url)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{team.owner}" LOGIN CREATEROLE'))
        if owner_password is not None:
            conn.execute(text(f"ALTER ROLE \"{team.owner}\" PASSWORD '{owner_password}'"))
        conn.execute(text(f'CREATE DATABASE "{team.name}" OWNER "{team.owner}"'))
    try:
        yield team
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{team.name}" WITH (FORCE)'))
            ours = conn.execute(
                text(
                    "SELECT rolname FROM pg_roles WHERE rolname LIKE :pattern OR rolname = :group "
                    "ORDER BY rolname = :owner"  # the owner last
                ),
                {
                    "pattern": f"lt\\_%\\_{suffix}",
                    "group": f"loradesk_schedulers_{team.name}",
                    "owner": team.owner,
                },
            ).scalars()
            for role in list(ours):
                conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()
