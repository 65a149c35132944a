"""Team mode on PostgreSQL (SPEC §3): who a connection acts as, and adding people and schedulers.

On a database whose tables force row-level security (migration 0003, `core.db.row_security`), a
role that does not own them sees only the rows whose `user_id` is its name, so that name is the
user the app acts as; a `LORADESK_USER` naming anyone else is refused rather than quietly showing
an empty table. The owner, a superuser and SQLite work as before: the user is `LORADESK_USER`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from core.config import Settings
from core.db import team_guards
from core.db.engine import Database, error_line
from core.db.row_security import allow_all_rows, protected_tables, quote
from core.errors import LoradeskError

# A role name as people type one: no quoting surprises in psql, and within PostgreSQL's 63 bytes.
_ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.@-]{0,62}")
_RESERVED = {"public", "none", "current_user", "current_role", "session_user"}
PERSON_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"  # a person deletes their own finished jobs
SCHEDULER_PRIVILEGES = "SELECT, INSERT, UPDATE"  # a scheduler never deletes


class TeamModeError(LoradeskError):
    """Team mode refuses what was asked; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the database connection is. `team_mode`: row security binds this role, so the rows it
    reaches are those whose `user_id` is `role`."""

    role: str
    team_mode: bool

    def describe(self) -> str:
        if self.team_mode:
            return f"{self.role} (team mode: you see and change only your own rows)"
        return f"{self.role} (sees every row; Loradesk shows those of the user setting)"


def identify(db: Database) -> Identity | None:
    """The connection's identity on PostgreSQL; None on SQLite, which has no roles."""
    if db.is_sqlite:
        return None
    try:
        with db.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT current_user::text AS role, coalesce(bool_and(c.relforcerowsecurity "
                    "AND NOT pg_has_role(current_user, c.relowner, 'USAGE') AND NOT r.rolbypassrls), "
                    "false) AS bound "
                    "FROM pg_roles r LEFT JOIN pg_class c ON c.oid = to_regclass('training_jobs') "
                    "WHERE r.rolname = current_user GROUP BY r.rolname"
                )
            ).one()
    except SQLAlchemyError as exc:
        raise TeamModeError(f"cannot tell who {db.display_url} connects as: {error_line(exc)}") from None
    return Identity(role=row.role, team_mode=bool(row.bound))


def act_as(settings: Settings, identity: Identity | None) -> Settings:
    """The settings with the user team mode gives; a given user naming someone else is refused."""
    if identity is None or not identity.team_mode:
        return settings
    if settings.user_source is not None and settings.user != identity.role:
        given = {
            "--user": f"--user {settings.user}",
            "LORADESK_USER": f"LORADESK_USER={settings.user}",
            "settings.toml": f'user = "{settings.user}" in settings.toml',
        }.get(settings.user_source, f"user {settings.user}")
        raise TeamModeError(
            f"{given} is refused: this database connects you as {identity.role} and lets you act only "
            f"as yourself (team mode); remove it, or set it to {identity.role}"
        )
    return settings.with_changes(user=identity.role)


def check_identity(settings: Settings, *, password: str | None = None) -> Identity | None:
    """Connect as the settings would (with `password` if one was typed), say who that is, and
    refuse a user setting team mode would refuse; for the settings dialog's "Test connection"."""
    db = Database(settings.database_url, password=password, home=settings.home)
    try:
        db.check_connection()
        identity = identify(db)
        act_as(settings, identity)
        return identity
    finally:
        db.dispose()


@dataclass(frozen=True, slots=True)
class AddedUser:
    name: str
    created: bool
    scheduler_group: str | None


def add_user(db: Database, name: str, *, scheduler: bool, password: Callable[[], str]) -> AddedUser:
    """Give role `name` what the app needs on this database, creating the login role (with the
    password `password()` returns, asked only then) where it is missing. `scheduler`: the role joins
    the database's scheduler group, which works on every row. Run by the owner, in one transaction."""
    check_role_name(name)
    if db.is_sqlite:
        raise TeamModeError("team mode needs PostgreSQL: SQLite has no roles, its users share one file")
    try:
        with db.engine.connect() as conn, conn.begin():
            _check_caller_owns(conn, name)
            created = False if _role_exists(conn, name) else _create_role(conn, name, password)
            _grant(conn, name, SCHEDULER_PRIVILEGES if scheduler else PERSON_PRIVILEGES)
            group = _join_scheduler_group(conn, name) if scheduler else None
    except SQLAlchemyError as exc:
        raise TeamModeError(f"cannot add {name} to {db.display_url}: {error_line(exc)}") from None
    return AddedUser(name=name, created=created, scheduler_group=group)


