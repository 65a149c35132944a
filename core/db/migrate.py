"""Schema migrations: the Alembic revisions shipped in `core/db/migrations`.

Applied by `loradesk db upgrade` and at every start. A database whose schema is newer than this
build knows is refused, never altered. Alembic is imported only when there is something to do,
which keeps the start of the app and of every command quick.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from core.db.engine import Database, DatabaseError, error_line

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The newest revision in migrations/versions; a test keeps the two in step.
HEAD_REVISION = "0012_metric_chunks"
# Any constant works; every Loradesk process migrating a PostgreSQL database agrees on this one.
_PG_MIGRATION_LOCK = 0x10_4A_DE_5C


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(db: Database) -> str:
    """Bring the schema to this build's head; returns the revision now applied."""
    db.check_connection()
    try:
        with db.engine.connect() as conn:
            current = current_revision(conn)
            if current == HEAD_REVISION:
                return HEAD_REVISION
            _refuse_newer(db, current)
            _refuse_non_owner(db, conn, current)
        with (
            db.engine.connect().execution_options(loradesk_write=True) as conn,
            _foreign_keys_off_on_sqlite(conn),
            conn.begin(),
        ):
            if conn.dialect.name == "postgresql":
                # Two apps starting at once on an empty shared database must not both create it.
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            _refuse_newer(db, current_revision(conn))
            from alembic import command

            command.upgrade(_config(conn), "head")
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot migrate {db.display_url}: {error_line(exc)}") from None
    return HEAD_REVISION


@contextmanager
def _foreign_keys_off_on_sqlite(conn: Connection) -> Iterator[None]:
    """SQLite: foreign keys off while migrating. Alembic's batch mode rebuilds a table (copy,
    DROP, rename); with them on, the DROP of training_jobs cascaded and deleted every metric
    point, cost record and notification. The pragma is a no-op inside a transaction, so it goes
    to the driver's connection before the migration's transaction begins."""
    if conn.dialect.name != "sqlite":
        yield
        return
    driver = conn.connection.driver_connection
    assert driver is not None  # a connection just checked out of the pool
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
        broken = driver.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise DatabaseError(f"the migration left {len(broken)} rows whose references are broken")
    finally:
        driver.execute("PRAGMA foreign_keys=ON")


def _refuse_non_owner(db: Database, conn: Connection, current: str | None) -> None:
    """Only the owner changes the schema (team mode, SPEC §3): a person's app says whom to ask."""
    if current is None or conn.dialect.name != "postgresql":
        return
    may_migrate = conn.execute(
        text(
            "SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class "
            "WHERE oid = to_regclass('alembic_version')"
        )
    ).scalar()
    if not may_migrate:
        user = conn.execute(text("SELECT current_user")).scalar()
        raise DatabaseError(
            f"the database {db.display_url} is at schema revision {current} and this Loradesk needs "
            f"{HEAD_REVISION}; only its owner may upgrade it, and you are connected as {user}: "
            "ask the database owner to run `loradesk db upgrade`"
        )


def _refuse_newer(db: Database, current: str | None) -> None:
    if current is None:
        return
    try:
        known = _scripts().get_revision(current) is not None
    except Exception:  # alembic raises its own ResolutionError/CommandError for unknown ids
        known = False
    if not known:
        raise DatabaseError(
            f"the database {db.display_url} has schema revision {current}, newer than this "
            "Loradesk knows; upgrade Loradesk to use it (the database was not changed)"
        )
