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


ROWS = (
    "INSERT INTO datasets (id, user_id, name, storage_path, training_ready, total_pairs, created_at) "
    "VALUES ('d1', 'alice', 'pairs', 'p', 1, 2, '2026-01-01 00:00:00')",
    "INSERT INTO training_jobs (id, user_id, dataset_id, name, status, progress, current_epoch, "
    "total_epochs, current_step, current_metrics, hyperparameters, gpu_type, gpu_count, hourly_rate, "
    "current_cost, created_at, updated_at, submit_attempts, not_found_polls, progress_notified) "
    "VALUES ('j1', 'alice', 'd1', 'run', 'completed', 100, 1, 1, 3, '{}', '{}', 'cpu', 1, 0, 0, "
    "'2026-01-01 00:00:00', '2026-01-01 00:00:00', 1, 0, 0)",
    *(
        f"INSERT INTO metrics_points (job_id, step, training_loss, recorded_at) "
        f"VALUES ('j1', {step}, 1.5, '2026-01-01 00:00:00')"
        for step in (1, 2, 3)
    ),
    "INSERT INTO cost_records (id, job_id, user_id, cost_type, amount, billing_period, details, created_at) "
    "VALUES ('c1', 'j1', 'alice', 'compute', 0, '2026-01', '{}', '2026-01-01 00:00:00')",
    "INSERT INTO notifications (id, user_id, job_id, type, title, message, priority, read, created_at) "
    "VALUES ('n1', 'alice', 'j1', 'job_completed', 't', 'm', 'normal', 0, '2026-01-01 00:00:00')",
)


def test_upgrading_an_older_sqlite_database_keeps_every_row(tmp_path):
    """Revisions that rebuild training_jobs (Alembic's batch mode on SQLite) dropped it with
    foreign keys on, and the cascade deleted every point, cost record and notification."""
    from alembic import command

    from core.db.migrate import _config

    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    with db.engine.connect() as conn, conn.begin():
        command.upgrade(_config(conn), "0004")
        for statement in ROWS:
            conn.exec_driver_sql(statement)
    assert upgrade(db) == HEAD_REVISION
    with db.engine.connect() as conn:
        counts = [conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in TABLES]
        assert counts == [1, 1, 3, 1, 1]
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # on again for the app
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
    with db.engine.connect() as conn, conn.begin():  # the rebuilt table still cascades
        conn.exec_driver_sql("DELETE FROM training_jobs WHERE id = 'j1'")
        assert conn.exec_driver_sql("SELECT count(*) FROM metrics_points").scalar() == 0
    db.dispose()


TABLES = ("datasets", "training_jobs", "metrics_points", "cost_records", "notifications")


def test_a_sqlite_file_in_a_missing_folder_is_an_error_and_nothing_is_made(
    home, tmp_path, monkeypatch, capsys
):
    from core.cli.main import main

    typo = tmp_path / "no-such-folder" / "deeper" / "loradesk.db"
    monkeypatch.setenv("LORADESK_DATABASE_URL", f"sqlite:///{typo}")
    assert main(["jobs", "list"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err and str(typo.parent) in err
    assert not (tmp_path / "no-such-folder").exists()
    # The home itself (here LORADESK_HOME, else the platform's folder) is still made on first use.
    monkeypatch.delenv("LORADESK_DATABASE_URL")
    assert main(["jobs", "list"]) == 0
    assert (home / "loradesk.db").is_file()
