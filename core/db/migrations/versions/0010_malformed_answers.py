"""malformed answers: how many status answers in a row broke the contract

Revision ID: 0010_malformed_answers
Revises: 0009_team_guards

A status answer that breaks SPEC §4 (too large, too deep, an unknown status, a negative step) is
recorded on the job and retried with back-off (`next_attempt_at`); after the submit-attempt limit
of them in a row the job fails, as a job whose submits keep failing does.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_malformed_answers"
down_revision: str | Sequence[str] | None = "0009_team_guards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("malformed_answers", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.drop_column("malformed_answers")
