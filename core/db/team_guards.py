"""Team mode's shared parts (SPEC §3): what no person may set, hold or point at (migration 0009).

Row security keeps each person to their own rows. What it cannot see is where one person's write
reaches everyone's work; these close it, on PostgreSQL:

- **The change counter.** People have no UPDATE on `change_counter`; they take a number through
  `loradesk_next_change()`, a SECURITY DEFINER function of the owner that only adds one, so
  numbers only move forward and nobody sets them. Taking a number holds the counter's row until
  the transaction ends (that is what orders the changes, `core.db.changes`), so the function waits
  for it without queueing (a short sleep between tries), and ends the session of a holder that has
  sat idle in its transaction for more than IDLE_HOLD seconds. For that the owner is made a
  member of every role added (a role may end the sessions of roles it is a member of); each role
  also gets an `idle_in_transaction_session_timeout` default, for the psql session forgotten open.
- **Whose a row points at.** `loradesk_job_user(id)` says whose a job is, for the checks a
  person's own row view cannot make: a job's `parent_job_id` and a tombstone's `job_id` may name
  one's own job or none that exists, never a colleague's.
- **Where a dataset's file lies.** `loradesk_dataset_path_ok(user_id, id, path)`: under the
  owner's prefix and the dataset's own id, `<user>/<dataset id>/<file>` as `core.datasets.catalog` writes
  it. The dataset id makes the place one dataset's alone (ids are unique across all users), even
  where two names share a prefix. The scheduler checks the same before it signs a URL.
- **Ids.** Metric points and samples take identity ids: an insert needs no USAGE on a sequence,
  so people get none, and may neither insert nor update an `id` (column privileges), so nobody
  burns or takes the numbers others' points need.
- **Cluster ids.** `external_job_id` is unique across all users. `checked_external_job_id`, the
  cluster id a scheduler of the team has verified is the job's own, may be written only by the
  roles that work on every row (a trigger), so a team scheduler trusts nothing a person wrote.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from core.db.row_security import ALL_ROWS, OWN_ROWS, quote

IDLE_HOLD = 5  # seconds a session may sit idle in a transaction holding the change counter
IDLE_SESSION_LIMIT = "60s"  # every added role's default idle_in_transaction_session_timeout
COUNTER_FUNCTIONS = ("loradesk_next_change()", "loradesk_note_pruned(bigint)")
CHECK_FUNCTIONS = ("loradesk_job_user(text)", "loradesk_dataset_path_ok(text, text, text)")
# Tables whose id comes from an identity: people write every column but that one.
IDENTITY_TABLES = ("metrics_points", "samples")

_MINE = "user_id = current_user::text"
# table → the own-rows policy's WITH CHECK from migration 0009 on
OWN_ROW_CHECKS = {
    "datasets": f"{_MINE} AND loradesk_dataset_path_ok(user_id, id, storage_path)",
    "training_jobs": f"{_MINE} AND dataset_id IN (SELECT id FROM datasets)"
    " AND coalesce(loradesk_job_user(parent_job_id), current_user::text) = current_user::text",
    "deleted_jobs": f"{_MINE}"
    " AND coalesce(loradesk_job_user(job_id), current_user::text) = current_user::text",
}


def install(conn: Connection) -> None:
    """Create the functions and trigger of this module in the current schema and take UPDATE on
    the counter from PUBLIC; run by the owner (migration 0009)."""
    schema = quote(conn, str(conn.execute(text("SELECT current_schema()")).scalar_one()))
    for statement in _definitions(schema):
        conn.exec_driver_sql(statement)
    for function in (*COUNTER_FUNCTIONS, *CHECK_FUNCTIONS):
        conn.exec_driver_sql(f"REVOKE ALL ON FUNCTION {schema}.{function} FROM PUBLIC")
    conn.exec_driver_sql("REVOKE UPDATE ON change_counter FROM PUBLIC")
    for table, check in OWN_ROW_CHECKS.items():
        conn.exec_driver_sql(f"ALTER POLICY {OWN_ROWS} ON {table} WITH CHECK ({check})")


def installed(conn: Connection) -> bool:
    return conn.execute(text("SELECT to_regprocedure('loradesk_next_change()') IS NOT NULL")).scalar() is True


def harden_role(conn: Connection, role: str) -> None:
    """What a person or scheduler role gets beside its table privileges, and loses: the counter
    and check functions; column privileges without `id` on identity tables; no sequence at all;
    its idle sessions ended (the owner becomes a member) and a default idle timeout."""
    name = quote(conn, role)
    for function in (*COUNTER_FUNCTIONS, *CHECK_FUNCTIONS):
        conn.exec_driver_sql(f"GRANT EXECUTE ON FUNCTION {function} TO {name}")
    for table in IDENTITY_TABLES:
        held = conn.execute(
            text("SELECT has_table_privilege(:role, :table, 'INSERT')"), {"role": role, "table": table}
        ).scalar()
        if not held:
            continue
        columns = ", ".join(
            quote(conn, column)
            for column in conn.execute(
                text(
                    "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:table) AND attnum > 0 "
                    "AND NOT attisdropped AND attname <> 'id' ORDER BY attnum"
                ),
                {"table": table},
            ).scalars()
        )
        conn.exec_driver_sql(f"REVOKE INSERT, UPDATE ON {table} FROM {name}")
        conn.exec_driver_sql(f"GRANT INSERT ({columns}), UPDATE ({columns}) ON {table} TO {name}")
    for sequence in conn.execute(
        text(
            "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relkind = 'S' "
            "AND c.relnamespace = to_regnamespace(current_schema())"
        )
    ).scalars():
        conn.exec_driver_sql(f"REVOKE ALL ON SEQUENCE {sequence} FROM {name}")
    database = quote(conn, str(conn.execute(text("SELECT current_database()")).scalar_one()))
    _as_far_as_allowed(
        conn,
        f"ALTER ROLE {name} IN DATABASE {database} SET idle_in_transaction_session_timeout = "
        f"'{IDLE_SESSION_LIMIT}'",
        f"GRANT {name} TO current_user",
    )


def existing_roles(conn: Connection) -> list[str]:
    """The roles `loradesk db add-user` has given table privileges (people and schedulers)."""
    return list(
        conn.execute(
            text(
                "SELECT DISTINCT pg_get_userbyid(a.grantee) FROM pg_class c, aclexplode(c.relacl) a "
                "WHERE c.oid = to_regclass('training_jobs') AND a.grantee NOT IN (0, c.relowner) "
                "ORDER BY 1"
            )
        ).scalars()
    )


def _as_far_as_allowed(conn: Connection, *statements: str) -> None:
    """Statements the owner may lack the right to run on a role an administrator made (CREATEROLE
    or ADMIN on it): each in a savepoint, skipped when refused."""
    for statement in statements:
        savepoint = conn.begin_nested()
        try:
            conn.exec_driver_sql(statement)
        except Exception:
            savepoint.rollback()
        else:
            savepoint.commit()


def _definitions(schema: str) -> list[str]:
    secure = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
    return [
        f"""
        CREATE FUNCTION {schema}.loradesk_next_change() RETURNS bigint
        LANGUAGE plpgsql {secure} AS $$
        DECLARE
          taken bigint;
          holder xid;
        BEGIN
          -- The counter is locked here, never waited for in a subtransaction: the row's xmax then
          -- names the holder's own transaction, which is how a waiter finds it.
          FOR attempt IN 1..600 LOOP
            PERFORM 1 FROM {schema}.change_counter WHERE id = 1 FOR UPDATE SKIP LOCKED;
            IF FOUND THEN
              UPDATE {schema}.change_counter SET value = value + 1 WHERE id = 1 RETURNING value INTO taken;
              RETURN taken;
            END IF;
            -- Whoever holds it and sits idle in its transaction is ended.
            SELECT xmax INTO holder FROM {schema}.change_counter WHERE id = 1;
            PERFORM pg_terminate_backend(a.pid) FROM pg_stat_activity a
             WHERE a.backend_xid = holder AND a.pid <> pg_backend_pid()
               AND a.state IN ('idle in transaction', 'idle in transaction (aborted)')
               AND a.state_change < clock_timestamp() - interval '{IDLE_HOLD} seconds';
            PERFORM pg_sleep(least(0.1, 0.002 * attempt));
          END LOOP;
          RAISE EXCEPTION 'the change counter has been held by another session for a minute'
            USING ERRCODE = 'lock_not_available';
        END $$""",
        f"""
        CREATE FUNCTION {schema}.loradesk_note_pruned(through bigint) RETURNS void
        LANGUAGE sql {secure} AS $$
          UPDATE {schema}.change_counter SET tombstones_pruned_through = through
           WHERE id = 1 AND tombstones_pruned_through < through AND through <= value
        $$""",
        f"""
        CREATE FUNCTION {schema}.loradesk_job_user(job text) RETURNS text
        LANGUAGE sql STABLE {secure} AS $$
          SELECT user_id FROM {schema}.training_jobs WHERE id = job
        $$""",
        f"""
        CREATE FUNCTION {schema}.loradesk_dataset_path_ok(owner text, dataset text, path text)
        RETURNS boolean LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
          SELECT starts_with(path, prefix)
             AND substr(path, length(prefix) + 1) ~ '^[^/\\\\]+$'
             AND substr(path, length(prefix) + 1) NOT IN ('.', '..')
             AND strpos(dataset, '/') = 0 AND dataset NOT IN ('', '.', '..')
            FROM (SELECT coalesce(nullif(btrim(regexp_replace(owner, '[^A-Za-z0-9._-]+', '_', 'g'), '._'),
                                         ''), 'file') || '/' || dataset || '/' AS prefix) AS p
        $$""",
        f"""
        CREATE FUNCTION {schema}.loradesk_guard_checked_id() RETURNS trigger
        LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
          IF NOT EXISTS (
            SELECT 1 FROM pg_policies p, unnest(p.roles) AS r
             WHERE p.schemaname = TG_TABLE_SCHEMA AND p.tablename = TG_TABLE_NAME
               AND p.policyname = '{ALL_ROWS}' AND r <> 'public' AND pg_has_role(current_user, r, 'USAGE')
          ) THEN
            RAISE EXCEPTION 'only a scheduler of the team may vouch for a cluster id'
              USING ERRCODE = 'insufficient_privilege';
          END IF;
          RETURN NEW;
        END $$""",
        f"""
        CREATE TRIGGER loradesk_checked_id_insert BEFORE INSERT ON {schema}.training_jobs
        FOR EACH ROW WHEN (NEW.checked_external_job_id IS NOT NULL)
        EXECUTE FUNCTION {schema}.loradesk_guard_checked_id()""",
        f"""
        CREATE TRIGGER loradesk_checked_id_update BEFORE UPDATE OF checked_external_job_id
        ON {schema}.training_jobs FOR EACH ROW
        WHEN (NEW.checked_external_job_id IS NOT NULL
              AND NEW.checked_external_job_id IS DISTINCT FROM OLD.checked_external_job_id)
        EXECUTE FUNCTION {schema}.loradesk_guard_checked_id()""",
    ]


def uninstall(conn: Connection, own_row_rules: dict[str, tuple[str, str]]) -> None:
    """Undo `install` (migration 0009's downgrade); `own_row_rules`: the policies to go back to."""
    for table, (_, check) in own_row_rules.items():
        conn.exec_driver_sql(f"ALTER POLICY {OWN_ROWS} ON {table} WITH CHECK ({check})")
    conn.exec_driver_sql("DROP TRIGGER IF EXISTS loradesk_checked_id_insert ON training_jobs")
    conn.exec_driver_sql("DROP TRIGGER IF EXISTS loradesk_checked_id_update ON training_jobs")
    conn.exec_driver_sql("DROP FUNCTION IF EXISTS loradesk_guard_checked_id()")
    for function in (*COUNTER_FUNCTIONS, *CHECK_FUNCTIONS):
        conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {function}")
    conn.exec_driver_sql("GRANT SELECT, UPDATE ON change_counter TO PUBLIC")
