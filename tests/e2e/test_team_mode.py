"""Team mode (SPEC §3) on the real PostgreSQL: two people and a scheduler share one database.

Everything runs in a throwaway database owned by a non-superuser owner, with roles made for this
module and dropped afterwards (tests/team_db.py). The people use the real CLI in processes of their
own, and then psycopg as their role, typing the SQL a person could type. The server trusts local
connections (it checks no password): see tests/team_db.py and tests/e2e/test_team_passwords.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from keyrings.alt.file import PlaintextKeyring
from sqlalchemy import create_engine, text

from core.secrets import SERVICE, password_key
from tests.conftest import TOKEN
from tests.fakes.cluster import FakeCluster, JobPlan
from tests.team_db import TeamDatabase, team_database

pytestmark = pytest.mark.postgres

ALICE_PASSWORD = "alice-Pa55-from-the-variable"
BOB_PASSWORD = "bob-Pa55-from-the-keyring"
SCHEDULER_PASSWORD = "sched-Pa55-from-the-variable"
NOTIFICATION_INSERT = (
    "INSERT INTO notifications (id, user_id, job_id, type, title, message, priority, read, created_at,"
    " dedupe_key) VALUES (gen_random_uuid()::text, %s, %s, %s, 't', 'm', 'high', false, now(), %s)"
)


@dataclass
class Team:
    db: TeamDatabase
    cluster: FakeCluster
    home: Path
    keyring_dir: Path
    alice: str
    bob: str
    scheduler: str

    def run(
        self, role: str, *args: str, expect: int = 0, **extra_env: str
    ) -> subprocess.CompletedProcess[str]:
        """`loradesk ARGS` as `role` would run it: its URL without password, its own variables."""
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LORADESK_")},
            "LORADESK_HOME": str(self.home),
            "LORADESK_DATABASE_URL": self.db.url(role),
            "LORADESK_CLUSTER": "http",
            "LORADESK_CLUSTER_URL": self.cluster.url,
            "LORADESK_CLUSTER_TOKEN": TOKEN,
            # The keyring of these processes: keyrings.alt's file backend in a folder of the test.
            "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
            "XDG_DATA_HOME": str(self.keyring_dir),
            **extra_env,
        }
        result = subprocess.run(
            [sys.executable, "-m", "core.cli.main", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == expect, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        for secret in (ALICE_PASSWORD, BOB_PASSWORD, SCHEDULER_PASSWORD):
            assert secret not in result.stdout + result.stderr
        return result

    def json(self, role: str, *args: str) -> object:
        return json.loads(self.run(role, *args, "--json").stdout)

    def sql(self, role: str) -> psycopg.Connection:
        """psycopg connected as `role`, autocommit: what the person could type into psql."""
        return psycopg.connect(self.db.url(role).replace("postgresql+psycopg", "postgresql"), autocommit=True)


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory, dataset_for_team: Path) -> Iterator[Team]:
    with team_database() as db, FakeCluster(TOKEN) as cluster:
        base = tmp_path_factory.mktemp("team")
        t = Team(
            db=db,
            cluster=cluster,
            home=base / "home",
            keyring_dir=base / "keyring",
            alice=db.role("alice"),
            bob=db.role("bob"),
            scheduler=db.role("sched"),
        )
        # Bob's password waits in the keyring entry his app will use; alice's comes from the variable.
        bob_keyring = PlaintextKeyring()
        bob_keyring.file_path = str(t.keyring_dir / "python_keyring" / "keyring_pass.cfg")  # type: ignore[misc]
        bob_keyring.set_password(SERVICE, password_key(db.url(t.bob)), BOB_PASSWORD)

        t.run(db.owner, "db", "upgrade")
        t.run(db.owner, "db", "add-user", t.alice, LORADESK_NEW_USER_PASSWORD=ALICE_PASSWORD)
        t.run(db.owner, "db", "add-user", t.bob)
        t.run(
            db.owner,
            "db",
            "add-user",
            t.scheduler,
            "--scheduler",
            LORADESK_NEW_USER_PASSWORD=SCHEDULER_PASSWORD,
        )
        yield t


@pytest.fixture(scope="module")
def dataset_for_team(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "pairs.jsonl"
    path.write_text(
        "".join(f'{{"prompt": "What is {i} + {i}?", "completion": "{2 * i}"}}\n' for i in range(20)),
        encoding="utf-8",
    )
    return path


def scram_matches(verifier: str, password: str) -> bool:
    """Whether a SCRAM-SHA-256 verifier (RFC 5802/7677, as pg_authid keeps it) is of `password`."""
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key = base64.b64decode(keys.split(":")[0])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return method == "SCRAM-SHA-256" and hashlib.sha256(client_key).digest() == stored_key


def superuser_sql(team: Team, query: str, **params: object) -> list:
    engine = create_engine(team.db.admin_url.rsplit("/", 1)[0] + f"/{team.db.name}")
    try:
        with engine.begin() as conn:
            result = conn.execute(text(query), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def people_with_jobs(team: Team, dataset: Path) -> dict[str, list[str]]:
    """Alice queues two jobs and Bob one, each on a dataset of their own, through the CLI."""
    jobs: dict[str, list[str]] = {}
    for person, count in ((team.alice, 2), (team.bob, 1)):
        dataset_id = team.run(
            person, "datasets", "add", str(dataset), "--name", f"pairs {uuid.uuid4()}"
        ).stdout
        jobs[person] = [
            team.run(
                person, "jobs", "submit", "--dataset", dataset_id.strip(), "--name", f"{person} {i}"
            ).stdout.strip()
            for i in range(count)
        ]
    return jobs


# --- roles -------------------------------------------------------------------------------------


def test_add_user_creates_login_roles_whose_passwords_never_leave_the_keyring_or_variable(team):
    verifiers = dict(
        superuser_sql(
            team,
            "SELECT rolname, rolpassword FROM pg_authid WHERE rolname IN (:a, :b, :s)",
            a=team.alice,
            b=team.bob,
            s=team.scheduler,
        )
    )
    assert scram_matches(verifiers[team.alice], ALICE_PASSWORD)
    assert scram_matches(verifiers[team.bob], BOB_PASSWORD)
    assert scram_matches(verifiers[team.scheduler], SCHEDULER_PASSWORD)
    assert not scram_matches(verifiers[team.alice], BOB_PASSWORD)
    for path in team.home.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(p.encode() in content for p in (ALICE_PASSWORD, BOB_PASSWORD, SCHEDULER_PASSWORD))

    again = team.run(team.db.owner, "db", "add-user", team.alice)  # no password needed: it exists
    assert f"the role {team.alice} exists; its password is unchanged" in again.stdout
    (still,) = superuser_sql(team, "SELECT rolpassword FROM pg_authid WHERE rolname = :a", a=team.alice)
    assert still[0] == verifiers[team.alice]


def test_people_get_data_privileges_and_no_ddl(team):
    with team.sql(team.alice) as conn:
        for statement in (
            "CREATE TABLE mine (x int)",
            "ALTER TABLE training_jobs DISABLE ROW LEVEL SECURITY",
            "DROP POLICY loradesk_own_rows ON training_jobs",
            "ALTER TABLE training_jobs NO FORCE ROW LEVEL SECURITY",
            f'SET ROLE "{team.bob}"',
            f'SET ROLE "{team.scheduler}"',
            "UPDATE alembic_version SET version_num = '0001'",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_add_user_is_the_owners_alone_and_refuses_unbound_roles(team, tmp_path):
    refused = team.run(team.alice, "db", "add-user", team.db.role("mallory"), expect=1)
    assert refused.stderr.strip() == (
        f"loradesk: only the database owner ({team.db.owner}) can add users; "
        f"you are connected as {team.alice}"
    )
    superuser = team.run(team.db.owner, "db", "add-user", "postgres", expect=1)
    assert "superuser or has BYPASSRLS" in superuser.stderr
    bad_name = team.run(team.db.owner, "db", "add-user", "robert'); DROP TABLE datasets; --", expect=1)
    assert "is not a role name Loradesk accepts" in bad_name.stderr
    no_password = team.run(team.db.owner, "db", "add-user", team.db.role("nopass"), expect=1)
    assert "a password is needed to create the role" in no_password.stderr
    sqlite = team.run(
        team.db.owner,
        "db",
        "add-user",
        team.alice,
        expect=1,
        LORADESK_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
    )
    assert (
        sqlite.stderr.strip()
        == "loradesk: team mode needs PostgreSQL: SQLite has no roles, its users share one file"
    )
    assert team.run(team.db.owner, "db", "add-user", "--help").returncode == 0
    assert team.run(team.db.owner, "db", "add-user", expect=2).stderr.startswith("usage:")


# --- people --------------------------------------------------------------------------------------


def test_each_person_sees_and_cancels_only_their_own_jobs(team, dataset_for_team):
    jobs = people_with_jobs(team, dataset_for_team)
    for person in (team.alice, team.bob):
        listed = team.json(person, "jobs", "list")
        assert {j["id"] for j in listed} >= set(jobs[person])
        assert {j["user_id"] for j in listed} == {person}
        assert {d["user_id"] for d in team.json(person, "datasets", "list")} == {person}

    bobs = jobs[team.bob][0]
    shown = team.run(team.alice, "jobs", "show", bobs, expect=1)
    assert shown.stderr.startswith(f"loradesk: no job '{bobs}'")
    team.run(team.alice, "jobs", "cancel", bobs, expect=1)
    assert team.json(team.bob, "jobs", "show", bobs)["status"] == "queued"  # untouched

    assert team.run(team.alice, "jobs", "cancel", jobs[team.alice][1]).stdout.startswith("cancelled")
    assert team.json(team.alice, "jobs", "show", jobs[team.alice][1])["status"] == "cancelled"


def test_loradesk_user_naming_someone_else_is_refused(team):
    spoof = team.run(team.alice, "jobs", "list", expect=1, LORADESK_USER=team.bob)
    assert spoof.stderr == (
        f"loradesk: LORADESK_USER={team.bob} is refused: this database connects you as {team.alice} and "
        f"lets you act only as yourself (team mode); remove it, or set it to {team.alice}\n"
    )
    option = team.run(team.alice, "jobs", "list", "--user", team.bob, expect=1)
    assert option.stderr.startswith(f"loradesk: --user {team.bob} is refused")
    team.run(team.alice, "jobs", "list", LORADESK_USER=team.alice)  # naming yourself is fine


def test_raw_sql_as_a_person_reaches_none_of_the_other_persons_rows(team, dataset_for_team):
    jobs = people_with_jobs(team, dataset_for_team)
    bobs_job = jobs[team.bob][0]
    with team.sql(team.bob) as conn:
        bobs_dataset = conn.execute(
            "SELECT dataset_id FROM training_jobs WHERE id = %s", [bobs_job]
        ).fetchone()[0]
        conn.execute(NOTIFICATION_INSERT, [team.bob, bobs_job, "job_warning", None])
    alices_job = jobs[team.alice][0]
    with team.sql(team.alice) as conn:
        for table in ("datasets", "training_jobs", "cost_records", "notifications"):
            others = conn.execute(f"SELECT count(*) FROM {table} WHERE user_id <> current_user").fetchone()
            assert others == (0,), table
        assert conn.execute("SELECT count(*) FROM training_jobs WHERE id = %s", [bobs_job]).fetchone() == (0,)
        assert conn.execute(
            "SELECT count(*) FROM metrics_points WHERE job_id NOT IN (SELECT id FROM training_jobs)"
        ).fetchone() == (0,)

        # Changing or deleting Bob's rows finds nothing to change.
        assert conn.execute("UPDATE training_jobs SET name = 'mine' WHERE id = %s", [bobs_job]).rowcount == 0
        steal = conn.execute("UPDATE training_jobs SET user_id = current_user WHERE id = %s", [bobs_job])
        assert steal.rowcount == 0
        assert conn.execute("DELETE FROM training_jobs WHERE id = %s", [bobs_job]).rowcount == 0
        assert conn.execute("DELETE FROM notifications WHERE job_id = %s", [bobs_job]).rowcount == 0
        assert conn.execute("UPDATE datasets SET name = 'x' WHERE id = %s", [bobs_dataset]).rowcount == 0
        # Giving her own rows away is refused too.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("UPDATE training_jobs SET user_id = %s WHERE id = %s", [team.bob, alices_job])

        # Inserting rows for Bob, or rows of hers that point at Bob's, is refused by the database.
        for statement, params in (
            (
                "INSERT INTO datasets (id, user_id, name, storage_path, training_ready, total_pairs,"
                " created_at) VALUES (gen_random_uuid()::text, %s, 'x', 'x', true, 1, now())",
                [team.bob],
            ),
            (JOB_INSERT, [team.bob, bobs_dataset]),
            (JOB_INSERT, [team.alice, bobs_dataset]),
            (
                "INSERT INTO metrics_points (job_id, step, recorded_at) VALUES (%s, 999, now())",
                [bobs_job],
            ),
            (
                "INSERT INTO cost_records (id, job_id, user_id, cost_type, amount, billing_period,"
                " details, created_at)"
                " VALUES (gen_random_uuid()::text, %s, current_user, 'x', 1, '2026-11', '{}', now())",
                [bobs_job],
            ),
            (NOTIFICATION_INSERT, [team.bob, None, "job_warning", None]),
            (NOTIFICATION_INSERT, [team.alice, bobs_job, "job_warning", None]),
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                conn.execute(statement, params)

    bob_sees = team.json(team.bob, "jobs", "show", bobs_job)
    assert bob_sees["name"] == f"{team.bob} 0" and bob_sees["status"] == "queued"
    assert [n["type"] for n in bob_sees["notifications"]] == ["job_warning"]


JOB_INSERT = (
    "INSERT INTO training_jobs (id, user_id, dataset_id, name, status, progress, current_epoch, total_epochs,"
    " current_step, current_metrics, hyperparameters, gpu_type, gpu_count, hourly_rate, current_cost,"
    " created_at, updated_at, submit_attempts, not_found_polls, progress_notified) VALUES"
    " (gen_random_uuid()::text, %s, %s, 'x', 'queued', 0, 0, 1, 0, '{}', '{}', 'cpu', 1, 0, 0, now(), now(),"
    " 0, 0, 0)"
)


def test_a_person_cannot_take_a_colleagues_once_only_key(team):
    """Once-only keys are unique per user: Alice holding `auth:<bob>` silences nothing of Bob's."""
    key = f"auth:{team.bob}"
    insert = NOTIFICATION_INSERT + " ON CONFLICT DO NOTHING"
    with team.sql(team.alice) as conn:
        assert conn.execute(insert, [team.alice, None, "cluster_auth_failed", key]).rowcount == 1
    with team.sql(team.scheduler) as conn:
        assert conn.execute(insert, [team.bob, None, "cluster_auth_failed", key]).rowcount == 1


