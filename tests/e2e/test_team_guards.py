"""Team mode's shared parts (issue 23, items 1–5): each attack a person could make on the others
through the counter, cluster ids, dataset paths, point ids or tombstones, tried and refused.

A throwaway PostgreSQL server of this module's own checks every password (scram-sha-256), as a
team's server would; Alice and Bob are people added with `loradesk db add-user`, and each attack
is the SQL Alice could type into psql as herself.
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.config import load_settings
from core.datasets.catalog import add_dataset as store_dataset
from core.db.changes import CHANNEL, change_stamp
from core.db.engine import Database
from core.db.migrate import upgrade
from core.db.models import utcnow
from core.db.team import add_user
from core.jobs.service import create_job, get_job
from core.jobs.tombstones import record_deletion
from core.scheduler import Scheduler
from core.workspace import Workspace
from tests.conftest import TOKEN
from tests.e2e.throwaway_postgres import ThrowawayPostgres
from tests.fakes.cluster import FakeCluster
from tests.team_db import TeamDatabase, team_database

pytestmark = pytest.mark.postgres

SUPERUSER_PASSWORD = "guards-admin-Pa55"
OWNER_PASSWORD = "guards-owner-Pa55"
PASSWORDS = {"alice": "alice-guards-Pa55", "bob": "bob-guards-Pa55", "sched": "sched-guards-Pa55"}
JOB_INSERT = (
    "INSERT INTO training_jobs (id, user_id, dataset_id, name, status, progress, current_epoch, total_epochs,"
    " current_step, current_metrics, hyperparameters, gpu_type, gpu_count, hourly_rate, current_cost,"
    " created_at, updated_at, submit_attempts, not_found_polls, progress_notified, external_job_id,"
    " parent_job_id) VALUES (%s, current_user, %s, 'x', %s, 0, 0, 1, 0, '{}', '{}', 'cpu', 1, 0, 0, now(),"
    " now(), 0, 0, 0, %s, %s)"
)

POINT_INSERT = "INSERT INTO metrics_points (job_id, step, recorded_at) VALUES (%s, %s, now()) RETURNING id"
CHECKED_JOB_INSERT = (
    JOB_INSERT.replace("parent_job_id)", "parent_job_id, checked_external_job_id)")[:-1] + ", %s)"
)


@dataclass
class Team:
    db: TeamDatabase
    owner: Database

    def role(self, who: str) -> str:
        return self.db.role(who)

    def connect(self, who: str, *, autocommit: bool = True) -> psycopg.Connection:
        """psycopg as `who` (alice, bob, sched, or a role name with the owner's password): psql."""
        password = PASSWORDS.get(who, OWNER_PASSWORD)
        user = self.role(who) if who in PASSWORDS else who
        url = self.db.url(user).replace("postgresql+psycopg", "postgresql")
        return psycopg.connect(url, password=password, autocommit=autocommit)

    def database(self, who: str) -> Database:
        """The app's way in as `who`: the engine the app makes, with the password it was given."""
        return Database(self.db.url(self.role(who)), password=PASSWORDS[who])


@pytest.fixture(scope="module")
def server() -> Iterator[ThrowawayPostgres]:
    with ThrowawayPostgres(password=SUPERUSER_PASSWORD) as pg:
        yield pg


@pytest.fixture(scope="module")
def team(server: ThrowawayPostgres) -> Iterator[Team]:
    with team_database(server.url, owner_password=OWNER_PASSWORD) as db:
        owner = Database(db.url(db.owner), password=OWNER_PASSWORD)
        try:
            upgrade(owner)
            for who, password in PASSWORDS.items():
                add_user(owner, db.role(who), scheduler=who == "sched", password=lambda p=password: p)
            yield Team(db=db, owner=owner)
        finally:
            owner.dispose()


def prefix(role: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", role).strip("._") or "file"


def add_dataset(conn: psycopg.Connection, role: str) -> str:
    dataset_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO datasets (id, user_id, name, storage_path, training_ready, total_pairs, created_at)"
        " VALUES (%s, current_user, %s, %s, true, 1, now())",
        [dataset_id, f"pairs {dataset_id}", f"{prefix(role)}/{dataset_id}/pairs.jsonl"],
    )
    return dataset_id


def add_job(
    conn: psycopg.Connection,
    dataset_id: str,
    *,
    status: str = "queued",
    external_job_id: str | None = None,
    parent: str | None = None,
) -> str:
    job_id = str(uuid.uuid4())
    conn.execute(JOB_INSERT, [job_id, dataset_id, status, external_job_id, parent])
    return job_id


@pytest.fixture(scope="module")
def bobs(team: Team) -> dict[str, str]:
    """Bob's dataset, a running job on the cluster and a finished one, as his app left them."""
    with team.connect("bob") as conn:
        dataset_id = add_dataset(conn, team.role("bob"))
        running = add_job(conn, dataset_id, status="running", external_job_id=f"ext-{uuid.uuid4()}")
        finished = add_job(conn, dataset_id, status="completed", external_job_id=f"ext-{uuid.uuid4()}")
        path = conn.execute("SELECT storage_path FROM datasets WHERE id = %s", [dataset_id]).fetchone()[0]
    return {"dataset": dataset_id, "path": path, "running": running, "finished": finished}


# --- 1. the change counter ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attack",
    [
        "UPDATE change_counter SET value = 9223372036854775807",
        "UPDATE change_counter SET value = 0",
        "UPDATE change_counter SET tombstones_pruned_through = 9223372036854775807",
        "SELECT value FROM change_counter FOR UPDATE",
        "SELECT value FROM change_counter FOR NO KEY UPDATE",
        "SELECT value FROM change_counter FOR SHARE",
        "SELECT value FROM change_counter FOR KEY SHARE",
        "LOCK TABLE change_counter IN EXCLUSIVE MODE",
        "DELETE FROM change_counter",
    ],
)
def test_a_person_can_neither_set_nor_lock_the_counter(team, attack):
    with team.connect("alice", autocommit=False) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(attack)  # in a transaction: LOCK TABLE needs one


