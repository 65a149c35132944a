"""the gradient norm of each metric point

Revision ID: 0011_grad_norm
Revises: 0010_malformed_answers

`metrics_points.grad_norm`: the norm of the gradients at each optimizer step, before clipping, as
transformers' Trainer reports it. NULL where a trainer or cluster does not report it (every point
recorded before this revision). Row security and the roles' grants are the table's, so they cover
the new column as they are.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_grad_norm"
down_revision: str | Sequence[str] | None = "0010_malformed_answers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("metrics_points", sa.Column("grad_norm", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("metrics_points") as batch:
        batch.drop_column("grad_norm")