# --- the scheduler -------------------------------------------------------------------------------


def test_the_scheduler_role_runs_both_peoples_jobs_and_each_sees_only_their_notifications(
    team, dataset_for_team
):
    team.cluster.default_plan = JobPlan(total_steps=12, steps_per_poll=6)
    jobs = people_with_jobs(team, dataset_for_team)
    every_job = [job for ids in jobs.values() for job in ids]
    for _ in range(6):
        team.run(team.scheduler, "scheduler", "--once", "--all-users")
        unfinished = superuser_sql(
            team,
            "SELECT count(*) FROM training_jobs WHERE id = ANY(:ids) AND status <> 'completed'",
            ids=every_job,
        )
        if unfinished == [(0,)]:
            break
    for person, ids in jobs.items():
        for job in ids:
            detail = team.json(person, "jobs", "show", job)
            assert detail["status"] == "completed", detail
            assert len(detail["metrics"]) == 12 and len(detail["cost_records"]) == 1
            assert {n["type"] for n in detail["notifications"]} >= {"job_started", "job_completed"}
        notes = team.json(person, "notifications", "list")
        assert {n["user_id"] for n in notes} == {person}
        finished = {n["job_id"] for n in notes if n["type"] == "job_completed"}
        assert set(ids) <= finished
        other = team.alice if person == team.bob else team.bob
        assert not finished & set(jobs[other])

    # Only the scheduler role was given every row: as the scheduler, a person's own app cycles
    # over their jobs alone.
    assert team.json(team.scheduler, "jobs", "list") == []
    with team.sql(team.scheduler) as conn:
        users = {row[0] for row in conn.execute("SELECT DISTINCT user_id FROM training_jobs")}
        assert {team.alice, team.bob} <= users
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM training_jobs")