def test_numbers_only_move_forward_and_a_stranger_takes_none(team):
    with team.connect("alice") as conn:
        first = conn.execute("SELECT loradesk_next_change()").fetchone()[0]
        second = conn.execute("SELECT loradesk_next_change()").fetchone()[0]
        assert second == first + 1
        # Marking tombstones pruned up to a number not yet given changes nothing.
        conn.execute("SELECT loradesk_note_pruned(9223372036854775807)")
        assert conn.execute("SELECT value, tombstones_pruned_through FROM change_counter").fetchone() == (
            second,
            0,
        )
    # A role of the server that was never added to Loradesk may not even take a number.
    stranger = team.db.role("stranger")
    with team.connect(team.db.owner) as conn:
        conn.execute(f"CREATE ROLE \"{stranger}\" LOGIN PASSWORD '{OWNER_PASSWORD}'")
        conn.execute(f'GRANT CONNECT ON DATABASE "{team.db.name}" TO "{stranger}"')
    with team.connect(stranger) as conn:
        for attack in ("SELECT loradesk_next_change()", "UPDATE change_counter SET value = 0"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(attack)


def test_a_session_idle_in_its_transaction_holding_the_counter_is_ended_and_the_team_goes_on(team):
    holder = team.connect("alice", autocommit=False)
    held = holder.execute("SELECT loradesk_next_change()").fetchone()[0]  # and now she sits there
    bob = team.database("bob")
    try:
        with Session(bob.engine) as session, session.begin():
            stamp = change_stamp(session)  # what every write of Bob's app takes first
    finally:
        bob.dispose()
    assert stamp == held  # hers was never committed: her transaction ended with her session
    with pytest.raises(psycopg.OperationalError):  # her session was ended, and her number with it
        holder.execute("SELECT 1")
    holder.close()
    with team.connect("alice") as conn:  # a forgotten psql transaction ends on its own, too
        assert conn.execute("SHOW idle_in_transaction_session_timeout").fetchone()[0] == "1min"


# --- 2. cluster ids ----------------------------------------------------------------------------------


def test_a_cluster_id_belongs_to_one_job_only(team, bobs):
    with team.connect("bob") as conn:
        (bobs_cluster_id,) = conn.execute(
            "SELECT external_job_id FROM training_jobs WHERE id = %s", [bobs["running"]]
        ).fetchone()
        (finished_cluster_id,) = conn.execute(
            "SELECT external_job_id FROM training_jobs WHERE id = %s", [bobs["finished"]]
        ).fetchone()
    with team.connect("alice") as conn:
        dataset_id = add_dataset(conn, team.role("alice"))
        mine = add_job(conn, dataset_id, status="running", external_job_id=f"ext-{uuid.uuid4()}")
        for stolen in (bobs_cluster_id, finished_cluster_id):
            with pytest.raises(psycopg.errors.UniqueViolation):
                conn.execute(
                    "UPDATE training_jobs SET external_job_id = %s, cancel_requested_at = now()"
                    " WHERE id = %s",
                    [stolen, mine],
                )
            with pytest.raises(psycopg.errors.UniqueViolation):
                add_job(conn, dataset_id, status="running", external_job_id=stolen)
        # Nor may she vouch for a cluster id: only a scheduler of the team verifies one.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only a scheduler of the team"):
            conn.execute(
                "UPDATE training_jobs SET checked_external_job_id = external_job_id WHERE id = %s", [mine]
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only a scheduler of the team"):
            conn.execute(
                CHECKED_JOB_INSERT, [str(uuid.uuid4()), dataset_id, "running", "ext-x", None, "ext-x"]
            )
        # Jobs not yet submitted (no cluster id) are as many as she likes.
        add_job(conn, dataset_id)
        add_job(conn, dataset_id)
    with team.connect("sched") as conn:  # the team scheduler may vouch
        conn.execute(
            "UPDATE training_jobs SET checked_external_job_id = external_job_id WHERE id = %s", [mine]
        )


# --- 3. dataset paths ----------------------------------------------------------------------------------


def test_a_dataset_path_lies_under_its_owners_prefix_and_its_own_id(team, bobs):
    alice = team.role("alice")
    with team.connect("alice") as conn:
        mine = add_dataset(conn, alice)
        own = f"{prefix(alice)}/{mine}"
        for path in (
            bobs["path"],  # Bob's file
            f"{prefix(team.role('bob'))}/{mine}/pairs.jsonl",  # under Bob's prefix
            f"{prefix(alice)}/{bobs['dataset']}/pairs.jsonl",  # her prefix, Bob's dataset's folder
            f"{own}/../../{bobs['path']}",
            f"{own}/sub/pairs.jsonl",
            f"{own}/..",
            f"{own}/",
            "/etc/passwd",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                conn.execute("UPDATE datasets SET storage_path = %s WHERE id = %s", [path, mine])
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "INSERT INTO datasets (id, user_id, name, storage_path, training_ready, total_pairs,"
                " created_at) VALUES (%s, current_user, 'x', %s, true, 1, now())",
                ["a/../..", f"{prefix(alice)}/a/../../{bobs['path']}"],  # an id that climbs out
            )
        # Her own dataset's folder, another file name: fine.
        conn.execute("UPDATE datasets SET storage_path = %s WHERE id = %s", [f"{own}/renamed.jsonl", mine])


# --- 4. point ids ---------------------------------------------------------------------------------------


def test_point_ids_are_64_bit_and_nobody_burns_or_takes_them(team, bobs):
    with team.connect("alice") as conn:
        dataset_id = add_dataset(conn, team.role("alice"))
        job = add_job(conn, dataset_id)
        for table in ("metrics_points", "samples"):
            for attack in (
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id'))",
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 2147483647)",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(attack)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO metrics_points (id, job_id, step, recorded_at)"
                " VALUES (2147483647, %s, 1, now())",
                [job],
            )
        conn.execute("INSERT INTO metrics_points (job_id, step, recorded_at) VALUES (%s, 1, now())", [job])
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE metrics_points SET id = id + 1000 WHERE job_id = %s", [job])
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO samples (id, job_id, step, prompt_index, prompt, output, recorded_at)"
                " VALUES (1, %s, 1, 0, 'p', 'o', now())",
                [job],
            )
        conn.execute(
            "INSERT INTO samples (job_id, step, prompt_index, prompt, output, recorded_at)"
            " VALUES (%s, 1, 0, 'p', 'o', now())",
            [job],
        )
    with team.connect(team.db.owner) as conn:
        types = dict(
            conn.execute(
                "SELECT table_name, data_type FROM information_schema.columns WHERE column_name = 'id'"
                " AND table_name IN ('metrics_points', 'samples')"
            ).fetchall()
        )
        assert types == {"metrics_points": "bigint", "samples": "bigint"}
        conn.execute(  # past 2**31: the numbers a team of long runs reaches
            "SELECT setval(pg_get_serial_sequence('metrics_points', 'id'), 3000000000)"
        )
    with team.connect("alice") as conn:
        (point_id,) = conn.execute(
            "INSERT INTO metrics_points (job_id, step, recorded_at) VALUES (%s, 2, now()) RETURNING id", [job]
        ).fetchone()
    assert point_id == 3000000001


