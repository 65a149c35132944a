"""Fixtures shared by every suite: databases (SQLite and PostgreSQL), workspaces, the fake cluster.

No Qt here: tests/core runs without it (tests/no_qt.py); the Qt fixtures are tests/qt_fixtures.py's."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.cluster.http import HttpCluster
from core.config import load_settings
from core.workspace import Workspace
from tests.fakes.cluster import FakeCluster

# The files whose tests take longest (minutes of trainer, Ray, PostgreSQL server or CLI processes)
# run first: with two workers (scripts/test) the run then ends on short files, not with one worker
# alone on one of these. A file's tests stay together (its module fixtures are made once).
LONGEST_FILES = (
    "tests/e2e/test_team_mode.py",
    "tests/e2e/test_ray_training.py",
    "tests/e2e/test_local_training.py",
    "tests/e2e/test_fault_injection.py",
    "tests/e2e/test_scheduler_process.py",
    "tests/e2e/test_database_waits.py",
    "tests/e2e/test_resume_training.py",
    "tests/core/trainer/test_playground.py",
    "tests/core/test_local_standby.py",
    "tests/core/trainer/test_trainer.py",
    "tests/core/trainer/test_models.py",
    "tests/core/test_trainer_setup.py",
)
_ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.path.relative_to(_ROOT).as_posix() if item.path.is_relative_to(_ROOT) else ""
        return LONGEST_FILES.index(path) if path in LONGEST_FILES else len(LONGEST_FILES)

    items.sort(key=rank)  # stable: the order within a file, and of the other files, is kept


POSTGRES_URL = os.environ.get(
    "LORADESK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TOKEN = "test-token"


@contextmanager
def postgres_schema(url: str = POSTGRES_URL) -> Iterator[str]:
    """A URL whose connections live in a fresh schema of their own, dropped afterwards, so test
    runs (and benchmarks) sharing the server never see each other's tables."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield (
            make_url(url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs twice: on a fresh SQLite file and on a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'loradesk.db'}"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("LORADESK_HOME", str(home))
    for name in (
        "LORADESK_DATABASE_URL",
        "LORADESK_USER",
        "LORADESK_CLUSTER",
        "LORADESK_CLUSTER_URL",
        "LORADESK_CLUSTER_TOKEN",
        "LORADESK_POLL_INTERVAL",
        "LORADESK_NOTIFY",
    ):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def fake_cluster() -> Iterator[FakeCluster]:
    with FakeCluster(TOKEN) as cluster:
        yield cluster


WorkspaceFactory = Callable[..., Workspace]


@pytest.fixture
async def make_workspace(
    home: Path, database_url: str, fake_cluster: FakeCluster
) -> AsyncIterator[WorkspaceFactory]:
    """Open workspaces on the test database, talking to the fake cluster over HTTP."""
    opened: list[Workspace] = []

    def make(
        user: str = "alice", token: str = TOKEN, read_timeout: float = 5.0, **settings: object
    ) -> Workspace:
        ws = Workspace.open(
            load_settings(
                {
                    "home": str(home),
                    "database_url": database_url,
                    "user": user,
                    "cluster": "http",
                    "cluster_url": fake_cluster.url,
                    **settings,
                }
            )
        )
        ws.use_backend(HttpCluster(fake_cluster.url, token, read_timeout=read_timeout, connect_timeout=2))
        opened.append(ws)
        return ws

    yield make
    for ws in opened:
        await ws.aclose()
        ws.close()


@pytest.fixture
def dataset_file(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        "".join(f'{{"prompt": "What is {i} + {i}?", "completion": "{2 * i}"}}\n' for i in range(20)),
        encoding="utf-8",
    )
    return path