# --- the owner -------------------------------------------------------------------------------------


def test_the_owner_keeps_working_as_before(team, dataset_for_team):
    owner = team.db.owner
    team.run(owner, "datasets", "add", str(dataset_for_team), "--name", "pairs", LORADESK_USER="carol")
    job = team.run(owner, "jobs", "submit", "--dataset", "pairs", LORADESK_USER="carol").stdout.strip()
    listed = json.loads(team.run(owner, "jobs", "list", "--json", LORADESK_USER="carol").stdout)
    assert [j["id"] for j in listed] == [job] and listed[0]["user_id"] == "carol"
    with team.sql(owner) as conn:
        users = {row[0] for row in conn.execute("SELECT DISTINCT user_id FROM training_jobs")}
    assert "carol" in users
    # carol is not a role, so no person can reach carol's rows.
    with team.sql(team.alice) as conn:
        assert conn.execute("SELECT count(*) FROM training_jobs WHERE id = %s", [job]).fetchone() == (0,)


def test_a_person_on_a_database_that_is_behind_is_told_to_ask_the_owner(team):
    (current,) = superuser_sql(team, "SELECT version_num FROM alembic_version")[0]
    superuser_sql(team, "UPDATE alembic_version SET version_num = '0001'")
    try:
        for args in (("jobs", "list"), ("db", "upgrade")):
            result = team.run(team.alice, *args, expect=1)
            assert result.stderr.count("\n") == 1
            assert "only its owner may upgrade it" in result.stderr
            assert result.stderr.rstrip().endswith("ask the database owner to run `loradesk db upgrade`")
    finally:
        superuser_sql(team, "UPDATE alembic_version SET version_num = :v", v=current)
    team.run(team.alice, "jobs", "list")