# --- 5. tombstones and the change channel ---------------------------------------------------------------


def test_a_person_cannot_tombstone_a_colleagues_job_and_the_change_channel_says_nothing(team, bobs):
    with team.connect("alice") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "INSERT INTO deleted_jobs (job_id, user_id, change_seq, deleted_at) VALUES (%s, current_user,"
                " 1, now())",
                [bobs["finished"]],
            )
        conn.execute('LISTEN "' + CHANNEL + 'public"')
        bob = team.database("bob")
        try:
            with Session(bob.engine) as session, session.begin():
                session.execute(text("DELETE FROM training_jobs WHERE id = :id"), {"id": bobs["finished"]})
                record_deletion(session, bobs["finished"], user_id=team.role("bob"), now=utcnow())
        finally:
            bob.dispose()
        heard = list(conn.notifies(timeout=10, stop_after=1))
    assert [n.payload for n in heard] == [""]  # when someone wrote, not who or what
    with team.connect("bob") as conn:
        assert conn.execute(
            "SELECT user_id FROM deleted_jobs WHERE job_id = %s", [bobs["finished"]]
        ).fetchone() == (team.role("bob"),)


def test_a_parent_job_is_ones_own_or_gone(team, bobs):
    with team.connect("alice") as conn:
        dataset_id = add_dataset(conn, team.role("alice"))
        mine = add_job(conn, dataset_id)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            add_job(conn, dataset_id, parent=bobs["running"])
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("UPDATE training_jobs SET parent_job_id = %s WHERE id = %s", [bobs["running"], mine])
        add_job(conn, dataset_id, parent=mine)
        add_job(conn, dataset_id, parent=str(uuid.uuid4()))  # a deleted parent: the child stays