def check_role_name(name: str) -> None:
    if not _ROLE_NAME.fullmatch(name) or len(name.encode()) > 63:
        raise TeamModeError(
            f"{name!r} is not a role name Loradesk accepts: a letter or _, then letters, digits, "
            "_ . @ or -, at most 63 bytes"
        )
    if name.lower() in _RESERVED or name.startswith("pg_"):
        raise TeamModeError(f"{name!r} is reserved by PostgreSQL; choose another name")


def scheduler_group_name(conn: Connection) -> str:
    """The group role whose members work on every row: one per database, so that a scheduler of
    one Loradesk database is nobody special in another database on the same server."""
    database = conn.execute(text("SELECT current_database()")).scalar_one()
    return f"loradesk_schedulers_{database}".encode()[:63].decode(errors="ignore")


def _check_caller_owns(conn: Connection, name: str) -> None:
    row = conn.execute(
        text(
            "SELECT current_user::text AS me, pg_get_userbyid(c.relowner) AS owner, c.relforcerowsecurity "
            "AS forced, pg_has_role(current_user, c.relowner, 'USAGE') AS owns "
            "FROM pg_class c WHERE c.oid = to_regclass('training_jobs')"
        )
    ).one_or_none()
    if row is None or not row.forced:
        raise TeamModeError("this database has no row-level security yet: run `loradesk db upgrade` first")
    if not row.owns:
        raise TeamModeError(
            f"only the database owner ({row.owner}) can add users; you are connected as {row.me}"
        )
    if name == row.owner:
        raise TeamModeError(f"{name} owns the Loradesk tables and already works on every row")


def _role_exists(conn: Connection, name: str) -> bool:
    row = conn.execute(
        text("SELECT rolsuper OR rolbypassrls AS unbound FROM pg_roles WHERE rolname = :name"), {"name": name}
    ).one_or_none()
    if row is not None and row.unbound:
        raise TeamModeError(
            f"{name} is a superuser or has BYPASSRLS, so row-level security cannot keep it to its own "
            "rows; add a role without those"
        )
    return row is not None


def _create_role(conn: Connection, name: str, password: Callable[[], str]) -> bool:
    secret = password()
    if not secret:
        raise TeamModeError(f"an empty password was given for {name}; nothing was changed")
    # Hashed here, as psql's \password does: the server (and its statement log) sees only the
    # SCRAM verifier, never the password.
    raw = conn.connection.driver_connection
    verifier = raw.pgconn.encrypt_password(secret.encode(), name.encode(), b"scram-sha-256").decode()  # type: ignore[union-attr]
    literal = "'" + verifier.replace("'", "''") + "'"
    try:
        conn.exec_driver_sql(f"CREATE ROLE {quote(conn, name)} LOGIN PASSWORD {literal}")
    except SQLAlchemyError as exc:
        raise TeamModeError(
            f"cannot create the role {name}: {error_line(exc)} (the owner needs CREATEROLE, or an "
            "administrator creates the role and you run add-user again)"
        ) from None
    return True


def _grant(conn: Connection, name: str, privileges: str) -> None:
    role = quote(conn, name)
    tables = protected_tables(conn)
    if not conn.execute(
        text("SELECT has_database_privilege(:name, current_database(), 'CONNECT')"), {"name": name}
    ).scalar():
        database = conn.execute(text("SELECT current_database()")).scalar_one()
        conn.exec_driver_sql(f"GRANT CONNECT ON DATABASE {quote(conn, database)} TO {role}")
    conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {quote(conn, _schema(conn))} TO {role}")
    conn.exec_driver_sql(f"GRANT {privileges} ON {', '.join(tables)} TO {role}")
    # To read the schema revision: a person's app on a database that is behind says so.
    conn.exec_driver_sql(f"GRANT SELECT ON alembic_version TO {role}")
    # Since migration 0009: the counter and check functions, no sequence, no `id` to choose
    # (core.db.team_guards). On an older schema the migration does it for the roles it finds.
    if team_guards.installed(conn):
        team_guards.harden_role(conn, name)
        return
    for sequence in conn.execute(
        text(
            "SELECT DISTINCT s.oid::regclass::text FROM pg_class s "
            "JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass "
            "AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
            "WHERE s.relkind = 'S' "
            "AND d.refobjid IN (SELECT to_regclass(t) FROM unnest(CAST(:tables AS text[])) AS t)"
        ),
        {"tables": tables},
    ).scalars():
        conn.exec_driver_sql(f"GRANT USAGE, SELECT ON SEQUENCE {sequence} TO {role}")


def _join_scheduler_group(conn: Connection, name: str) -> str:
    group = scheduler_group_name(conn)
    if not conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :g"), {"g": group}).scalar():
        conn.exec_driver_sql(f"CREATE ROLE {quote(conn, group)} NOLOGIN")
    allow_all_rows(conn, group)
    conn.exec_driver_sql(f"GRANT {quote(conn, group)} TO {quote(conn, name)}")
    return group


def _schema(conn: Connection) -> str:
    return str(conn.execute(text("SELECT current_schema()")).scalar_one())