def test_a_person_stores_a_long_backfill_of_points_under_row_security(team, dataset_for_team):
    """Past COPY_FROM points go by COPY, which PostgreSQL refuses a role under row-level security
    on the table itself: the points still land, through the temporary table, and only her own."""
    from sqlalchemy.orm import Session

    from core.db.models import utcnow
    from core.records import MetricPoint
    from core.scheduler.metric_points import COPY_FROM, store_metric_points

    alices_job = people_with_jobs(team, dataset_for_team)[team.alice][0]
    count = COPY_FROM + 10
    points = [
        MetricPoint(job_id=alices_job, step=s, epoch=1, training_loss=1.0 / s, recorded_at=utcnow())
        for s in range(1, count + 1)
    ]
    engine = create_engine(team.db.url(team.alice))
    try:
        with Session(engine) as session, session.begin():
            store_metric_points(session, points)
    finally:
        engine.dispose()
    stored = superuser_sql(
        team, "SELECT count(*), max(step) FROM metrics_points WHERE job_id = :job", job=alices_job
    )
    assert tuple(stored[0]) == (count, count)


def test_a_runs_chunks_are_its_owners_alone_and_a_scheduler_role_leaves_points_in_rows(
    team, dataset_for_team
):
    """Alice's points moved into compressed chunks (as her app's scheduler does when a run ends)
    are hers as her rows were: Bob reaches none of them with raw SQL, and may not hang a chunk on
    her job. A team scheduler role, which deletes nothing, leaves a run's points in rows."""
    from sqlalchemy.orm import Session

    from core.db.metric_chunks import pack_points
    from core.db.models import utcnow
    from core.jobs.metric_columns import read_metric_columns
    from core.records import MetricPoint
    from core.scheduler.metric_points import store_metric_points

    jobs = people_with_jobs(team, dataset_for_team)
    alices_job, alices_other = jobs[team.alice]
    for job_id, role in ((alices_job, team.alice), (alices_other, team.scheduler)):
        points = [
            MetricPoint(job_id=job_id, step=s, epoch=1, training_loss=1.0 / s, recorded_at=utcnow())
            for s in range(1, 301)
        ]
        engine = create_engine(team.db.url(role))
        try:
            with Session(engine) as session, session.begin():
                store_metric_points(session, points)
                moved = pack_points(session, job_id)
            with Session(engine) as session:
                assert len(read_metric_columns(session, job_id)) == 300
        finally:
            engine.dispose()
        assert moved == (300 if role == team.alice else 0)
    stored = superuser_sql(
        team,
        "SELECT (SELECT count(*) FROM metrics_points WHERE job_id = :a),"
        " (SELECT sum(points) FROM metric_chunks WHERE job_id = :a),"
        " (SELECT count(*) FROM metrics_points WHERE job_id = :o)",
        a=alices_job,
        o=alices_other,
    )
    assert tuple(stored[0]) == (0, 300, 300)
    with team.sql(team.bob) as conn:
        assert conn.execute("SELECT count(*) FROM metric_chunks").fetchone() == (0,)
        assert conn.execute("DELETE FROM metric_chunks WHERE job_id = %s", [alices_job]).rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "INSERT INTO metric_chunks (job_id, first_step, last_step, points, data)"
                " VALUES (%s, 1000, 1000, 1, '')",
                [alices_job],
            )
    shown = team.json(team.alice, "jobs", "show", alices_job)
    assert [p["step"] for p in shown["metrics"]] == list(range(1, 301))
    assert shown["metrics"][3]["training_loss"] == 0.25