# --- upgrading a team database ----------------------------------------------------------------------


def test_people_added_before_0009_are_hardened_by_the_upgrade(server):
    """Roles `add-user` made on an older schema lose their sequence privileges and the counter,
    and get the functions, with the upgrade; their points keep their ids and number on."""
    from alembic import command

    from core.db.migrate import _config

    with team_database(server.url, owner_password=OWNER_PASSWORD) as db:
        owner = Database(db.url(db.owner), password=OWNER_PASSWORD)
        alice, sched = db.role("alice"), db.role("sched")
        try:
            with owner.engine.begin() as conn:
                command.upgrade(_config(conn), "0008_resume_and_samples")
            add_user(owner, alice, scheduler=False, password=lambda: PASSWORDS["alice"])
            add_user(owner, sched, scheduler=True, password=lambda: PASSWORDS["sched"])
            url = db.url(alice).replace("postgresql+psycopg", "postgresql")
            with psycopg.connect(url, password=PASSWORDS["alice"], autocommit=True) as conn:
                conn.execute("UPDATE change_counter SET value = value + 1")  # what 0008 allowed
                dataset_id = add_dataset(conn, alice)
                job = add_job(conn, dataset_id)
                (old_point,) = conn.execute(POINT_INSERT, [job, 1]).fetchone()
            upgrade(owner)
            with owner.engine.connect() as conn:
                checks = {
                    (role, check): conn.execute(text(f"SELECT {check}"), {"role": role}).scalar()
                    for role in (alice, sched)
                    for check in (
                        "has_function_privilege(:role, 'loradesk_next_change()', 'EXECUTE')",
                        "has_table_privilege(:role, 'change_counter', 'UPDATE')",
                        "has_sequence_privilege(:role, pg_get_serial_sequence('metrics_points', 'id'),"
                        " 'USAGE')",
                        "has_column_privilege(:role, 'metrics_points', 'id', 'INSERT')",
                        "has_column_privilege(:role, 'metrics_points', 'step', 'INSERT')",
                        "pg_has_role(current_user, :role, 'USAGE')",  # so the owner may end its idle sessions
                    )
                }
            for role in (alice, sched):
                assert [v for (r, _), v in checks.items() if r == role] == [
                    True,
                    False,
                    False,
                    False,
                    True,
                    True,
                ]
            with psycopg.connect(url, password=PASSWORDS["alice"], autocommit=True) as conn:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute("UPDATE change_counter SET value = value + 1")
                (new_point,) = conn.execute(POINT_INSERT, [job, 2]).fetchone()
                assert conn.execute("SELECT id FROM metrics_points WHERE step = 1").fetchone() == (old_point,)
            assert new_point == old_point + 1
        finally:
            owner.dispose()


