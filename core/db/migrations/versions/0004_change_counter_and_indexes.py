"""change counter and the indexes of the hot queries

Revision ID: 0004
Revises: 0003

Changes are ordered by a counter the database assigns (core.db.changes), not by the writers'
clocks: a one-row `change_counter` and a `change_seq` stamp on jobs and notifications. The indexes
serve the queries that run every cycle or every second: changes of a user's jobs and
notifications, pending cancels, a job's notifications.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    counter = op.create_table(
        "change_counter",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(counter, [{"id": 1, "value": 0}])
    if op.get_bind().dialect.name == "postgresql":
        # Every writer takes its change number from this row (team mode: every person's role); it
        # holds no one's data, so it needs no row security.
        op.execute("GRANT SELECT, UPDATE ON change_counter TO PUBLIC")
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.create_index("ix_training_jobs_user_change", ["user_id", "change_seq"], unique=False)
        batch_op.create_index("ix_training_jobs_cancel_requested", ["cancel_requested_at"], unique=False)
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.create_index("ix_notifications_user_change", ["user_id", "change_seq"], unique=False)
        batch_op.create_index("ix_notifications_job_id", ["job_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_job_id")
        batch_op.drop_index("ix_notifications_user_change")
        batch_op.drop_column("change_seq")
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_training_jobs_cancel_requested")
        batch_op.drop_index("ix_training_jobs_user_change")
        batch_op.drop_column("change_seq")
    op.drop_table("change_counter")