def test_a_person_sees_and_prunes_only_their_own_deleted_jobs(team, dataset_for_team):
    """Tombstones (core.jobs.tombstones) are rows of their person's like the others: Alice's change
    query, and her raw SQL, never learn which of Bob's jobs were deleted."""
    jobs = people_with_jobs(team, dataset_for_team)
    deleted = {}
    for person in (team.alice, team.bob):
        job = jobs[person][0]
        team.run(person, "jobs", "cancel", job)  # never submitted: cancelled here at once
        team.run(person, "jobs", "delete", job, "--yes")
        deleted[person] = job
    with team.sql(team.alice) as conn:
        seen = conn.execute("SELECT job_id, user_id FROM deleted_jobs").fetchall()
        assert (deleted[team.alice], team.alice) in seen
        assert {user for _, user in seen} == {team.alice}
        assert conn.execute("DELETE FROM deleted_jobs WHERE job_id = %s", [deleted[team.bob]]).rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "INSERT INTO deleted_jobs (job_id, user_id, change_seq, deleted_at)"
                " VALUES (%s, %s, 1, now())",
                [str(uuid.uuid4()), team.bob],
            )
    with team.sql(team.scheduler) as conn:  # the scheduler role works on every row
        everyone = {row[0] for row in conn.execute("SELECT user_id FROM deleted_jobs")}
        assert {team.alice, team.bob} <= everyone


