"""guardrails: per-job stop rules and why a rule stopped the job

Revision ID: 0006_guardrails
Revises: 0005_notes_tags_partial_adapter

The person's rules (`max_cost`, `max_hours`, `stop_on_nan`, `stop_on_plateau`), the rule that
stopped the job (`stop_reason`), and what the scheduler tracks to judge them between polls: the
best validation loss and the evaluations since it, the first step whose loss was NaN, and the
80 % warnings already given (so a cycle does not try to give them again).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_guardrails"
down_revision: str | Sequence[str] | None = "0005_notes_tags_partial_adapter"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_cost", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("max_hours", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("stop_on_nan", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("stop_on_plateau", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("stop_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("best_validation_loss", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("evaluations_since_best", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("nan_loss_step", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("guardrail_warnings", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        for name in (
            "guardrail_warnings",
            "nan_loss_step",
            "evaluations_since_best",
            "best_validation_loss",
            "stop_reason",
            "stop_on_plateau",
            "stop_on_nan",
            "max_hours",
            "max_cost",
        ):
            batch_op.drop_column(name)
