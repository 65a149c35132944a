"""submit-in-flight mark and poll rounds on training_jobs

`submit_sent_at`: set with the claim that precedes a submit, so the database knows a job may
exist on the cluster before its external id is recorded (a cancel then learns the id by the
idempotent resubmit instead of cancelling locally and orphaning the cluster job).
`polled_at`: set with the claim that precedes a status poll, so one cycle can claim active jobs in
small batches, each job once, and live schedulers share the work.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submit_sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("polled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_training_jobs_status_polled", ["status", "polled_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_training_jobs_status_polled")
        batch_op.drop_column("polled_at")
        batch_op.drop_column("submit_sent_at")