def test_people_added_before_deleted_jobs_existed_get_it_with_the_upgrade():
    """`loradesk db add-user` grants on the tables that exist; the migration that adds
    `deleted_jobs` grants it to the people (and schedulers) already added."""
    from alembic import command

    from core.db.engine import Database
    from core.db.migrate import _config, upgrade
    from core.db.team import add_user

    with team_database() as db:
        owner = Database(db.url(db.owner))
        try:
            with owner.engine.begin() as conn:
                command.upgrade(_config(conn), "0006_guardrails")
            alice, sched = db.role("alice"), db.role("sched")
            add_user(owner, alice, scheduler=False, password=lambda: "pw-alice")
            add_user(owner, sched, scheduler=True, password=lambda: "pw-sched")
            upgrade(owner)
            with owner.engine.connect() as conn:
                privileges = {
                    (role, what): conn.execute(
                        text("SELECT has_table_privilege(:role, 'deleted_jobs', :what)"),
                        {"role": role, "what": what},
                    ).scalar()
                    for role in (alice, sched)
                    for what in ("SELECT", "INSERT", "DELETE")
                }
        finally:
            owner.dispose()
        assert privileges == {
            (alice, "SELECT"): True,
            (alice, "INSERT"): True,
            (alice, "DELETE"): True,  # she prunes her own old tombstones
            (sched, "SELECT"): True,
            (sched, "INSERT"): True,
            (sched, "DELETE"): False,  # a scheduler never deletes
        }
