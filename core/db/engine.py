"""Opening the database: one engine per URL, SQLite tuned for several processes sharing a file.

Write transactions on SQLite start with `BEGIN IMMEDIATE`, so two schedulers never both read a row
and then both try to upgrade to a write lock (which SQLite answers with "database is locked").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DataError, IntegrityError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import LoradeskError

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_S = 30


class DatabaseError(LoradeskError):
    """The database cannot be opened or used; the message says which and why. `unreachable`:
    its server cannot be reached now (down, restarting), which waiting may mend."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


# What a PostgreSQL server that is down, starting or stopping answers a connection (libpq's and
# the server's words); a wrong password, role or database name is not among them.
_UNREACHABLE = re.compile(
    r"connection refused|the database system is (starting up|shutting down|in recovery mode|"
    r"not yet accepting connections)|server closed the connection unexpectedly|timeout expired|"
    r"could not connect to server|no route to host|network is unreachable|connection reset|"
    r"terminating connection due to administrator command|connection timed out",
    re.IGNORECASE,
)


class Database:
    """An engine plus the two kinds of session the rest of core uses: read and write."""

    def __init__(self, url: str, *, password: str | None = None, home: Path | None = None) -> None:
        """`password`: one typed but not stored yet; otherwise the variable or keyring is asked.
        `home`: the Loradesk home, the one folder a SQLite file may be created in when missing."""
        self.url = url
        self.engine = _create_engine(url, password, home)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.engine.execution_options(loradesk_write=True), expire_on_commit=False)

    @property
    def display_url(self) -> str:
        """The URL without its password, for messages and logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    def check_connection(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise DatabaseError(
                f"cannot open the database {self.display_url}: {error_line(exc)}",
                unreachable=not self.is_sqlite and bool(_UNREACHABLE.search(str(exc))),
            ) from None

    @contextmanager
    def read(self) -> Iterator[Session]:
        with _one_line_errors(), self._read() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with _one_line_errors(), self._write() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


# The dialects and drivers Loradesk ships and tests; anything else would fail later with a
# missing-module error, so it is refused up front with the forms that work.
SUPPORTED_DRIVERS = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",  # the short scheme many hosting services hand out
    "postgresql+psycopg": "postgresql+psycopg",
}
SUPPORTED_FORMS = "sqlite:///path/to/loradesk.db or postgresql+psycopg://user@host/dbname"


def _create_engine(url: str, password: str | None, home: Path | None) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"{url!r} is not a database URL; use e.g. {SUPPORTED_FORMS}") from None
    driver = SUPPORTED_DRIVERS.get(parsed.drivername)
    if driver is None:
        shown = parsed.render_as_string(hide_password=True)
        raise DatabaseError(
            f"unsupported database {parsed.drivername!r} in {shown}: Loradesk works with SQLite and "
            f"PostgreSQL, e.g. {SUPPORTED_FORMS}"
        )
    parsed = parsed.set(drivername=driver)
    try:
        if driver == "sqlite":
            return _sqlite_engine(parsed, home)
        return create_engine(
            parsed,
            connect_args={"password": password} if password else _password_args(parsed),
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=20,
        )
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        shown = parsed.render_as_string(hide_password=True)
        raise DatabaseError(f"cannot use the database URL {shown}: {error_line(exc)}") from None


def _password_args(url: URL) -> dict[str, str]:
    """The password from the variable or the OS keyring, handed to the driver beside the URL so
    that it never becomes part of a URL that is shown, logged or saved (team mode, docs/team.md)."""
    if url.password is not None or url.get_backend_name() != "postgresql":
        return {}
    from core.secrets import get_database_password  # keyring is slow to import: only when needed

    password = get_database_password(url.render_as_string(hide_password=False))
    return {"password": password} if password else {}


def _sqlite_engine(url: Any, home: Path | None) -> Engine:
    if url.database and url.database != ":memory:":
        _sqlite_folder(Path(url.database).expanduser().parent, home)
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        pool_size=10,
        max_overflow=20,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so BEGIN IMMEDIATE is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("loradesk_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _sqlite_folder(folder: Path, home: Path | None) -> None:
    """The SQLite file's folder must exist; only the Loradesk home is made when missing (a typo in
    a database URL would otherwise make a folder and an empty database nobody meant)."""
    if folder.is_dir():
        return
    if home is None or folder.absolute() != home.expanduser().absolute():
        raise DatabaseError(
            f"cannot open the SQLite database: its folder {folder} does not exist; create it or "
            "correct the database URL (LORADESK_DATABASE_URL)"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"cannot create the database folder {folder}: {exc.strerror}") from None


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """A driver's error leaves as a DatabaseError of one line: no SQL, no parameters, which the
    driver's own message would carry to a user (the original stays chained for -v)."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise DatabaseError(f"database error: {error_line(exc)}") from exc


def is_data_error(exc: BaseException) -> bool:
    """The database refuses these values themselves (too long, out of range, a broken constraint):
    writing them again can never succeed, unlike a lost connection or a lock timeout."""
    # SQLite's driver refuses an integer beyond 64 bits before SQLAlchemy sees the statement.
    return isinstance(exc, DataError | IntegrityError | OverflowError)


def cluster_id_taken(exc: BaseException) -> bool:
    """The write gave a job a cluster id another job holds (the unique index of migration 0009)."""
    return isinstance(exc, IntegrityError) and "external_job_id" in str(getattr(exc, "orig", exc))


def error_line(exc: BaseException) -> str:
    """The first line of what the database driver said (or of the error itself), for a log or user."""
    orig = getattr(exc, "orig", None) or exc
    line = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    if "no password supplied" in line:  # the server wants a password that was found nowhere
        from core.secrets import missing_password_hint  # keyring is slow to import: only when needed

        line = f"{line} ({missing_password_hint()})"
    return line
