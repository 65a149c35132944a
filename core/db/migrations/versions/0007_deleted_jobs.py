"""deleted jobs leave a tombstone the change query reports

Revision ID: 0007_deleted_jobs
Revises: 0006_guardrails

A deleted job's row is gone, so the change query (`changed_since`) had nothing to find and other
app instances kept the row until a Refresh. `deleted_jobs` keeps one row per deleted job, stamped
with the delete's change number like every other change (core.db.changes, core.jobs.tombstones);
`change_counter.tombstones_pruned_through` says up to which change number old tombstones were
pruned, so a reader further behind is given the full list instead of missing a deletion.
Team mode: row security like the other tables, and the roles already added get on the new table
what they hold on `training_jobs` (`loradesk db add-user` grants it to roles added later).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db.row_security import DELETED_JOBS_RULE, protect, quote, unprotect

revision: str = "0007_deleted_jobs"
down_revision: str | Sequence[str] | None = "0006_guardrails"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deleted_jobs",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job_id"),
    )
    op.create_index("ix_deleted_jobs_user_change", "deleted_jobs", ["user_id", "change_seq"], unique=False)
    with op.batch_alter_table("change_counter", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tombstones_pruned_through", sa.BigInteger(), server_default="0", nullable=False)
        )
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        protect(conn, "deleted_jobs", *DELETED_JOBS_RULE)
        grants = conn.execute(
            sa.text(
                "SELECT pg_get_userbyid(a.grantee) AS role, string_agg(a.privilege_type, ', ') AS privileges "
                "FROM pg_class c, aclexplode(c.relacl) a "
                "WHERE c.oid = to_regclass('training_jobs') AND a.grantee NOT IN (0, c.relowner) "
                "AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE') GROUP BY a.grantee"
            )
        )
        for role, privileges in list(grants):
            conn.exec_driver_sql(f"GRANT {privileges} ON deleted_jobs TO {quote(conn, role)}")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        unprotect(conn, "deleted_jobs")
    with op.batch_alter_table("change_counter", schema=None) as batch_op:
        batch_op.drop_column("tombstones_pruned_through")
    op.drop_index("ix_deleted_jobs_user_change", table_name="deleted_jobs")
    op.drop_table("deleted_jobs")
