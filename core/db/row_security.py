"""Row-level security for team mode on PostgreSQL (SPEC §3): each table's two policies.

Every Loradesk table has row-level security enabled *and forced* (so it binds the table owner too)
and two permissive policies, which PostgreSQL ORs together:

- `loradesk_own_rows`, for every role: a row is yours when its `user_id` is your role name (rows
  without a `user_id`, metric points, are yours when their job is). The same rule checks what you
  insert or update, and a row you write may point only at a dataset or job you can see yourself:
  foreign-key checks ignore row security, so without that a person could hang a job on a
  colleague's dataset or a notification on a colleague's job.
- `loradesk_all_rows`, for the table owner (who keeps working as before team mode: it sees every
  row and the app filters on its `LORADESK_USER`) and, once `loradesk db add-user --scheduler` has
  run, for the database's scheduler group role: every row.

Policies rather than `BYPASSRLS` for schedulers: BYPASSRLS is a role attribute only a superuser may
give, it covers every table of every database on the server, and it is not inherited through a
group; a policy is the owner's to write, names exactly these tables, and follows group membership.

A migration that adds a table calls `protect()` for it, with its own-rows rule (`deleted_jobs`:
migration 0007; `samples`: 0008; `metric_chunks`: 0012).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

OWN_ROWS = "loradesk_own_rows"
ALL_ROWS = "loradesk_all_rows"

_MINE = "user_id = current_user::text"
_MY_JOB = "job_id IN (SELECT id FROM training_jobs)"  # that subquery sees only the caller's jobs

# table → (USING: which rows a role sees, WITH CHECK: which rows it may write)
OWN_ROW_RULES: dict[str, tuple[str, str]] = {
    "datasets": (_MINE, _MINE),
    "training_jobs": (_MINE, f"{_MINE} AND dataset_id IN (SELECT id FROM datasets)"),
    "metrics_points": (_MY_JOB, _MY_JOB),
    "cost_records": (_MINE, f"{_MINE} AND {_MY_JOB}"),
    "notifications": (_MINE, f"{_MINE} AND (job_id IS NULL OR {_MY_JOB})"),
}
# Tables added after migration 0003, each protected by the migration that makes it.
DELETED_JOBS_RULE = (_MINE, _MINE)  # a tombstone's job is gone: nothing else to point at
SAMPLES_RULE = (_MY_JOB, _MY_JOB)  # migration 0008: a sample is yours when its job is
METRIC_CHUNKS_RULE = (_MY_JOB, _MY_JOB)  # migration 0012: a chunk of points is yours when its job is


def protect(conn: Connection, table: str, using: str, check: str) -> None:
    """Enable and force row security on `table` with the own-rows and all-rows policies."""
    everyone = ", ".join(quote(conn, role) for role in all_rows_roles(conn))
    conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    conn.exec_driver_sql(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    conn.exec_driver_sql(f"CREATE POLICY {OWN_ROWS} ON {table} USING ({using}) WITH CHECK ({check})")
    conn.exec_driver_sql(f"CREATE POLICY {ALL_ROWS} ON {table} TO {everyone} USING (true) WITH CHECK (true)")


def unprotect(conn: Connection, table: str) -> None:
    conn.exec_driver_sql(f"DROP POLICY IF EXISTS {OWN_ROWS} ON {table}")
    conn.exec_driver_sql(f"DROP POLICY IF EXISTS {ALL_ROWS} ON {table}")
    conn.exec_driver_sql(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


def protected_tables(conn: Connection) -> list[str]:
    """The tables of the current schema that carry the all-rows policy."""
    return list(
        conn.execute(
            text(
                "SELECT tablename FROM pg_policies WHERE schemaname = current_schema() "
                "AND policyname = :name ORDER BY tablename"
            ),
            {"name": ALL_ROWS},
        ).scalars()
    )


def all_rows_roles(conn: Connection) -> list[str]:
    """Who works on every row: what the existing all-rows policy names (a table added later gets
    the same), or else the owner of `training_jobs`."""
    roles = conn.execute(
        text(
            "SELECT roles::text[] FROM pg_policies WHERE schemaname = current_schema() "
            "AND tablename = 'training_jobs' AND policyname = :name"
        ),
        {"name": ALL_ROWS},
    ).scalar()
    if roles:
        return list(roles)
    owner = conn.execute(
        text("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass('training_jobs')")
    ).scalar_one()
    return [owner]


def allow_all_rows(conn: Connection, role: str) -> None:
    """Add `role` (the scheduler group) to the all-rows policy of every protected table."""
    roles = all_rows_roles(conn)
    if role in roles:
        return
    names = ", ".join(quote(conn, r) for r in [*roles, role])
    for table in protected_tables(conn):
        conn.exec_driver_sql(f"ALTER POLICY {ALL_ROWS} ON {table} TO {names}")


def quote(conn: Connection, identifier: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(identifier)
