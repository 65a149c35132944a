"""notes, tags and the partial-adapter mark on training_jobs

`notes` (free text) and `tags` (a JSON list of strings) are the names of SPEC §3; people write
them from the monitor and `loradesk jobs tag`. `artifact_partial` marks an `artifact_url` that
holds what a cancelled run had learned when it stopped, rather than a finished adapter.

Revision ID: 0005_notes_tags_partial_adapter
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_notes_tags_partial_adapter"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notes", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("tags", sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
        batch_op.add_column(
            sa.Column("artifact_partial", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.drop_column("artifact_partial")
        batch_op.drop_column("tags")
        batch_op.drop_column("notes")