# --- the team scheduler trusts nothing a person wrote ------------------------------------------------


def open_as(team: Team, who: str, home, cluster, monkeypatch) -> Workspace:
    """A workspace as `who` would open it: its URL without password, the password in the variable."""
    monkeypatch.setenv("LORADESK_DATABASE_PASSWORD", PASSWORDS[who])
    monkeypatch.setenv("LORADESK_CLUSTER_TOKEN", TOKEN)
    settings = load_settings(
        {
            "home": str(home),
            "database_url": team.db.url(team.role(who)),
            "cluster": "http",
            "cluster_url": cluster.url,
        }
    )
    return Workspace.open(settings, migrate=False)


def submit_directly(cluster: FakeCluster, job_id: str) -> str:
    """A cluster job no Loradesk row holds, as one of a job since deleted."""
    request = urllib.request.Request(
        f"{cluster.url}/training/submit",
        data=json.dumps(
            {
                "job_id": job_id,
                "dataset_url": "file:///x",
                "hyperparameters": {},
                "gpu_config": {"gpu_type": "cpu", "gpu_count": 1},
            }
        ).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as answer:
        return str(json.loads(answer.read())["external_job_id"])


async def test_the_team_scheduler_acts_only_on_a_jobs_own_cluster_job_and_dataset(
    team, tmp_path, monkeypatch
):
    home = tmp_path / "home"
    sample = tmp_path / "pairs.jsonl"
    sample.write_text('{"prompt": "1 + 1?", "completion": "2"}\n', encoding="utf-8")
    with FakeCluster(TOKEN) as cluster:
        alice, bob = (
            open_as(team, "alice", home, cluster, monkeypatch),
            open_as(team, "bob", home, cluster, monkeypatch),
        )
        sched = open_as(team, "sched", home, cluster, monkeypatch)
        try:
            bobs_dataset = store_dataset(bob, file=sample, name=f"b {uuid.uuid4()}")
            alices_dataset = store_dataset(alice, file=sample, name=f"a {uuid.uuid4()}")
            # Alice's honest job, submitted by her own app: the team scheduler checks its id once.
            honest = create_job(alice, dataset_id=alices_dataset.id, hyperparameters={"epochs": 1})
            await Scheduler(alice).run_once()
            # Cluster jobs of Bob's that no row holds any more (his jobs were deleted meanwhile).
            orphan, finished = (
                submit_directly(cluster, str(uuid.uuid4())),
                submit_directly(cluster, str(uuid.uuid4())),
            )
            cluster.advance(finished, 1000)
            with team.connect("alice") as conn:
                cancels = add_job(conn, alices_dataset.id, status="running", external_job_id=orphan)
                conn.execute("UPDATE training_jobs SET cancel_requested_at = now() WHERE id = %s", [cancels])
                takes = add_job(conn, alices_dataset.id, status="running", external_job_id=finished)
            # A job of Alice's whose dataset row (written before 0009, or by the owner) names Bob's file.
            elsewhere = create_job(alice, dataset_id=alices_dataset.id, hyperparameters={"epochs": 1})
            copy = str(uuid.uuid4())
            with team.connect(team.db.owner) as conn:
                conn.execute(
                    "INSERT INTO datasets (id, user_id, name, storage_bucket, storage_path, training_ready,"
                    " total_pairs, created_at) SELECT %s, user_id, 'copy', storage_bucket, %s, true, 1, now()"
                    " FROM datasets WHERE id = %s",
                    [copy, bobs_dataset.storage_path, alices_dataset.id],
                )
                conn.execute("UPDATE training_jobs SET dataset_id = %s WHERE id = %s", [copy, elsewhere.id])
            scheduler = Scheduler(sched, all_users=True)
            await scheduler.run_once()

            assert cluster.jobs[orphan].status != "cancelled"  # Bob's run goes on
            for job_id in (cancels, takes):
                shown = get_job(alice, job_id=job_id)
                assert shown.job.status.value == "failed" and "is not this job's" in shown.job.error_message
                assert shown.job.external_job_id is None and shown.job.artifact_url is None
                assert not shown.metrics
            refused = get_job(alice, job_id=elsewhere.id).job
            assert (
                refused.status.value == "failed" and "is not in its owner's folder" in refused.error_message
            )
            assert elsewhere.id not in {j.job_id for j in cluster.jobs.values()}  # nothing signed or sent
            ok = get_job(alice, job_id=honest.id).job
            assert ok.status.value in ("initializing", "running") and ok.external_job_id is not None
            assert [j.job_id for j in cluster.jobs.values()].count(honest.id) == 1

            # A cluster id no job holds yet, taken in advance on a row that is over: Bob's next
            # job gets it from the cluster, and is neither failed nor cancelled for it.
            predicted = f"fake-{len(cluster.jobs) + 1:06d}"
            with team.connect("alice") as conn:
                squatter = add_job(conn, alices_dataset.id, status="completed", external_job_id=predicted)
            bobs_job = create_job(bob, dataset_id=bobs_dataset.id, hyperparameters={"epochs": 1})
            await scheduler.run_once()
            await scheduler.run_once()
            mine = get_job(bob, job_id=bobs_job.id).job
            assert mine.external_job_id == predicted and mine.status.value in ("initializing", "running")
            assert (
                cluster.jobs[predicted].job_id == bobs_job.id
                and cluster.jobs[predicted].status != "cancelled"
            )
            assert [j.job_id for j in cluster.jobs.values()].count(bobs_job.id) == 1
            assert get_job(alice, job_id=squatter).job.external_job_id is None
        finally:
            for ws in (alice, bob, sched):
                await ws.aclose()
                ws.close()
