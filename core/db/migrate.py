"""Schema migrations: the Alembic revisions shipped in `core/db/migrations`.

Applied by `loradesk db upgrade` and at every start. A database whose schema is newer than this
build knows is refused, never altered.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from core.db.engine import Database, DatabaseError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any constant works; every Loradesk process migrating a PostgreSQL database agrees on this one.
_PG_MIGRATION_LOCK = 0x10_4A_DE_5C


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database) -> str:
    """Bring the schema to this build's head; returns the revision now applied."""
    db.check_connection()
    scripts = ScriptDirectory.from_config(_config())
    try:
        with db.engine.connect().execution_options(loradesk_write=True) as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                # Two apps starting at once on an empty shared database must not both create it.
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            current = MigrationContext.configure(conn).get_current_revision()
            if current is not None and _unknown(scripts, current):
                raise DatabaseError(
                    f"the database {db.display_url} has schema revision {current}, newer than "
                    "this Loradesk knows; upgrade Loradesk to use it (the database was not changed)"
                )
            command.upgrade(_config(conn), "head")
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot migrate {db.display_url}: {exc.__class__.__name__}: "
                            f"{str(getattr(exc, 'orig', exc)).splitlines()[0]}") from None
    return head_revision()


def _unknown(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is None
    except Exception:  # alembic raises its own ResolutionError/CommandError for unknown ids
        return True
