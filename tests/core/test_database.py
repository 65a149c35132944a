"""Opening and migrating databases: defaults, bad URLs, a newer schema."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from core.config import load_settings
from core.db.engine import Database, DatabaseError
from core.db.migrate import HEAD_REVISION, _scripts, current_revision, upgrade
from core.workspace import Workspace


def test_head_constant_matches_the_shipped_revisions():
    assert _scripts().get_current_head() == HEAD_REVISION


def test_default_database_is_sqlite_in_home_with_wal_and_foreign_keys(home):
    ws = Workspace.open(load_settings())
    assert ws.settings.database_url == f"sqlite:///{home / 'loradesk.db'}"
    with ws.db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert current_revision(conn) == HEAD_REVISION
    ws.close()
    tables = {r[0] for r in sqlite3.connect(home / "loradesk.db").execute("SELECT name FROM sqlite_master")}
    assert {"datasets", "training_jobs", "metrics_points", "cost_records", "notifications"} <= tables


def test_upgrade_is_idempotent(database_url):
    db = Database(database_url)
    assert upgrade(db) == upgrade(db) == HEAD_REVISION
    db.dispose()


def test_newer_schema_is_refused_and_left_alone(database_url):
    db = Database(database_url)
    upgrade(db)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(DatabaseError, match="schema revision 9999, newer than this Loradesk knows"):
        upgrade(db)
    with db.engine.connect() as conn:
        assert current_revision(conn) == "9999"
    db.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not a database URL"),
        ("mysql+nosuchdriver://x/y", "unsupported database 'mysql\\+nosuchdriver'"),
        ("mysql://x@localhost/y", "Loradesk works with SQLite and PostgreSQL"),
        ("postgresql+psycopg2://x@localhost/y", "Loradesk works with SQLite and PostgreSQL"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/none", "cannot open the database"),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/no_such_db_here", "cannot open the database"),
        ("sqlite:////proc/no/such/dir/x.db", "cannot"),
    ],
)
def test_wrong_database_url_is_one_clear_error(url, message):
    with pytest.raises(DatabaseError, match=message) as caught:
        db = Database(url)
        upgrade(db)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://bob:s3cret-pw@127.0.0.1:1/db", "mysql://bob:s3cret-pw@127.0.0.1/db"]
)
def test_password_never_appears_in_errors(url):
    with pytest.raises(DatabaseError) as caught:
        upgrade(Database(url))
    assert "s3cret-pw" not in str(caught.value)


def test_the_short_postgres_scheme_means_psycopg():
    db = Database("postgres://postgres@127.0.0.1:5432/test")
    assert db.engine.dialect.driver == "psycopg"
    db.check_connection()
    db.dispose()


def test_models_and_migrations_agree(database_url):
    """Alembic's autogenerate comparison of the migrated schema with the models finds nothing:
    a column or index added to one and not the other fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from core.db.models import Base

    db = Database(database_url)
    upgrade(db)
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    db.dispose()
