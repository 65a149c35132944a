"""metric points kept as compressed column chunks: metric_chunks

Revision ID: 0012_metric_chunks
Revises: 0011_grad_norm

`metric_chunks` holds a job's points by windows of steps, each window's columns in one compressed
blob (core.db.metric_chunks): the points of a finished run, and the finished windows of a running
one, move there from `metrics_points`, which keeps the live tail. Keyed by (job_id, first_step):
no sequence, so team mode has no id to guard. Points recorded before this revision stay in
`metrics_points`, where every reader still finds them.
Team mode: row security like metric points (a chunk is yours when its job is), and the roles
already added get on the new table what they hold on `metrics_points`. A scheduler role, which
deletes nothing, cannot move points and leaves them where they are.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db.row_security import METRIC_CHUNKS_RULE, protect, quote, unprotect
from core.db.team_guards import existing_roles

revision: str = "0012_metric_chunks"
down_revision: str | Sequence[str] | None = "0011_grad_norm"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "metric_chunks",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("first_step", sa.Integer(), nullable=False),
        sa.Column("last_step", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["training_jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "first_step"),
    )
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        protect(conn, "metric_chunks", *METRIC_CHUNKS_RULE)
        for role in existing_roles(conn):
            # What the role may do with metric points (insert and update are column grants
            # there since 0009), it may do with their chunks.
            held = [
                what
                for what in ("SELECT", "INSERT", "UPDATE", "DELETE")
                if conn.execute(
                    sa.text("SELECT has_any_column_privilege(:role, 'metrics_points', :what)")
                    if what != "DELETE"
                    else sa.text("SELECT has_table_privilege(:role, 'metrics_points', :what)"),
                    {"role": role, "what": what},
                ).scalar()
            ]
            if held:
                conn.exec_driver_sql(f"GRANT {', '.join(held)} ON metric_chunks TO {quote(conn, role)}")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        unprotect(conn, "metric_chunks")
    op.drop_table("metric_chunks")
