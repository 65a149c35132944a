"""team mode: row-level security on PostgreSQL; once-only notification keys per user

Revision ID: 0003
Revises: 0002

On PostgreSQL every table gets row-level security, enabled and forced, with the two policies of
`core.db.row_security`: a role sees and writes its own rows, and the owner (plus, later, the
scheduler group that `loradesk db add-user --scheduler` makes) every row. Schedulers get a policy
rather than BYPASSRLS: see that module.

On every database, a notification's once-only key becomes unique per user instead of across all
users, so that no one can take a colleague's key (say `auth:bob`) and silence their warning.
"""

from collections.abc import Sequence

from alembic import op

from core.db.row_security import OWN_ROW_RULES, protect, unprotect

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.drop_index("uq_notifications_dedupe")
        batch_op.create_index("uq_notifications_user_dedupe", ["user_id", "dedupe_key"], unique=True)
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        for table, (using, check) in OWN_ROW_RULES.items():
            protect(conn, table, using, check)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        for table in OWN_ROW_RULES:
            unprotect(conn, table)
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.drop_index("uq_notifications_user_dedupe")
        batch_op.create_index("uq_notifications_dedupe", ["dedupe_key"], unique=True)
